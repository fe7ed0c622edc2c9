// The connector keeps its form in the page's own URL: `?q=<what was looked up>&project=<id>`.
// Signing in again returns to that URL (Gatehouse's returnTo), so the form comes back filled;
// a reload or a bookmark does the same. No storage in the browser is needed.

/** @import { FormState } from './types.js' */

// Renku 2.x project ids are ULIDs; anything path-like is refused all the same.
const projectIdPattern = /^(?!\.+$)[^\s/?#\\]{1,100}$/;

/**
 * The form state in a query string (`location.search`); unusable values are dropped.
 * @param {string} search
 * @returns {FormState}
 */
export function readFormState(search) {
  const params = new URLSearchParams(search);
  const q = (params.get('q') ?? '').trim().slice(0, 500);
  const project = (params.get('project') ?? '').trim();
  return { q, project: projectIdPattern.test(project) ? project : '' };
}

/**
 * The query string (`?…`, or '' when empty) that {@link readFormState} reads back.
 * @param {Partial<FormState>} state
 * @returns {string}
 */
export function formStateSearch({ q = '', project = '' }) {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q.trim());
  if (project) params.set('project', project);
  const search = params.toString();
  return search ? `?${search}` : '';
}
