import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { Clock } from '../clock.ts';
import { devUsers } from './dev-idp.ts';
import { type DemoDataset, failingDoi, findDataset, flakyDoi, normalizeDoi } from './demo-datasets.ts';

// A Renku 2.x data service for development and tests, answering with the shapes of
// SwissDataScienceCenter/renku-data-services (read 2026-12-01):
// - components/renku_data_services/project/api.spec.yaml: GET /projects (ProjectGetQuery with
//   `direct_member`, a bare array, paging in the `page`, `per-page`, `total` and `total-pages`
//   headers, `per_page` at most 100), GET /projects/{id}/permissions → ProjectPermissions;
// - data_connectors/api.spec.yaml and blueprints.py: POST /data_connectors/global answers 201
//   when it created the connector and 200 when one exists for that DOI; POST
//   /data_connectors/{id}/project_links answers 201; GET /projects/{id}/data_connector_links;
// - data_connectors/db.py insert_link: 404 without write access to the project ("cannot
//   perform operation write … or the resource does not exist"), 409 for a second link;
// - data_connectors/core.py: 422 "The provided DOI is not supported." and "The provided
//   storage configuration is not currently working" (with a detail);
// - errors/errors.py: `{"error": {"code": 14xx, "message", "detail"}}`;
// - authn/keycloak.py: a token that fails validation (audience `renku` missing, bad signature,
//   expired) makes the caller anonymous, not refused; base_api/auth.py `only_authenticated`
//   then refuses POSTs with 401.

/** Where the demo mounts the data service, as Renku's gateway does. */
export const renkuApiPath = '/api/data';

type Role = 'owner' | 'editor' | 'viewer';

interface Project {
  id: string;
  name: string;
  namespace: string;
  slug: string;
  description: string;
  visibility: 'public' | 'private';
  creation_date: string;
  created_by: string;
  members: Record<string, Role>;
}

interface DataConnector {
  id: string;
  /** Bare DOI (`10.5072/…`), as Renku stores it. */
  doi: string;
  dataset: DemoDataset;
  creation_date: string;
  created_by: string;
}

interface Link {
  id: string;
  data_connector_id: string;
  project_id: string;
  creation_date: string;
  created_by: string;
}

/** The caller: a user id, or undefined for Renku's anonymous user. */
type Caller = { sub: string; why?: undefined } | { sub?: undefined; why: string };

/** How many projects the demo gives alice: more than one page of 100, so the connector must page. */
export const aliceProjectCount = 103;

/** A project for `renkuApi`'s `projects` option (tests): its members and their roles. */
export interface RenkuProjectSeed {
  namespace: string;
  slug: string;
  name: string;
  members: Record<string, Role>;
  visibility?: 'public' | 'private';
}

/**
 * A Renku-like data service for development and tests (see the sources above). Every id is a
 * ULID; the demo's own deviations: DOIs resolve against the demo catalog, {@link failingDoi}
 * never passes Renku's storage test, and {@link flakyDoi} fails it once (a retry works).
 * Serves `GET /p/<namespace>/<slug>` too, a stand-in for the project page of Renku's UI.
 */
