// The shapes the connector's browser modules pass between them, as JSDoc types for the type
// checker (public/js/tsconfig.json) and for the tests that run these modules in Node
// (`import type { Dataset } from '../public/js/types.js'`). Nothing here runs: the modules
// import it with `@import` only, so the browser never loads this file.

/**
 * What the user typed into the lookup field, as `parseDatasetReference` reads it.
 * @typedef {{ kind: 'doi', doi: string }
 *   | { kind: 'keywords', query: string }
 *   | InvalidReference} DatasetReference
 */

/**
 * Something the connector cannot look up; nothing was sent. `input` is what was typed, trimmed.
 * @typedef {object} InvalidReference
 * @property {'invalid'} kind
 * @property {'empty' | 'too_long' | 'malformed_doi' | 'unsupported_url'} reason
 * @property {string} input
 */

/**
 * The connector's form, kept in the page URL (`?q=…&project=…`); '' when not set.
 * @typedef {object} FormState
 * @property {string} q What was looked up.
 * @property {string} project The chosen Renku project's id.
 */

/**
 * The published version of a Dataverse dataset, as the page shows it.
 * @typedef {object} Dataset
 * @property {string} doi `doi:10.…/…`
 * @property {string} title
 * @property {Author[]} authors
 * @property {DatasetFile[]} files
 * @property {string} publisher
 * @property {boolean} newerDraft A draft newer than this published version exists.
 */

/**
 * @typedef {object} Author
 * @property {string} name
 * @property {string} affiliation '' when Dataverse names none.
 */

/**
 * @typedef {object} DatasetFile
 * @property {string} name
 * @property {number | undefined} size In bytes; undefined when Dataverse does not say.
 * @property {string} contentType
 */

/**
 * One page of Dataverse's search results: `total` matches, of which `items` are the datasets
 * with a DOI.
 * @typedef {object} SearchResults
 * @property {number} total
 * @property {DatasetSummary[]} items
 */

/**
 * @typedef {object} DatasetSummary
 * @property {string} doi `doi:10.…/…`
 * @property {string} title
 * @property {string[]} authors
 * @property {string} published `YYYY-MM-DD`, or ''.
 */

/**
 * A Renku project the user is a direct member of.
 * @typedef {object} Project
 * @property {string} id A ULID.
 * @property {string} name
 * @property {string} namespace
 * @property {string} slug
 */

/**
 * One page of the user's Renku projects, as it arrives (`projectPages` in renku-client.js).
 * @typedef {object} ProjectPage
 * @property {number} page From 1.
 * @property {Project[]} projects
 * @property {number | undefined} total Renku's `total` header: all the user's projects; undefined without paging headers.
 * @property {number | undefined} totalPages Renku's `total-pages` header.
 * @property {boolean} last No page follows this one.
 * @property {boolean} truncated Renku has more pages than the connector reads (its 50-page bound).
 */

/**
 * What the connector knows of the user's write access to a project: asked only once the
 * project is picked (`GET /projects/{id}/permissions`), then remembered for the page.
 * @typedef {'unknown' | 'checking' | 'writable' | 'read-only'} WriteAccess
 */

/**
 * A Renku data connector (`doi` bare, `10.…/…`, as Renku stores it; '' when not a DOI).
 * @typedef {object} DataConnector
 * @property {string} id
 * @property {string} name
 * @property {string} publisherName
 * @property {string} doi
 */

/**
 * The calls of a link, in order: create (or find) the global DOI connector, then link it.
 * @typedef {'connector' | 'link'} LinkStep
 */

/**
 * What linking a dataset to a project did. `created`: Renku did not know the DOI before;
 * `alreadyLinked`: the project had it already (Renku's 409), so nothing changed.
 * @typedef {object} LinkResult
 * @property {DataConnector} connector
 * @property {boolean} created
 * @property {boolean} alreadyLinked
 */

/**
 * `fetch`'s init for `/api/…` calls; `signIn: 'manual'` makes Gatehouse's 401 reject without
 * navigating, for a page that offers its own "Sign in again".
 * @typedef {RequestInit & { signIn?: 'redirect' | 'manual' }} ApiInit
 */

/**
 * What the connector was doing when a call failed, and what it was about.
 * @typedef {object} ErrorContext
 * @property {'lookup' | 'search' | 'projects' | 'connectors' | 'link'} action
 * @property {string} [doi]
 * @property {string} [query]
 * @property {string} [projectName]
 */

/**
 * A failure in plain words, as the page shows it: what happened, what to do next, and which
 * button helps.
 * @typedef {object} Problem
 * @property {string} title
 * @property {string} message
 * @property {string} next
 * @property {ProblemAction} action
 * @property {string} [hint]
 * @property {string} [reference] Gatehouse's request id, for the administrator.
 */

/** @typedef {'retry' | 'sign-in' | 'none'} ProblemAction */

export {};
