// The connector's calls to Renku 2.x's data service, through Gatehouse at /api/renku/ (the
// `renku` upstream points at https://<renku>/api/data). Shapes read from
// SwissDataScienceCenter/renku-data-services (project/api.spec.yaml,
// data_connectors/api.spec.yaml, data_connectors/blueprints.py and db.py) and the body the
// Renku UI sends (renku-ui ProjectConnectDataConnectorsModal.tsx):
// - lists are bare JSON arrays, paged by the `page`, `per-page`, `total` and `total-pages`
//   response headers; ids are ULIDs;
// - errors are `{"error": {"code": 14xx, "message", "detail"}}`.
// A dataset is *linked*, not copied: a global DOI data connector, mounted read-only in the
// project's sessions. There is no job to follow; the link call answers when it is done.

import { ApiError, api } from './api.js';
import { UnexpectedAnswer } from './unexpected-answer.js';

/** @import { ApiInit, DataConnector, LinkResult, LinkStep, Project, ProjectPage } from './types.js' */

const base = '/api/renku';
// The connector offers its own "Sign in again", keeping the user's place.
/** @type {ApiInit} */
const init = { signIn: 'manual' };
// Renku's largest page (base_api/pagination.py refuses more than 100).
const perPage = 100;
// A bound on pages followed, so a misbehaving upstream cannot keep the page fetching forever.
export const maxPages = 50;
// Pages read at once once Renku has said how many there are: later pages arrive in about one
// round trip instead of one each, without a burst of 49 calls at a hosted Renku.
const pagesInFlight = 3;
// Data connector reads run a few at a time: one call per connector.
const parallelReads = 6;

/**
 * Renku answered a later page of the project list with nothing at all (`200 []`, `total: 0`)
 * after an earlier page listed projects: what its data service answers to a token it treats
 * as anonymous (one without the `renku` audience, or expired in between).
 */
export class AnonymousAnswer extends Error {
  /** @param {number} page */
  constructor(page) {
    super(`Renku answered page ${page} of your projects as it answers an anonymous caller.`);
    this.name = 'AnonymousAnswer';
    this.page = page;
  }
}

/**
 * The projects the signed-in user is a direct member of, page by page as they arrive (100 a
 * page, Renku's largest), from page `from` on: `{ page, projects, total, totalPages, last,
 * truncated }`. Once the first page has given Renku's `total-pages`, the next ones are asked
 * for a few at a time and still yielded in order. At most {@link maxPages} pages are read
 * (`truncated` says Renku had more). A failed page rejects the iteration; the pages before it
 * were yielded already, and `projectPages(failedPage)` carries on from there.
 * @param {number} [from]
 * @returns {AsyncGenerator<ProjectPage, void, void>}
 */
export async function* projectPages(from = 1) {
  const first = await readProjectPage(from);
  yield first;
  if (first.last) return;
  if (first.totalPages === undefined) {
    // Without paging headers the only end is a short page: one page at a time.
    for (let page = from + 1; ; page++) {
      const read = await readProjectPage(page);
      yield read;
      if (read.last) return;
    }
  }
  const lastPage = Math.min(first.totalPages, maxPages);
  /** @type {Map<number, Promise<ProjectPage>>} */
  const started = new Map();
  let next = from + 1;
  for (let page = from + 1; page <= lastPage; page++) {
    for (; next <= lastPage && next < page + pagesInFlight; next++) {
      const reading = readProjectPage(next);
      // Awaited in turn below; until then a failure must not count as unhandled.
      reading.catch(() => {});
      started.set(next, reading);
    }
    const read = /** @type {ProjectPage} */ (await started.get(page));
    started.delete(page);
    yield read;
    if (read.last) return;
  }
}

/**
 * Every project the signed-in user is a direct member of (see {@link projectPages}), once the
 * last page is read. An empty list is what Renku also answers to a token it treats as
 * anonymous (one without the `renku` audience).
 * @returns {Promise<Project[]>}
 */