export function renkuApi(options: { issuer: string; clock: Clock; projects?: readonly RenkuProjectSeed[] }): Express {
  const { clock } = options;
  const ids = ulids(clock);
  const projects = options.projects ? options.projects.map(seededProject) : seedProjects();
  const connectors = new Map<string, DataConnector>();
  const links: Link[] = [];
  let flakyFailed = false;
  const api = express.Router();
  api.use(authenticate(options.issuer));
  api.use(express.json({ limit: '64kb' }));

  api.get('/user', (_req, res) => {
    const sub = onlyAuthenticated(res);
    if (!sub) return;
    const user = devUsers.find((u) => u.username === sub);
    res.json({
      id: sub,
      username: user?.username ?? sub,
      email: user?.claims.email,
      first_name: user?.claims.given_name,
      last_name: user?.claims.family_name,
      is_admin: false,
    });
  });

  api.get('/projects', (req, res) => {
    const paging = pagination(req, res);
    if (!paging) return;
    const sub = caller(res).sub;
    const directMember = req.query.direct_member === 'true';
    const visible = projects.filter(
      (p) => (sub !== undefined && p.members[sub] !== undefined) || (!directMember && p.visibility === 'public'),
    );
    sendPage(res, visible.map(projectJson), paging);
  });

  api.get('/projects/:id/permissions', (req, res) => {
    const project = readableProject(res, req.params.id!);
    if (!project) return;
    const role = project.members[caller(res).sub ?? ''];
    res.json({
      write: role === 'owner' || role === 'editor',
      delete: role === 'owner',
      change_membership: role === 'owner',
    });
  });

  api.get('/projects/:id/data_connector_links', (req, res) => {
    const project = readableProject(res, req.params.id!);
    if (!project) return;
    res.json(links.filter((link) => link.project_id === project.id));
  });

  api.get('/data_connectors/:id', (req, res) => {
    const connector = connectors.get(req.params.id!);
    if (!connector)
      return renkuError(
        res,
        404,
        1404,
        `Data connector with id '${req.params.id}' does not exist or you do not have access to it.`,
      );
    res.json(connectorJson(connector));
  });

  api.post('/data_connectors/global', (req, res) => {
    const sub = onlyAuthenticated(res);
    if (!sub) return;
    const storage = (
      req.body as { storage?: { configuration?: Record<string, unknown>; readonly?: unknown } } | undefined
    )?.storage;
    const raw = storage?.configuration?.doi;
    if (typeof raw !== 'string') return renkuError(res, 422, 1422, 'Cannot find the doi in the storage configuration');
    const normalized = normalizeDoi(raw) ?? normalizeDoi(`doi:${raw}`);
    if (!normalized) return renkuError(res, 422, 1422, `The provided value ${raw} is not a valid doi.`);
    if (storage?.readonly === false) return renkuError(res, 422, 1422, 'Global data connectors must be read-only');
    const doi = normalized.slice('doi:'.length);
    const existing = [...connectors.values()].find((c) => c.doi.toLowerCase() === doi.toLowerCase());
    if (existing) return res.status(200).json(connectorJson(existing));
    const dataset = findDataset(normalized);
    // An unpublished dataset's DOI is not registered, so it resolves nowhere.
    if (!dataset || dataset.unpublished || dataset.unsupportedByRenku)
      return renkuError(res, 422, 1422, 'The provided DOI is not supported.');
    const failing = dataset.persistentId === failingDoi || (dataset.persistentId === flakyDoi && !flakyFailed);
    if (dataset.persistentId === flakyDoi) flakyFailed = true;
    if (failing) {
      return renkuError(
        res,
        422,
        1422,
        'The provided storage configuration is not currently working',
        dataset.persistentId === failingDoi
          ? 'Listing the files of the dataset failed (the demo always fails this one).'
          : "The dataset's server did not answer in time (the demo fails the first try; trying again works).",
      );
    }
    const connector: DataConnector = {
      id: ids(),
      doi: dataset.persistentId.slice('doi:'.length),
      dataset,
      creation_date: new Date(clock()).toISOString(),
      created_by: sub,
    };
    connectors.set(connector.id, connector);
    res.status(201).json(connectorJson(connector));
  });

  api.post('/data_connectors/:id/project_links', (req, res) => {
    const sub = onlyAuthenticated(res);
    if (!sub) return;
    const projectId = (req.body as { project_id?: unknown } | undefined)?.project_id;
    if (typeof projectId !== 'string' || !ulidPattern.test(projectId))
      return renkuError(res, 422, 1422, 'project_id must be a ULID.');
    const connector = connectors.get(req.params.id!);
    if (!connector)
      return renkuError(
        res,
        404,
        1404,
        `Data connector with id '${req.params.id}' does not exist or you do not have access to it.`,
      );
    const project = projects.find((p) => p.id === projectId);
    const role = project?.members[sub];
    if (!project || (role !== 'owner' && role !== 'editor')) {
      return renkuError(
        res,
        404,
        1404,
        `The user with ID ${sub} cannot perform operation write on project with ID ${projectId} or the resource does not exist.`,
      );
    }
    if (links.some((link) => link.data_connector_id === connector.id && link.project_id === project.id)) {
      return renkuError(
        res,
        409,
        1409,
        `A link from data connector ${connector.id} to project ${project.id} already exists.`,
      );
    }
    const link: Link = {
      id: ids(),
      data_connector_id: connector.id,
      project_id: project.id,
      creation_date: new Date(clock()).toISOString(),
      created_by: sub,
    };
    links.push(link);
    res.status(201).json(link);
  });

  api.use((_req, res) => renkuError(res, 404, 1404, 'The requested resource does not exist or cannot be found'));
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 413 || status === 415)
      return renkuError(res, 422, 1422, 'The request body must be JSON (at most 64 KB).');
    renkuError(res, 500, 1500, 'An unexpected error occurred');
  };
  api.use(onError);

  const app = express();
  app.disable('x-powered-by');
  app.use(renkuApiPath, api);
  // A stand-in for the project page of Renku's UI (`/p/:namespace/:slug` in renku-ui's
  // routes.constants.ts), so the connector's "open the project" link leads somewhere.
  app.get('/p/:namespace/:slug', (req, res) => {
    const project = projects.find((p) => p.namespace === req.params.namespace && p.slug === req.params.slug);
    if (!project) {
      res.status(404).type('text/plain').send('No such project.');
      return;
    }
    const names = links
      .filter((l) => l.project_id === project.id)
      .map((l) => connectors.get(l.data_connector_id)!.dataset.title);
    res
      .type('html')
      .send(
        `<!doctype html><title>${escapeHtml(project.name)}</title><h1>${escapeHtml(`${project.namespace}/${project.slug}`)}</h1>` +
          `<h2>Data connectors</h2><ul>${names.map((n) => `<li>${escapeHtml(n)}</li>`).join('') || '<li>None.</li>'}</ul>`,
      );
  });
  return app;

  function readableProject(res: Response, id: string): Project | undefined {
    const sub = caller(res).sub;
    const project = projects.find(
      (p) => p.id === id && (p.visibility === 'public' || (sub !== undefined && p.members[sub] !== undefined)),
    );
    if (!project) renkuError(res, 404, 1404, `Project with id '${id}' does not exist or you do not have access to it.`);
    return project;
  }

  function connectorJson(connector: DataConnector): Record<string, unknown> {
    const { dataset } = connector;
    const slug = `doi-${connector.doi.toLowerCase().replace(/[^a-z0-9.]+/g, '-')}`;
    return {
      id: connector.id,
      name: dataset.title,
      slug,
      storage: {
        storage_type: 'doi',
        configuration: { type: 'doi', doi: connector.doi, provider: 'dataverse' },
        source_path: '/',
        target_path: slug,
        readonly: true,
        sensitive_fields: [],
      },
      creation_date: connector.creation_date,
      created_by: connector.created_by,
      visibility: 'public',
      description: dataset.description,
      etag: `"${connector.id}"`,
      keywords: dataset.keywords,
      doi: connector.doi,
      publisher_name: 'Demo Dataverse',
      publisher_url: 'https://dataverse.example.org',
    };
  }
}

