import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import type { Clock } from '../clock.ts';
import { devUsers } from './dev-idp.ts';
import { type DemoDataset, failingDoi, findDataset, flakyDoi, normalizeDoi } from './demo-datasets.ts';
import { bearerTokenCheck } from './demo-token-check.ts';

/** A project of the Renku-like demo, with the datasets imported into it. */
interface Project {
  id: string;
  owner: string;
  name: string;
  namespace: string;
  description: string;
  created_at: string;
  datasets: ImportedDataset[];
}

interface ImportedDataset {
  name: string;
  title: string;
  doi: string;
  creators: Array<{ name: string; affiliation: string }>;
  files: Array<{ name: string; size: number; content_type: string }>;
  imported_at: string;
}

interface Job {
  id: string;
  owner: string;
  projectId: string;
  datasetUri: string;
  createdAt: number;
  /** Set once a completed job's dataset was added to its project. */
  settled: boolean;
  /** The first import of {@link flakyDoi} into a project fails as if its download broke off. */
  interrupted: boolean;
}

// How long an import job stays in each state, measured on the injected clock.
const pendingMs = 400;
const runningMs = 1200;

/**
 * A Renku-like API for development and tests, answering like Renku's core service: results in
 * `{ "result": … }`, errors in `{ "error": { "code", "userMessage" } }`. Every call needs a JWT
 * access token with audience `renku`. Import jobs move pending → running → completed (or
 * failed, for {@link failingDoi}, unknown DOIs and the first import of {@link flakyDoi} into a
 * project) over about 1.6 s of the injected clock.
 */