export async function listProjects() {
  /** @type {Project[]} */
  const projects = [];
  for await (const read of projectPages()) projects.push(...read.projects);
  return projects;
}

/**
 * @param {number} page
 * @returns {Promise<ProjectPage>}
 */
async function readProjectPage(page) {
  const { body, headers } = await renkuGet(`/projects?direct_member=true&per_page=${perPage}&page=${page}`);
  if (!Array.isArray(body)) throw new UnexpectedAnswer('Renku', 'a list of projects');
  /** @type {Project[]} */
  const projects = [];
  for (const project of body) {
    if (typeof project?.id !== 'string' || project.id === '') continue;
    projects.push({
      id: project.id,
      name: text(project.name) || project.id,
      namespace: text(project.namespace),
      slug: text(project.slug),
    });
  }
  const total = wholeNumber(headers.get('total'));
  const totalPages = wholeNumber(headers.get('total-pages'));
  if (page > 1 && body.length === 0 && total === 0) throw new AnonymousAnswer(page);
  // Without paging headers (not Renku's data service, or a proxy that drops them) a short page is the last.
  const end = totalPages !== undefined ? page >= totalPages : body.length < perPage;
  return { page, projects, total, totalPages, last: end || page >= maxPages, truncated: !end && page >= maxPages };
}

/**
 * Whether the user may write to the project (`GET /projects/{id}/permissions` → `write`).
 * @param {string} projectId
 * @returns {Promise<boolean>}
 */
export async function canWrite(projectId) {
  const { body } = await renkuGet(`/projects/${encodeURIComponent(projectId)}/permissions`);
  if (!body || typeof body !== 'object') throw new UnexpectedAnswer('Renku', 'the permissions on a project');
  return body.write === true;
}

/**
 * The data connectors linked to a project: `[{ id, name, publisherName, doi }]`, `doi` bare
 * (`10.…/…`) or '' for a connector that is not a DOI.
 * @param {string} projectId
 * @returns {Promise<DataConnector[]>}
 */
export async function listProjectConnectors(projectId) {
  const { body: linkList } = await renkuGet(`/projects/${encodeURIComponent(projectId)}/data_connector_links`);
  if (!Array.isArray(linkList)) throw new UnexpectedAnswer('Renku', 'a list of data connector links');
  /** @type {string[]} */
  const ids = linkList.map((link) => link?.data_connector_id).filter((id) => typeof id === 'string' && id !== '');
  /** @type {DataConnector[]} */
  const connectors = [];
  await eachLimited(ids, parallelReads, async (id) => {
    const { body } = await renkuGet(`/data_connectors/${encodeURIComponent(id)}`);
    connectors.push({
      id,
      name: text(body?.name) || id,
      publisherName: text(body?.publisher_name),
      doi: text(body?.doi),
    });
  });
  // Keep Renku's order of links, whatever order the parallel reads finished in.
  return ids.map((id) => /** @type {DataConnector} */ (connectors.find((c) => c.id === id)));
}

/**
 * Links the dataset with this DOI to the project, as Renku's UI does: `POST
 * /data_connectors/global` (201 created, 200 already known to Renku: both carry the
 * connector), then `POST /data_connectors/{id}/project_links`. Resolves with
 * `{ connector: { id, name, publisherName, doi }, created, alreadyLinked }`; a 409 on the link
 * is `alreadyLinked: true`, not a failure. `onStep('connector' | 'link')` reports progress.
 * Rejects with ApiError (`step` says which call failed) or {@link UnexpectedAnswer}.
 * @param {string} projectId
 * @param {string} doi
 * @param {{ onStep?: (step: LinkStep) => void }} [options]
 * @returns {Promise<LinkResult>}
 */