/**
 * Renku's Keycloak authenticator: a valid JWT with audience `renku` makes the caller that
 * user; anything else makes the caller anonymous. `res.locals.renkuCaller` holds the result.
 */
function authenticate(issuer: string): RequestHandler {
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  return async (req, res, next) => {
    const match = /^Bearer ([\w.~+/-]+=*)$/.exec(req.get('authorization') ?? '');
    let found: Caller = { why: 'no bearer token was sent' };
    if (match) {
      try {
        if (!keys) {
          const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
            jwks_uri: string;
          };
          keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
        }
        const { payload } = await jwtVerify(match[1]!, keys, {
          issuer,
          audience: 'renku',
          algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
          requiredClaims: ['exp', 'sub'],
        });
        found = { sub: String((payload as JWTPayload).sub) };
      } catch (error) {
        const { code, claim } = error as { code?: string; claim?: string };
        found = {
          why:
            code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
              ? `the token's "${claim}" claim is not accepted`
              : code === 'ERR_JWT_EXPIRED'
                ? 'the token has expired'
                : 'the token could not be verified',
        };
      }
    }
    res.locals.renkuCaller = found;
    next();
  };
}

function caller(res: Response): Caller {
  return res.locals.renkuCaller as Caller;
}

/**
 * `only_authenticated`: the user id, or undefined after answering 401. The demo adds why the
 * token was not accepted (Renku does not), in the detail and the Bearer challenge.
 */
function onlyAuthenticated(res: Response): string | undefined {
  const found = caller(res);
  if (found.sub !== undefined) return found.sub;
  res.setHeader(
    'WWW-Authenticate',
    `Bearer realm="renku", error="invalid_token", error_description="${found.why.replace(/"/g, "'")}"`,
  );
  renkuError(
    res,
    401,
    1401,
    'You have to be authenticated to perform this operation.',
    `Renku treated the request as anonymous: ${found.why}.`,
  );
  return undefined;
}

