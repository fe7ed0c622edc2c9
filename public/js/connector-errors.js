// Every way the connector can fail, in plain words: what happened, what to do next, and
// which button helps (`retry`, `sign-in` or `none`). The page shows these; nothing here
// touches the page, so each message can be checked against a real failure in tests.

import { ApiError, SignInRequired } from './api.js';
import { NotPublished } from './dataverse-client.js';
import { AnonymousAnswer, renkuReason } from './renku-client.js';
import { UnexpectedAnswer } from './unexpected-answer.js';

/** @import { ErrorContext, InvalidReference, Problem, ProblemAction } from './types.js' */

const apiNames = { dataverse: 'Dataverse', renku: 'Renku' };
/** @type {Record<ErrorContext['action'], keyof typeof apiNames>} */
const apiOf = { lookup: 'dataverse', search: 'dataverse', projects: 'renku', connectors: 'renku', link: 'renku' };

/** What the page says when Renku lists no projects: also what a token Renku treats as anonymous gets. */
export const noProjectsHint =
  "no projects — if you have some, the IdP may not add the `renku` audience to Gatehouse's tokens";

/** Why Renku's data service treats a caller as anonymous, and what to fix. */
const anonymousHint =
  "Renku treats a token without the `renku` audience (or without an `email` claim) as anonymous: the IdP may not add the `renku` audience to Gatehouse's tokens.";

// Dataverse's 401/403 for a bearer token whose user has no Dataverse account yet
// (the experimental api-bearer-auth checks the token at the IdP's UserInfo, then looks the user up).
const noDataverseAccount = /no (?:linked|matching) user|not linked to any|unregistered|no user account/i;

/**
 * What the user typed is not something the connector can look up; nothing was sent.
 * `reference` is what {@link parseDatasetReference} returned.
 * @param {InvalidReference} reference
 * @returns {Problem}
 */
export function describeInvalidReference(reference) {
  switch (reference.reason) {
    case 'empty':
      return problem(
        'Nothing to look up',
        'Enter a DOI, a dataset link or some keywords.',
        'For example doi:10.5072/FK2/J8SJZB or soil moisture.',
        'none',
      );
    case 'too_long':
      return problem(
        'Too long to look up',
        'That is longer than any DOI or search (at most 500 characters).',
        'Shorten it, then look it up again.',
        'none',
      );
    case 'unsupported_url':
      return problem(
        'Not a dataset link',
        `“${reference.input}” is neither a DOI link nor a Dataverse dataset link.`,
        "Use https://doi.org/10.…, or the address of the dataset's page in Dataverse (it has ?persistentId=doi:… in it), or search by keywords.",
        'none',
      );
    default:
      return problem(
        'Not a valid DOI',
        `“${reference.input}” is not a valid DOI.`,
        "A DOI starts with 10., four to nine digits, a slash and a suffix, as in doi:10.5072/FK2/J8SJZB or https://doi.org/10.5072/FK2/J8SJZB. Copy it from the dataset's page to avoid typos.",
        'none',
      );
  }
}

/**
 * Renku answered an empty project list. It answers the same to a token it treats as anonymous
 * (one without the `renku` audience), so the page says both.
 * @returns {Problem}
 */
export function describeNoProjects() {
  return problem(
    'No Renku projects',
    'Renku lists no projects for you: there is nothing to link the dataset to.',
    'Create a project in Renku first, then reload this page.',
    'none',
    noProjectsHint,
  );
}

/**
 * A failed call. `context.action` says what was being done (`lookup`, `search`, `projects`,
 * `connectors`, `link`); `context.doi`, `context.query` and `context.projectName` name what.
 * @param {unknown} error
 * @param {ErrorContext} context
 * @returns {Problem}
 */
