// The connector's calls to Renku, through Gatehouse at /api/renku/. Renku's service answers
// `{ "result": … }` and errors `{ "error": { "code", "userMessage" } }`; import jobs are
// followed at /jobs/<id> until they finish.

import { apiJson } from './api.js';
import { UnexpectedAnswer } from './unexpected-answer.js';

const base = '/api/renku';
// The connector offers its own "Sign in again", keeping the user's place.
const init = { signIn: 'manual' };

/** The signed-in user's projects: `[{ id, name, namespace, datasetCount }]`, ids as strings. */
export async function listProjects() {
  const body = await apiJson(`${base}/projects`, init);
  const projects = body?.result?.projects;
  if (!Array.isArray(projects)) throw new UnexpectedAnswer('Renku', 'a list of projects');
  return projects
    .filter((project) => project && (typeof project.id === 'string' || typeof project.id === 'number'))
    .map((project) => ({
      id: String(project.id),
      name: text(project.name) || String(project.id),
      namespace: text(project.namespace),
      datasetCount: Number.isFinite(project.dataset_count) ? project.dataset_count : undefined,
    }));
}

/** The datasets already in a project: `[{ name, title, doi, importedAt }]`. */
export async function listProjectDatasets(projectId) {
  const body = await apiJson(`${base}/projects/${encodeURIComponent(projectId)}/datasets`, init);
  const datasets = body?.result?.datasets;
  if (!Array.isArray(datasets)) throw new UnexpectedAnswer('Renku', 'a list of datasets');
  return datasets.map((dataset) => ({
    name: text(dataset?.name),
    title: text(dataset?.title) || text(dataset?.name),
    doi: text(dataset?.doi),
    importedAt: text(dataset?.imported_at),
  }));
}

/** Asks Renku to import the dataset at `datasetUri` (a DOI) into the project; resolves with the job id. */
export async function startImport(projectId, datasetUri) {
  const body = await apiJson(`${base}/datasets.import`, {
    ...init,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ project_id: projectId, dataset_uri: datasetUri }),
  });
  const jobId = body?.result?.job_id;
  if (typeof jobId !== 'string' || jobId === '') throw new UnexpectedAnswer('Renku', 'an import job id');
  return jobId;
}

/**
 * One look at an import job: `{ id, state, projectId, datasetUri, error }`, where `state` is
 * `pending`, `running`, `completed` or `failed` (Renku's service says ENQUEUED, IN_PROGRESS,
 * COMPLETED, FAILED; the demo says it in lower case) and `error` is `{ code, message }` or undefined.
 */
export async function fetchJob(jobId) {
  const body = await apiJson(`${base}/jobs/${encodeURIComponent(jobId)}`, init);
  const job = body?.result;
  if (!job || typeof job.state !== 'string') throw new UnexpectedAnswer('Renku', 'the state of the import job');
  const error = job.error && typeof job.error === 'object'
    ? { code: String(job.error.code ?? ''), message: text(job.error.userMessage) || text(job.error.message) }
    : typeof job.error === 'string' ? { code: '', message: job.error } : undefined;
  return {
    id: jobId,
    state: jobState(job.state),
    projectId: job.project_id === undefined ? undefined : String(job.project_id),
    datasetUri: text(job.dataset_uri),
    error,
  };
}

/** Renku's job state in the connector's words. */
export function jobState(raw) {
  switch (String(raw).toLowerCase()) {
    case 'pending': case 'enqueued': case 'queued': return 'pending';
    case 'running': case 'in_progress': return 'running';
    case 'completed': case 'complete': case 'succeeded': return 'completed';
    case 'failed': case 'failure': case 'error': return 'failed';
    // A state this page does not know is not an end: following the job longer is harmless.
    default: return 'running';
  }
}

const firstDelayMs = 500;
const longestDelayMs = 5000;

/**
 * Looks at the job until it is `completed` or `failed` and resolves with that last look.
 * `onUpdate(job)` sees every look. `wait(ms)` is the pause between looks (a timer in the
 * browser; tests move a clock instead); it starts at half a second and grows to five, since
 * real imports can take minutes. A failed call rejects: the job goes on at Renku, and the
 * page can follow it again.
 */
export async function followJob(jobId, { onUpdate = () => {}, wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms)) } = {}) {
  for (let delayMs = firstDelayMs; ; delayMs = Math.min(Math.round(delayMs * 1.5), longestDelayMs)) {
    const job = await fetchJob(jobId);
    onUpdate(job);
    if (job.state === 'completed' || job.state === 'failed') return job;
    await wait(delayMs);
  }
}

function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}