/** base_api/pagination.py: `page` ≥ 1, `per_page` 1–100 (default 20), else 422. */
function pagination(req: Request, res: Response): { page: number; perPage: number } | undefined {
  const page = Number(req.query.page ?? 1);
  const perPage = Number(req.query.per_page ?? 20);
  if (!Number.isInteger(page) || page < 1)
    return void renkuError(res, 422, 1422, "Parameter 'page' must be a natural number");
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100)
    return void renkuError(res, 422, 1422, "Parameter 'per_page' must be between 1 and 100");
  return { page, perPage };
}

function sendPage(res: Response, items: unknown[], { page, perPage }: { page: number; perPage: number }): void {
  res.set({
    page: String(page),
    'per-page': String(perPage),
    total: String(items.length),
    'total-pages': String(Math.ceil(items.length / perPage)),
  });
  res.json(items.slice((page - 1) * perPage, page * perPage));
}

function renkuError(res: Response, status: number, code: number, message: string, detail?: string): void {
  res.status(status).json({ error: { code, message, ...(detail ? { detail } : {}) } });
}

function projectJson(project: Project): Record<string, unknown> {
  const { members: _members, ...shown } = project;
  return {
    ...shown,
    etag: `"${project.id}"`,
    keywords: [],
    repositories: [],
    secrets_mount_directory: '/secrets',
    is_template: false,
  };
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ulidPattern = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function encode(value: bigint, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) {
    text = crockford[Number(value % 32n)] + text;
    value /= 32n;
  }
  return text;
}

/** ULIDs: 48 bits of the clock's milliseconds, then a counter where the spec has 80 random bits (deterministic for tests). */
function ulids(clock: Clock): () => string {
  let counter = 0n;
  return () => encode(BigInt(Math.max(0, Math.floor(clock()))), 10) + encode(++counter, 16);
}

/** A fixed ULID for seed data, so project ids are stable across runs. */
function seedId(n: number): string {
  return encode(1_705_312_800_000n, 10) + encode(BigInt(n) + (1n << 60n), 16);
}

/** A test's project, its id a fixed ULID (numbered from 10 000, clear of the demo's own). */
function seededProject(seed: RenkuProjectSeed, index: number): Project {
  return {
    id: seedId(10_000 + index),
    name: seed.name,
    namespace: seed.namespace,
    slug: seed.slug,
    description: '',
    visibility: seed.visibility ?? 'private',
    creation_date: '2024-01-15T10:00:00.000Z',
    created_by: Object.keys(seed.members)[0]!,
    members: seed.members,
  };
}

function seedProjects(): Project[] {
  const created = '2024-01-15T10:00:00.000Z';
  const project = (
    n: number,
    namespace: string,
    slug: string,
    name: string,
    members: Record<string, Role>,
    visibility: Project['visibility'] = 'private',
    description = '',
  ): Project => ({
    id: seedId(n),
    name,
    namespace,
    slug,
    description,
    visibility,
    creation_date: created,
    created_by: Object.keys(members)[0]!,
    members,
  });
  const stations = Array.from({ length: aliceProjectCount - 3 }, (_, i) => {
    const number = String(i + 1).padStart(3, '0');
    return project(
      100 + i,
      'alpine-lab',
      `station-${number}`,
      `Station ${number}`,
      { alice: 'editor' },
      'private',
      `Measurements of weather station ${number}.`,
    );
  });
  return [
    project(
      1,
      'alice',
      'climate-models',
      'Climate models',
      { alice: 'owner' },
      'private',
      'Regional climate model runs and their evaluation.',
    ),
    project(2, 'alice', 'soil-survey', 'Soil survey', { alice: 'owner' }, 'private', 'Field survey of alpine soils.'),
    ...stations,
    // alice may read but not write: the connector must say so rather than fail obscurely.
    project(
      3,
      'bob',
      'glacier-archive',
      'Glacier archive',
      { bob: 'owner', alice: 'viewer' },
      'public',
      'Digitized glacier photographs, 1890–1990.',
    ),
    project(4, 'bob', 'bridge-loads', 'Bridge loads', { bob: 'owner' }, 'private', 'Load tests of pedestrian bridges.'),
  ];
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