export function describeError(error, context) {
  const name = apiOf[context.action] ?? 'renku';
  const api = apiNames[name];

  if (error instanceof SignInRequired) {
    const next = 'Sign in again: you will come back to this page with your dataset and project filled in.';
    return error.code === 'session_expired'
      ? problem(
          'Your session has ended',
          'Your session ended at the identity provider, so Gatehouse can no longer call Dataverse and Renku for you.',
          next,
          'sign-in',
        )
      : problem(
          'You are signed out',
          'Gatehouse no longer has a session for you: it timed out, or you signed out in another tab.',
          next,
          'sign-in',
        );
  }
  if (error instanceof NotPublished) {
    return problem(
      'Not published yet',
      `${error.doi} has no published version in Dataverse, only a draft.`,
      'Renku links published datasets only (it resolves the DOI). Publish the dataset in Dataverse, or choose another one.',
      'none',
    );
  }
  if (error instanceof AnonymousAnswer) {
    return problem(
      'Renku stopped listing your projects',
      `Renku answered page ${error.page} of your projects with none at all, after the pages before it listed some: it answers so to a caller it treats as anonymous, so it did not accept the access token Gatehouse sent.`,
      'The projects shown can still be chosen. Try again; if it keeps happening, the token settings at the identity provider need a fix: tell your administrator.',
      'retry',
      anonymousHint,
    );
  }
  if (error instanceof UnexpectedAnswer) {
    return problem(
      `${api} answered unexpectedly`,
      `${api} answered, but without ${error.what}.`,
      `The “${name}” API in Gatehouse's GATEHOUSE_APIS file may point at the wrong address; tell your administrator.`,
      'retry',
    );
  }
  if (!(error instanceof ApiError)) {
    // fetch itself failed: Gatehouse is out of reach (network down, Gatehouse restarting).
    return problem(
      'Gatehouse is unreachable',
      'This page could not reach Gatehouse.',
      'Check your network connection, then try again.',
      'retry',
    );
  }

  /** @type {Record<string, unknown>} */
  const body = error.body && typeof error.body === 'object' ? /** @type {Record<string, unknown>} */ (error.body) : {};
  const reference = typeof body.requestId === 'string' ? body.requestId : undefined;
  /** @type {(described: Problem) => Problem} */
  const withReference = (described) => (reference ? { ...described, reference } : described);

  switch (error.code) {
    case 'audience_mismatch':
      return withReference({
        ...problem(
          `The access token is not meant for ${api}`,
          `Gatehouse did not send this request: the identity provider issued an access token whose audience lacks “${body.expected ?? name}”, so ${api} would refuse it.`,
          'This needs a change at the identity provider; signing in again will not help until it is made. Tell your administrator:',
          'none',
        ),
        ...(typeof body.hint === 'string' ? { hint: body.hint } : {}),
      });
    case 'unknown_upstream':
      return withReference(
        problem(
          'The connector is not set up',
          `Gatehouse has no API named “${name}”.`,
          "Ask your administrator to declare it in the GATEHOUSE_APIS file (see the README's section on the connector).",
          'none',
        ),
      );
    case 'token_unavailable':
      return withReference(
        problem(
          `No access token for ${api}`,
          `The identity provider refused to give Gatehouse an access token for ${api}.`,
          'This needs a change at the identity provider (an unknown resource or scope); tell your administrator.',
          'none',
        ),
      );
    case 'idp_unavailable':
      return withReference(
        problem(
          'The identity provider is unreachable',
          `Gatehouse could not get a fresh access token for ${api}: the identity provider is not answering.`,
          `${nothingChanged(context)} Try again in a minute.`,
          'retry',
        ),
      );
    case 'store_unavailable':
    case 'token_refresh_busy':
      return withReference(
        problem(
          'Gatehouse is busy',
          'Gatehouse could not handle the request just now.',
          `${nothingChanged(context)} Try again in a minute.`,
          'retry',
        ),
      );
    default:
  }

  if (error.status === 502 || error.status === 503 || error.status === 504) {
    const why =
      error.code === 'upstream_timeout' || error.status === 504 ? 'did not answer in time' : 'is not answering';
    // A lost answer to the link request does not prove the link was not made.
    const next =
      context.action === 'link' && error.status === 504
        ? "Renku may have linked the dataset before its answer was lost: look at the project's data connectors before you try again."
        : `${nothingChanged(context)} Try again in a minute.`;
    return withReference(problem(`${api} is unavailable`, `${api} ${why} (HTTP ${error.status}).`, next, 'retry'));
  }

  if (context.action === 'lookup' && error.status === 404) {
    return problem(
      'Dataset not found',
      `Dataverse has no dataset with the DOI ${context.doi}.`,
      "Check the DOI for typos (copy it from the dataset's page), or search by keywords instead.",
      'none',
    );
  }
  if (
    name === 'dataverse' &&
    (error.status === 401 || error.status === 403) &&
    noDataverseAccount.test(error.message)
  ) {
    return problem(
      'No Dataverse account yet',
      `Dataverse accepted your sign-in but has no account linked to it: ${error.message}`,
      'Sign in to Dataverse once with the same identity provider to register your account there, then try again.',
      'retry',
      "Register your account in Dataverse first (log in to Dataverse's own web page through the same identity provider).",
    );
  }
  if (error.status === 401) {
    // Renku treats a token it cannot validate as anonymous and refuses only what needs a user.
    return withReference(
      problem(
        `${api} did not accept the access token`,
        `${api} refused the access token Gatehouse sent: ${name === 'renku' ? renkuReason(error) || error.message : error.message}`,
        'Signing in again may help; if it does not, the token settings at the identity provider need a fix: tell your administrator.',
        'sign-in',
        name === 'renku' ? anonymousHint : undefined,
      ),
    );
  }
  if (context.action === 'lookup' && error.status === 403) {
    return problem(
      'Dataverse refused access',
      `Dataverse did not let Gatehouse read ${context.doi}: ${error.message}`,
      'The dataset may be unpublished or restricted. If you should have access, ask your administrator to give Gatehouse a Dataverse API key.',
      'none',
    );
  }
  if (context.action === 'link' && error.status === 404 && /** @type {{ step?: unknown }} */ (error).step === 'link') {
    // db.py insert_link: Renku says 404 both for a project that is gone and for one the user may only read.
    return withReference(
      problem(
        'You cannot write to this project',
        `Renku did not link the dataset: you do not have write access to ${context.projectName ?? 'this project'} (or it no longer exists).`,
        'Nothing was linked. Choose a project you own or edit, or ask an owner of this one to make you an editor.',
        'none',
      ),
    );
  }
  if (context.action === 'link' && error.status === 422) {
    const reason = renkuReason(error) || error.message;
    return withReference(
      problem(
        'Renku cannot link this dataset',
        `Renku refused ${context.doi ?? 'the DOI'}: ${reason}`,
        /not currently working/i.test(reason)
          ? 'Nothing was linked. Renku could not reach the dataset just now: try again in a minute.'
          : 'Nothing was linked. Renku links datasets whose DOI it can resolve to a supported repository (such as a published Dataverse dataset).',
        /not currently working/i.test(reason) ? 'retry' : 'none',
      ),
    );
  }
  if (context.action === 'link' && error.status >= 400 && error.status < 500) {
    return withReference(
      problem(
        'Renku refused the link',
        `Renku did not link the dataset: ${renkuReason(error) || error.message}`,
        'Nothing was linked. Check the project and the dataset, then try again.',
        'retry',
      ),
    );
  }
  return withReference(
    problem(
      'Something went wrong',
      `${api} answered with an error (HTTP ${error.status}): ${error.message}`,
      reference
        ? 'Try again; if it keeps failing, tell your administrator the request id below.'
        : 'Try again; if it keeps failing, tell your administrator.',
      'retry',
    ),
  );
}

/** @param {ErrorContext} context */
function nothingChanged(context) {
  return context.action === 'link' ? 'Nothing was linked.' : 'Nothing was changed.';
}

/**
 * @param {string} title
 * @param {string} message
 * @param {string} next
 * @param {ProblemAction} action
 * @param {string} [hint]
 * @returns {Problem}
 */
function problem(title, message, next, action, hint) {
  return hint ? { title, message, next, action, hint } : { title, message, next, action };
}
