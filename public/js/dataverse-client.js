// The connector's calls to Dataverse's native API, through Gatehouse at /api/dataverse/.
// Dataverse answers `{ "status": "OK", "data": … }`; these functions return what the page shows.

import { ApiError, apiJson } from './api.js';
import { UnexpectedAnswer } from './unexpected-answer.js';

/** @import { ApiInit, Dataset, SearchResults } from './types.js' */

const base = '/api/dataverse';
// The connector offers its own "Sign in again", keeping the user's place.
/** @type {ApiInit} */
const init = { signIn: 'manual' };

/**
 * A dataset that has no published version: Renku could not resolve its DOI, so the connector
 * does not offer it.
 */
export class NotPublished extends Error {
  /** @param {string} doi */
  constructor(doi) {
    super(`${doi} has no published version.`);
    this.name = 'NotPublished';
    this.doi = doi;
  }
}

/**
 * The latest **published** version of the dataset with this DOI (`doi:10.…/…`):
 * `{ doi, title, authors: [{ name, affiliation }], files: [{ name, size, contentType }], publisher, newerDraft }`.
 * With an API key that may edit the dataset, Dataverse's `latestVersion` can be a draft; the
 * published one is then asked for at `/versions/:latest-published`, and `newerDraft` is true.
 * Rejects with ApiError (404 when Dataverse has no such dataset), {@link NotPublished} or
 * {@link UnexpectedAnswer}.
 * @param {string} doi
 * @returns {Promise<Dataset>}
 */
export async function fetchDataset(doi) {
  // `:persistentId` is literal: Dataverse's way of naming a dataset by DOI in the path.
  const query = `?persistentId=${encodeURIComponent(doi)}`;
  const body = await apiJson(`${base}/api/datasets/:persistentId/${query}`, init);
  const latest = body?.data?.latestVersion;
  if (latest?.versionState === 'RELEASED') return { ...datasetFromDataverse(body, doi), newerDraft: false };
  let published;
  try {
    published = await apiJson(`${base}/api/datasets/:persistentId/versions/:latest-published${query}`, init);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw new NotPublished(doi);
    throw error;
  }
  if (!published?.data || typeof published.data !== 'object')
    throw new UnexpectedAnswer('Dataverse', 'the published version of the dataset');
  return {
    ...datasetFromDataverse({ data: { ...body.data, latestVersion: published.data } }, doi),
    newerDraft: latest !== undefined,
  };
}

/**
 * Datasets matching `query` (Dataverse's search API): `{ total, items: [{ doi, title, authors, published }] }`.
 * @param {string} query
 * @returns {Promise<SearchResults>}
 */
export async function searchDatasets(query) {
  const body = await apiJson(`${base}/api/search?q=${encodeURIComponent(query)}&type=dataset&per_page=10`, init);
  const data = body?.data;
  if (!data || !Array.isArray(data.items)) throw new UnexpectedAnswer('Dataverse', 'a list of search results');
  /** @type {any[]} */
  const results = data.items;
  // Only datasets with a DOI can be linked by DOI; Handle-only datasets are left out.
  const items = results
    .filter((item) => item?.type === 'dataset' && typeof item.global_id === 'string' && /^doi:/i.test(item.global_id))
    .map((item) => ({
      doi: item.global_id,
      title: text(item.name) || item.global_id,
      authors: Array.isArray(item.authors) ? item.authors.map(text).filter(Boolean) : [],
      published: text(item.published_at).slice(0, 10),
    }));
  return { total: Number(data.total_count) || items.length, items };
}

/**
 * Reads Dataverse's dataset JSON (`GET /api/datasets/:persistentId/`) into what the page shows.
 * @param {any} body The JSON as Dataverse sent it; each field is checked as it is read.
 * @param {string} doi The DOI asked for, used when the body does not state its own.
 * @returns {Omit<Dataset, 'newerDraft'>}
 */
export function datasetFromDataverse(body, doi) {
  const data = body?.data;
  const version = data?.latestVersion;
  if (!version || typeof version !== 'object') throw new UnexpectedAnswer('Dataverse', 'a dataset version');
  /** @type {any[]} */
  const fields = Array.isArray(version.metadataBlocks?.citation?.fields) ? version.metadataBlocks.citation.fields : [];
  /** @type {(name: string) => any} */
  const field = (name) => fields.find((f) => f?.typeName === name)?.value;
  /** @type {any[]} */
  const authors = Array.isArray(field('author')) ? field('author') : [];
  /** @type {any[]} */
  const files = Array.isArray(version.files) ? version.files : [];
  const ownDoi =
    data.protocol === 'doi' && data.authority && data.identifier ? `doi:${data.authority}/${data.identifier}` : doi;
  return {
    doi: ownDoi,
    title: text(field('title')) || ownDoi,
    authors: authors
      .map((author) => ({ name: text(author?.authorName?.value), affiliation: text(author?.authorAffiliation?.value) }))
      .filter((author) => author.name),
    files: files.map((file) => ({
      name: text(file?.label) || text(file?.dataFile?.filename),
      size: Number.isFinite(file?.dataFile?.filesize) ? file.dataFile.filesize : undefined,
      contentType: text(file?.dataFile?.contentType),
    })),
    publisher: text(data.publisher),
  };
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}