export function renkuApi(options: { issuer: string; clock: Clock }): Express {
  const { clock } = options;
  const projects = seedProjects();
  const jobs = new Map<string, Job>();
  // `<project id> <DOI>` pairs whose import of flakyDoi was already interrupted once.
  const interruptedOnce = new Set<string>();
  const app = express();
  app.disable('x-powered-by');
  app.use(bearerTokenCheck(options.issuer, 'renku', (code, userMessage) => ({ error: { code, userMessage } })));
  app.use(express.json({ limit: '64kb' }));

  app.get('/user', (_req, res) => {
    const sub = subject(res);
    const user = devUsers.find((u) => u.username === sub);
    res.json({ result: { id: sub, username: user?.username ?? sub, name: user?.claims.name ?? null, email: user?.claims.email ?? null } });
  });

  app.get('/projects', (_req, res) => {
    const own = projects.filter((p) => p.owner === subject(res)).map(({ datasets, owner: _owner, ...project }) => ({ ...project, dataset_count: datasets.length }));
    res.json({ result: { projects: own } });
  });

  app.get('/projects/:id/datasets', (req, res) => {
    settleJobs();
    const project = ownProject(res, req.params.id);
    if (!project) return renkuError(res, 404, 'project_not_found', `There is no project ${req.params.id} of yours.`);
    res.json({ result: { project_id: project.id, datasets: project.datasets } });
  });

  app.post('/datasets.import', (req, res) => {
    const body = req.body as { project_id?: unknown; dataset_uri?: unknown } | undefined;
    if (typeof body !== 'object' || body === null) return renkuError(res, 400, 'invalid_request', 'Send a JSON object with project_id and dataset_uri.');
    const projectId = typeof body.project_id === 'number' || typeof body.project_id === 'string' ? String(body.project_id) : undefined;
    if (!projectId) return renkuError(res, 400, 'invalid_request', 'project_id is required.');
    if (!ownProject(res, projectId)) return renkuError(res, 404, 'project_not_found', `There is no project ${projectId} of yours.`);
    const doi = typeof body.dataset_uri === 'string' ? normalizeDoi(body.dataset_uri) : undefined;
    if (!doi) return renkuError(res, 400, 'invalid_dataset_uri', 'dataset_uri must be a DOI, e.g. doi:10.5072/FK2/J8SJZB or https://doi.org/10.5072/FK2/J8SJZB.');
    const flakyKey = `${projectId} ${doi.toLowerCase()}`;
    const interrupted = doi.toLowerCase() === flakyDoi.toLowerCase() && !interruptedOnce.has(flakyKey);
    if (interrupted) interruptedOnce.add(flakyKey);
    const job: Job = { id: randomUUID(), owner: subject(res), projectId, datasetUri: doi, createdAt: clock(), settled: false, interrupted };
    jobs.set(job.id, job);
    res.json({ result: { job_id: job.id, created_at: new Date(job.createdAt).toISOString() } });
  });

  app.get('/jobs/:id', (req, res) => {
    settleJobs();
    const job = jobs.get(req.params.id);
    if (!job || job.owner !== subject(res)) return renkuError(res, 404, 'job_not_found', `There is no job ${req.params.id} of yours.`);
    res.json({ result: describeJob(job) });
  });

  app.use((_req, res) => renkuError(res, 404, 'not_found', 'No such endpoint.'));
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 413 || status === 415) return renkuError(res, status, 'invalid_request', 'The request body must be JSON (at most 64 KB).');
    renkuError(res, 500, 'internal_error', 'Internal error.');
  };
  app.use(onError);
  return app;

  function ownProject(res: Response, id: string): Project | undefined {
    return projects.find((p) => p.id === id && p.owner === subject(res));
  }

  function state(job: Job): 'pending' | 'running' | 'completed' | 'failed' {
    const age = clock() - job.createdAt;
    if (age < pendingMs) return 'pending';
    if (age < pendingMs + runningMs) return 'running';
    return job.interrupted || job.datasetUri.toLowerCase() === failingDoi.toLowerCase() || !findDataset(job.datasetUri) ? 'failed' : 'completed';
  }

  function describeJob(job: Job): Record<string, unknown> {
    const current = state(job);
    const error = current !== 'failed' ? undefined : job.interrupted
      ? { code: 'download_interrupted', userMessage: 'The download from Dataverse was interrupted; trying again usually works (the demo interrupts the first import of this dataset into each project).' }
      : findDataset(job.datasetUri)
        ? { code: 'import_failed', userMessage: 'The dataset files could not be downloaded from Dataverse (the demo always fails this one).' }
        : { code: 'dataset_not_found', userMessage: `No dataset has the DOI ${job.datasetUri}.` };
    return {
      job_id: job.id,
      state: current,
      project_id: job.projectId,
      dataset_uri: job.datasetUri,
      created_at: new Date(job.createdAt).toISOString(),
      ...(current === 'completed' || current === 'failed' ? { finished_at: new Date(job.createdAt + pendingMs + runningMs).toISOString() } : {}),
      ...(error ? { error } : {}),
    };
  }

  /** Adds the datasets of newly completed jobs to their projects (state is derived from the clock, not timers). */
  function settleJobs(): void {
    for (const job of jobs.values()) {
      if (job.settled || state(job) !== 'completed') continue;
      job.settled = true;
      const project = projects.find((p) => p.id === job.projectId)!;
      const dataset = findDataset(job.datasetUri)!;
      if (!project.datasets.some((d) => d.doi === dataset.persistentId)) {
        project.datasets.push(importedDataset(dataset, job.createdAt + pendingMs + runningMs));
      }
    }
  }
}

function subject(res: Response): string {
  return String((res.locals.claims as { sub: string }).sub);
}

function renkuError(res: Response, status: number, code: string, userMessage: string): void {
  res.status(status).json({ error: { code, userMessage } });
}

function importedDataset(dataset: DemoDataset, at: number): ImportedDataset {
  return {
    name: dataset.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60),
    title: dataset.title,
    doi: dataset.persistentId,
    creators: dataset.authors,
    files: dataset.files.map((f) => ({ name: f.name, size: f.size, content_type: f.contentType })),
    imported_at: new Date(at).toISOString(),
  };
}

function seedProjects(): Project[] {
  const project = (id: string, owner: string, name: string, description: string): Project =>
    ({ id, owner, name, namespace: owner, description, created_at: '2024-01-15T10:00:00.000Z', datasets: [] });
  return [
    project('101', 'alice', 'climate-models', 'Regional climate model runs and their evaluation.'),
    project('102', 'alice', 'soil-survey', 'Field survey of alpine soils.'),
    project('201', 'bob', 'bridge-loads', 'Load tests of pedestrian bridges.'),
  ];
}