export async function linkDataset(projectId, doi, { onStep = () => {} } = {}) {
  onStep('connector');
  let created;
  let connector;
  try {
    const response = await renkuSend('/data_connectors/global', {
      storage: {
        configuration: { type: 'doi', doi: bareDoi(doi) },
        source_path: '/',
        target_path: '/',
        readonly: true,
      },
    });
    created = response.status === 201;
    connector = response.body;
  } catch (error) {
    throw tagStep(error, 'connector');
  }
  if (typeof connector?.id !== 'string' || connector.id === '')
    throw new UnexpectedAnswer('Renku', 'the data connector it created');
  const summary = {
    id: connector.id,
    name: text(connector.name) || bareDoi(doi),
    publisherName: text(connector.publisher_name),
    doi: text(connector.doi),
  };

  onStep('link');
  try {
    await renkuSend(`/data_connectors/${encodeURIComponent(connector.id)}/project_links`, { project_id: projectId });
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return { connector: summary, created, alreadyLinked: true };
    throw tagStep(error, 'link');
  }
  return { connector: summary, created, alreadyLinked: false };
}

/**
 * `10.…/…` from `doi:10.…/…`, `https://doi.org/10.…/…` or a bare DOI; Renku stores the bare form.
 * @param {string | undefined} doi
 * @returns {string}
 */
export function bareDoi(doi) {
  return String(doi ?? '')
    .trim()
    .replace(/^doi:/i, '')
    .replace(/^https?:\/\/(?:dx\.|www\.)?doi\.org\//i, '');
}

/**
 * Whether two DOIs name the same dataset (DOIs are case-insensitive; prefixes are ignored).
 * @param {string | undefined} a
 * @param {string | undefined} b
 * @returns {boolean}
 */
export function sameDoi(a, b) {
  const left = bareDoi(a).toLowerCase();
  return left !== '' && left === bareDoi(b).toLowerCase();
}

/**
 * Renku's own reason from an ApiError's body: `message`, and `detail` when it adds one.
 * @param {unknown} error
 * @returns {string}
 */
export function renkuReason(error) {
  const body = /** @type {any} */ (error)?.body?.error;
  if (!body || typeof body !== 'object') return '';
  const message = text(body.message);
  const detail = text(body.detail);
  return detail && detail !== message ? `${message}${/[.!?]$/.test(message) ? '' : '.'} ${detail}` : message;
}

/** @param {string} path */
function renkuGet(path) {
  return renkuCall(path, init);
}

/**
 * @param {string} path
 * @param {unknown} payload
 */
function renkuSend(path, payload) {
  return renkuCall(path, {
    ...init,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
}

/**
 * {@link api} with what the connector needs beyond {@link apiJson}: the status (201 against
 * 200) and the paging headers. A non-2xx answer rejects with ApiError, its message Renku's
 * `error.message` (Gatehouse's own errors keep theirs).
 * @param {string} path
 * @param {ApiInit} options
 * @returns {Promise<{ status: number, headers: Headers, body: any }>}
 */
async function renkuCall(path, options) {
  const response = await api(`${base}${path}`, options);
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const code = typeof body?.error === 'string' ? body.error : `http_${response.status}`;
    const message = text(body?.message) || text(body?.error?.message) || `The request failed (${response.status}).`;
    throw new ApiError(response.status, code, message, body);
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * @param {unknown} error
 * @param {LinkStep} step
 */
function tagStep(error, step) {
  if (error && typeof error === 'object') /** @type {{ step?: LinkStep }} */ (error).step = step;
  return error;
}

/**
 * Runs `work` on every item, at most `limit` at a time.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<void>} work
 */
async function eachLimited(items, limit, work) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(/** @type {T} */ (items[next++]));
  });
  await Promise.all(workers);
}

/**
 * A header's whole number, or undefined when it is missing or something else.
 * @param {string | null} value
 * @returns {number | undefined}
 */
function wholeNumber(value) {
  const number = value === null || value.trim() === '' ? Number.NaN : Number(value);
  return Number.isInteger(number) && number >= 0 ? number : undefined;
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}
