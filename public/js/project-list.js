// The connector's list of Renku projects as pages of it arrive, the filter that narrows it,
// and the words the page says about both ("12 of 240 projects"). Nothing here touches the
// page, so all of it runs in Node tests too; connector-projects.js draws it.

/** @import { Project, ProjectPage } from './types.js' */

/**
 * The projects read so far, in Renku's order, and how far the reading got.
 */
export class ProjectList {
  /** @type {Project[]} */
  projects = [];
  /** Renku's count of all the user's projects (its `total` header); undefined until known. */
  /** @type {number | undefined} */
  total = undefined;
  /** The next page to read; the one that failed, after a failure. */
  nextPage = 1;
  /** No page is left to read. */
  complete = false;
  /** Renku has more pages than the connector reads. */
  truncated = false;
  /** @type {Set<string>} */
  #ids = new Set();

  /**
   * Adds a page's projects (a project already listed, moved between pages while they were
   * read, is not listed twice).
   * @param {ProjectPage} page
   */
  add(page) {
    for (const project of page.projects) {
      if (this.#ids.has(project.id)) continue;
      this.#ids.add(project.id);
      this.projects.push(project);
    }
    if (page.total !== undefined) this.total = page.total;
    this.nextPage = page.page + 1;
    this.complete = page.last;
    this.truncated = page.truncated;
  }

  /**
   * @param {string} id
   * @returns {Project | undefined}
   */
  find(id) {
    return this.#ids.has(id) ? this.projects.find((project) => project.id === id) : undefined;
  }

  /**
   * The projects that match `query` (see {@link projectMatches}), plus `keep` (the chosen
   * project) where it stands in the list even when it does not match: the choice stays in view.
   * @param {string} query
   * @param {string} [keep]
   * @returns {{ shown: Project[], matched: number }}
   */
  filter(query, keep = '') {
    const terms = searchTerms(query);
    let matched = 0;
    const shown = this.projects.filter((project) => {
      const matches = termsMatch(terms, project);
      if (matches) matched += 1;
      return matches || project.id === keep;
    });
    return { shown, matched };
  }
}

/**
 * Whether the project matches what was typed: every word of `query` is found, in any case and
 * without regard to accents, in its name, namespace or slug (or `namespace/slug`).
 * @param {Project} project
 * @param {string} query
 * @returns {boolean}
 */
export function projectMatches(project, query) {
  return termsMatch(searchTerms(query), project);
}

/**
 * How the page names a project: `namespace/slug`, as Renku's URLs do; the name when Renku
 * gives no namespace.
 * @param {Project} project
 * @returns {string}
 */
export function projectLabel(project) {
  return project.namespace ? `${project.namespace}/${project.slug || project.name}` : project.name;
}

/**
 * The count under the filter: "240 projects", "12 of 240 projects", and while pages are still
 * arriving "12 of 100 projects so far".
 * @param {ProjectList} list
 * @param {string} query
 * @param {number} matched How many projects match `query` ({@link ProjectList#filter}).
 * @returns {string}
 */
export function countText(list, query, matched) {
  const loaded = list.projects.length;
  const soFar = list.complete ? '' : ' so far';
  if (!searchTerms(query).length) return `${plural(loaded, 'project')}${soFar}`;
  return `${matched} of ${plural(loaded, 'project')}${soFar}`;
}

/**
 * The line that says how the reading goes, '' once every page is read: "Loading your
 * projects: 100 of 240…".
 * @param {ProjectList} list
 * @param {{ failed: boolean }} state `failed`: the last page asked for failed.
 * @returns {string}
 */
export function progressText(list, { failed }) {
  const loaded = list.projects.length;
  const of = list.total !== undefined && list.total > loaded ? ` of ${list.total}` : '';
  if (failed)
    return loaded
      ? `Loaded ${loaded}${of} projects; the rest could not be loaded.`
      : 'Your projects could not be loaded.';
  if (list.truncated) return `Showing the first ${loaded}${of} projects: the connector reads at most 50 pages of them.`;
  if (list.complete) return '';
  return loaded ? `Loading your projects: ${loaded}${of} so far…` : 'Loading your projects…';
}

/**
 * @param {string[]} terms
 * @param {Project} project
 */
function termsMatch(terms, project) {
  if (!terms.length) return true;
  const haystack = fold(`${project.name} ${project.namespace} ${project.slug} ${project.namespace}/${project.slug}`);
  return terms.every((term) => haystack.includes(term));
}

/** @param {string} query */
function searchTerms(query) {
  return fold(query).split(/\s+/).filter(Boolean);
}

/**
 * Lower case without accents, so "zurich" finds "Zürich".
 * @param {string} text
 */
function fold(text) {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

/**
 * @param {number} count
 * @param {string} noun
 */
function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
