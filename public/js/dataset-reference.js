// What the user typed into the connector's lookup field: a DOI, a DOI link, a Dataverse
// dataset URL, or keywords. Decided here, before any call, so a malformed DOI never leaves
// the page.

/** @import { DatasetReference, InvalidReference } from './types.js' */

const maxLength = 500;
// A DOI: "10.", a registrant code of 4–9 digits (with optional ".sub" parts), "/", a suffix
// without white space (DOI Handbook §2.2; DataCite and Crossref suffixes may hold almost anything).
const doiPattern = /^10\.\d{4,9}(?:\.\d+)*\/\S+$/;
const doiHosts = new Set(['doi.org', 'dx.doi.org', 'www.doi.org']);

/**
 * Reads what the user typed. Returns one of
 * - `{ kind: 'doi', doi: 'doi:10.…/…' }` for `doi:10.…`, a bare `10.…/…`, `https://doi.org/10.…`,
 *   or a Dataverse URL with `?persistentId=doi:10.…` (`dataset.xhtml`, `citation`, the API);
 * - `{ kind: 'keywords', query }` for anything that does not look like a DOI or a URL;
 * - `{ kind: 'invalid', reason, input }` where `reason` is `empty`, `too_long`,
 *   `malformed_doi` (it tries to be a DOI but is not one) or `unsupported_url`.
 * @param {unknown} text
 * @returns {DatasetReference}
 */
export function parseDatasetReference(text) {
  const input = String(text ?? '').trim();
  if (input === '') return { kind: 'invalid', reason: 'empty', input };
  if (input.length > maxLength) return { kind: 'invalid', reason: 'too_long', input };

  if (/^doi:/i.test(input)) return doiOrMalformed(input.slice(4).trim(), input);
  if (/^10\./.test(input)) return doiOrMalformed(input, input);
  if (/^(?:https?:\/\/)?(?:www\.|dx\.)?doi\.org\//i.test(input))
    return fromUrl(/^https?:\/\//i.test(input) ? input : `https://${input}`, input);
  if (/^https?:\/\//i.test(input)) return fromUrl(input, input);
  return { kind: 'keywords', query: input.replace(/\s+/g, ' ') };
}

/**
 * @param {string} text
 * @param {string} input
 * @returns {DatasetReference}
 */
function fromUrl(text, input) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'invalid', reason: 'unsupported_url', input };
  }
  if (doiHosts.has(url.hostname.toLowerCase())) {
    let path;
    try {
      path = decodeURIComponent(url.pathname.slice(1));
    } catch {
      return { kind: 'invalid', reason: 'malformed_doi', input };
    }
    return doiOrMalformed(path, input);
  }
  // Dataverse names a dataset by `persistentId` on its pages and in its API alike.
  const persistentId = url.searchParams.get('persistentId');
  if (persistentId === null) return { kind: 'invalid', reason: 'unsupported_url', input };
  if (!/^doi:/i.test(persistentId.trim())) return { kind: 'invalid', reason: 'malformed_doi', input };
  return doiOrMalformed(persistentId.trim().slice(4), input);
}

/**
 * @param {string} doi
 * @param {string} input
 * @returns {{ kind: 'doi', doi: string } | InvalidReference}
 */
function doiOrMalformed(doi, input) {
  return doiPattern.test(doi)
    ? { kind: 'doi', doi: `doi:${doi}` }
    : { kind: 'invalid', reason: 'malformed_doi', input };
}
