// Every way the connector can fail, in plain words: what happened, what to do next, and
// which button helps (`retry`, `sign-in` or `none`). The page shows these; nothing here
// touches the page, so each message can be checked against a real failure in tests.

import { ApiError, SignInRequired } from './api.js';
import { UnexpectedAnswer } from './unexpected-answer.js';

const apiNames = { dataverse: 'Dataverse', renku: 'Renku' };
const apiOf = { lookup: 'dataverse', search: 'dataverse', projects: 'renku', 'project-datasets': 'renku', import: 'renku', job: 'renku' };

/**
 * What the user typed is not something the connector can look up; nothing was sent.
 * `reference` is what {@link parseDatasetReference} returned.
 */
export function describeInvalidReference(reference) {
  switch (reference.reason) {
    case 'empty':
      return problem('Nothing to look up', 'Enter a DOI, a dataset link or some keywords.', 'For example doi:10.5072/FK2/J8SJZB or soil moisture.', 'none');
    case 'too_long':
      return problem('Too long to look up', 'That is longer than any DOI or search (at most 500 characters).', 'Shorten it, then look it up again.', 'none');
    case 'unsupported_url':
      return problem(
        'Not a dataset link',
        `“${reference.input}” is neither a DOI link nor a Dataverse dataset link.`,
        'Use https://doi.org/10.…, or the address of the dataset\'s page in Dataverse (it has ?persistentId=doi:… in it), or search by keywords.',
        'none',
      );
    default:
      return problem(
        'Not a valid DOI',
        `“${reference.input}” is not a valid DOI.`,
        'A DOI starts with 10., four to nine digits, a slash and a suffix, as in doi:10.5072/FK2/J8SJZB or https://doi.org/10.5072/FK2/J8SJZB. Copy it from the dataset\'s page to avoid typos.',
        'none',
      );
  }
}

/**
 * A failed call. `context.action` says what was being done (`lookup`, `search`, `projects`,
 * `project-datasets`, `import`, `job`); `context.doi` and `context.query` name what.
 */
export function describeError(error, context) {
  const name = apiOf[context.action] ?? 'renku';
  const api = apiNames[name];

  if (error instanceof SignInRequired) {
    const next = 'Sign in again: you will come back to this page with your dataset and project filled in.';
    return error.code === 'session_expired'
      ? problem('Your session has ended', 'Your session ended at the identity provider, so Gatehouse can no longer call Dataverse and Renku for you.', next, 'sign-in')
      : problem('You are signed out', 'Gatehouse no longer has a session for you: it timed out, or you signed out in another tab.', next, 'sign-in');
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
    return problem('Gatehouse is unreachable', 'This page could not reach Gatehouse.', 'Check your network connection, then try again.', 'retry');
  }

  const body = error.body && typeof error.body === 'object' ? error.body : {};
  const reference = typeof body.requestId === 'string' ? body.requestId : undefined;
  const withReference = (described) => (reference ? { ...described, reference } : described);

  switch (error.code) {
    case 'audience_mismatch':
      return withReference({
        ...problem(
          'The access token is not meant for ' + api,
          `Gatehouse did not send this request: the identity provider issued an access token whose audience lacks “${body.expected ?? name}”, so ${api} would refuse it.`,
          'This needs a change at the identity provider; signing in again will not help until it is made. Tell your administrator:',
          'none',
        ),
        ...(typeof body.hint === 'string' ? { hint: body.hint } : {}),
      });
    case 'unknown_upstream':
      return withReference(problem(
        'The connector is not set up',
        `Gatehouse has no API named “${name}”.`,
        'Ask your administrator to declare it in the GATEHOUSE_APIS file (see the README\'s section on the connector).',
        'none',
      ));
    case 'token_unavailable':
      return withReference(problem(
        `No access token for ${api}`,
        `The identity provider refused to give Gatehouse an access token for ${api}.`,
        'This needs a change at the identity provider (an unknown resource or scope); tell your administrator.',
        'none',
      ));
    case 'idp_unavailable':
      return withReference(problem(
        'The identity provider is unreachable',
        `Gatehouse could not get a fresh access token for ${api}: the identity provider is not answering.`,
        `${nothingChanged(context)} Try again in a minute.`,
        'retry',
      ));
    case 'store_unavailable':
    case 'token_refresh_busy':
      return withReference(problem('Gatehouse is busy', 'Gatehouse could not handle the request just now.', `${nothingChanged(context)} Try again in a minute.`, 'retry'));
    default:
  }

  if (error.status === 502 || error.status === 503 || error.status === 504) {
    const why = error.code === 'upstream_timeout' || error.status === 504 ? 'did not answer in time' : 'is not answering';
    // A lost answer to the import request does not prove the import did not start.
    const next = context.action === 'import' && error.status === 504
      ? 'Renku may have started the import before its answer was lost: look at the project\'s datasets before you try again.'
      : `${nothingChanged(context)} Try again in a minute.`;
    return withReference(problem(`${api} is unavailable`, `${api} ${why} (HTTP ${error.status}).`, next, 'retry'));
  }

  if (context.action === 'lookup' && error.status === 404) {
    return problem(
      'Dataset not found',
      `Dataverse has no dataset with the DOI ${context.doi}.`,
      'Check the DOI for typos (copy it from the dataset\'s page), or search by keywords instead.',
      'none',
    );
  }
  if (error.status === 401) {
    return withReference(problem(
      `${api} did not accept the access token`,
      `${api} refused the access token Gatehouse sent: ${error.message}`,
      'Signing in again may help; if it does not, the token settings at the identity provider need a fix: tell your administrator.',
      'sign-in',
    ));
  }
  if (context.action === 'lookup' && error.status === 403) {
    return problem(
      'Dataverse refused access',
      `Dataverse did not let Gatehouse read ${context.doi}: ${error.message}`,
      'The dataset may be unpublished or restricted. If you should have access, ask your administrator to give Gatehouse a Dataverse API key.',
      'none',
    );
  }
  if (context.action === 'import' && error.status >= 400 && error.status < 500) {
    return withReference(problem(
      'Renku refused the import',
      `Renku did not start the import: ${error.message}`,
      'Nothing was imported. Check the project and the dataset, then try again.',
      'retry',
    ));
  }
  if (context.action === 'job' && error.status === 404) {
    return problem(
      'Renku no longer knows this import',
      'Renku has no record of the import this page was following.',
      'Look at the project\'s datasets: if the dataset is not there, import it again.',
      'none',
    );
  }
  return withReference(problem(
    'Something went wrong',
    `${api} answered with an error (HTTP ${error.status}): ${error.message}`,
    reference ? 'Try again; if it keeps failing, tell your administrator the request id below.' : 'Try again; if it keeps failing, tell your administrator.',
    'retry',
  ));
}

/**
 * An import job that ended `failed`. Nothing was added to the project and the page keeps the
 * dataset and project chosen, so retrying is one click.
 */
export function describeFailedJob(job, { datasetTitle, projectName }) {
  const reason = job.error?.message || 'Renku gave no reason.';
  return problem(
    'The import failed',
    `Renku could not import “${datasetTitle}” into ${projectName}: ${reason}`,
    'Nothing was added to the project, and your choices are still here: retry the import, or pick another dataset or project.',
    'retry',
  );
}

function nothingChanged(context) {
  return context.action === 'import' ? 'Nothing was imported.' : context.action === 'job' ? 'The import goes on at Renku; this page lost sight of it.' : 'Nothing was changed.';
}

function problem(title, message, next, action) {
  return { title, message, next, action };
}
