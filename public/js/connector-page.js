// The connector page (views/connector.ejs): look up a published Dataverse dataset, pick a
// Renku project, and link the dataset to it as a read-only data connector (Renku 2.x). Every
// call goes through Gatehouse's /api/<name>/ proxy. The form state lives in the page URL (see
// connector-state.js), so "Sign in again", a reload or a bookmark brings the user back.
//
// Importing this module does nothing: connector.js, the page's entry, calls startConnector().

import { describeError, describeInvalidReference } from './connector-errors.js';
import { startProjectPicker } from './connector-projects.js';
import { formStateSearch, readFormState } from './connector-state.js';
import { fillDataset, fillProblem, fillSearchResults } from './connector-views.js';
import { parseDatasetReference } from './dataset-reference.js';
import { fetchDataset, searchDatasets } from './dataverse-client.js';
import { byId, element, hide, show } from './dom.js';
import { latestRequest } from './latest-request.js';
import { projectLabel } from './project-list.js';
import { linkDataset, listProjectConnectors, sameDoi } from './renku-client.js';

/** @import { Dataset, LinkResult, LinkStep, Problem, SearchResults } from './types.js' */

/**
 * Starts the connector page in the current document: finds its elements, wires the forms and
 * buttons, starts the project picker (connector-projects.js), and looks up the query in the
 * page URL, if any.
 */
export function startConnector() {
  const ui = {
    lookupForm: byId('lookup-form', HTMLFormElement),
    query: byId('dataset-query', HTMLInputElement),
    status: byId('status', HTMLElement),
    problem: byId('problem', HTMLElement),
    problemTitle: byId('problem-title', HTMLElement),
    problemMessage: byId('problem-message', HTMLElement),
    problemNext: byId('problem-next', HTMLElement),
    problemHint: byId('problem-hint', HTMLElement),
    problemReference: byId('problem-reference', HTMLElement),
    retry: byId('problem-retry', HTMLButtonElement),
    signInAgain: byId('sign-in-again', HTMLButtonElement),
    searchResults: byId('search-results', HTMLElement),
    searchHeading: byId('search-heading', HTMLElement),
    searchList: byId('search-list', HTMLUListElement),
    dataset: byId('dataset', HTMLElement),
    datasetTitle: byId('dataset-title', HTMLElement),
    datasetDoi: byId('dataset-doi', HTMLElement),
    datasetPublisher: byId('dataset-publisher', HTMLElement),
    datasetDraft: byId('dataset-draft', HTMLElement),
    datasetAuthors: byId('dataset-authors', HTMLUListElement),
    datasetFiles: tableBody(byId('dataset-files', HTMLTableElement)),
    linkForm: byId('link-form', HTMLFormElement),
    linkButton: byId('link-button', HTMLButtonElement),
    projectConnectors: byId('project-connectors', HTMLElement),
    projectConnectorsHeading: byId('project-connectors-heading', HTMLElement),
    projectConnectorList: byId('project-connector-list', HTMLUListElement),
    progress: byId('progress', HTMLElement),
    progressHeading: byId('progress-heading', HTMLElement),
    linkSteps: byId('link-steps', HTMLOListElement),
    outcome: byId('outcome', HTMLElement),
    outcomeMessage: byId('outcome-message', HTMLElement),
    projectLink: byId('project-link', HTMLAnchorElement),
    resultLink: byId('result-link', HTMLAnchorElement),
  };
  // Where Renku's web UI is (the `renku` upstream without `/api/data`); empty when unknown.
  const renkuWebUrl = ui.linkForm.dataset.renkuUrl ?? '';

  const initial = readFormState(location.search);
  /** @type {{ dataset: Dataset | undefined, retry: (() => unknown) | undefined }} */
  const state = {
    /** The dataset shown in the preview, the one "Link" sends. */
    dataset: undefined,
    /** What "Try again" does for the problem on show. */
    retry: undefined,
  };
  // Later lookups win over slower earlier ones.
  const beginLookup = latestRequest();
  const beginConnectorList = latestRequest();

  ui.lookupForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void lookUp();
  });
  for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll('button[data-query]'))) {
    button.addEventListener('click', () => {
      ui.query.value = button.dataset.query ?? '';
      void lookUp();
    });
  }
  ui.linkForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void link();
  });
  ui.retry.addEventListener('click', () => {
    const retry = state.retry;
    clearProblem();
    if (retry) void retry();
  });
  ui.signInAgain.addEventListener('click', () => {
    saveFormState();
    location.assign(`/auth/login?returnTo=${encodeURIComponent(`${location.pathname}${location.search}`)}`);
  });

  // Someone quick may have typed before this module ran: what they typed wins.
  if (initial.q && !ui.query.value) ui.query.value = initial.q;
  const projects = startProjectPicker({
    preferred: initial.project,
    onChoose(project) {
      saveFormState();
      void showProjectConnectors(project?.id ?? '');
    },
    onProblem: showProblem,
  });
  if (initial.q) void lookUp({ fromUrl: true });

  /**
   * Looks up what is in the query field: a DOI (preview) or keywords (search results).
   * @param {{ fromUrl?: boolean }} [options] `fromUrl`: the query came from the page URL, which needs no update.
   */
  async function lookUp({ fromUrl = false } = {}) {
    const isLatest = beginLookup();
    clearProblem();
    hide(ui.searchResults);
    hide(ui.dataset);
    state.dataset = undefined;
    const reference = parseDatasetReference(ui.query.value);
    if (reference.kind === 'invalid') {
      setStatus('');
      showProblem(describeInvalidReference(reference));
      return;
    }
    if (!fromUrl) saveFormState();

    if (reference.kind === 'keywords') {
      setStatus(`Searching Dataverse for “${reference.query}”…`);
      try {
        const found = await searchDatasets(reference.query);
        if (!isLatest()) return;
        showSearchResults(reference.query, found);
      } catch (error) {
        if (!isLatest()) return;
        setStatus('');
        showProblem(describeError(error, { action: 'search', query: reference.query }), () => lookUp());
      }
      return;
    }

    setStatus(`Looking up ${reference.doi} in Dataverse…`);
    try {
      const dataset = await fetchDataset(reference.doi);
      if (!isLatest()) return;
      showDataset(dataset);
    } catch (error) {
      if (!isLatest()) return;
      setStatus('');
      showProblem(describeError(error, { action: 'lookup', doi: reference.doi }), () => lookUp());
    }
  }

  /**
   * @param {string} query
   * @param {SearchResults} found
   */
  function showSearchResults(query, found) {
    fillSearchResults({ heading: ui.searchHeading, list: ui.searchList }, query, found, (doi) => {
      ui.query.value = doi;
      void lookUp();
    });
    setStatus(found.items.length ? `${found.items.length} datasets found.` : 'No dataset found.');
    show(ui.searchResults);
    ui.searchResults.focus();
  }

  /** @param {Dataset} dataset */
  function showDataset(dataset) {
    state.dataset = dataset;
    fillDataset(
      {
        title: ui.datasetTitle,
        doi: ui.datasetDoi,
        publisher: ui.datasetPublisher,
        draft: ui.datasetDraft,
        authors: ui.datasetAuthors,
        files: ui.datasetFiles,
      },
      dataset,
    );
    setStatus(`Found “${dataset.title}”.`);
    show(ui.dataset);
    ui.datasetTitle.focus();
    // The chosen project's list marks this dataset if it is already linked there.
    const project = projects.chosen();
    if (project) void showProjectConnectors(project.id);
  }

  /**
   * Lists the data connectors of the project, marking the one of the dataset on show.
   * @param {string} projectId
   */
  async function showProjectConnectors(projectId) {
    const isLatest = beginConnectorList();
    if (!projectId) {
      hide(ui.projectConnectors);
      return;
    }
    let connectors;
    try {
      connectors = await listProjectConnectors(projectId);
    } catch (error) {
      if (!isLatest()) return;
      hide(ui.projectConnectors);
      showProblem(describeError(error, { action: 'connectors' }), () => showProjectConnectors(projectId));
      return;
    }
    if (!isLatest()) return;
    const project = projects.chosen();
    ui.projectConnectorsHeading.textContent = `Data connectors of ${project?.id === projectId ? projectLabel(project) : `project ${projectId}`}`;
    ui.projectConnectorList.replaceChildren(
      ...(connectors.length
        ? connectors.map((connector) => {
            const li = element('li', {}, connector.name);
            const meta = [connector.publisherName, connector.doi && `doi:${connector.doi}`].filter(Boolean).join(' · ');
            if (meta) li.append(' ', element('span', { className: 'meta' }, meta));
            if (state.dataset && sameDoi(connector.doi, state.dataset.doi)) {
              li.classList.add('this-dataset');
              li.append(' ', element('strong', {}, 'this dataset'));
            }
            return li;
          })
        : [element('li', {}, 'No data connectors yet.')]),
    );
    show(ui.projectConnectors);
    if (location.hash === '#project-connectors') ui.projectConnectors.focus();
  }

  /** Links the previewed dataset to the chosen project. */
  async function link() {
    clearProblem();
    const dataset = state.dataset;
    let project = projects.chosen();
    if (!dataset) {
      showProblem({
        title: 'No dataset chosen yet',
        message: 'Look up a dataset first.',
        next: 'Enter its DOI or some keywords under “1. Find a dataset”.',
        action: 'none',
      });
      return;
    }
    if (!project && projects.failedEmpty()) {
      // The project list failed to load earlier: try again, which says why if it fails again.
      await projects.load();
      if (projects.failedEmpty()) return;
      project = projects.chosen();
    }
    if (!project) {
      showProblem({
        title: 'No project chosen yet',
        message: 'Choose the Renku project to link the dataset to.',
        next: 'Pick one under “2. Choose a Renku project”.',
        action: 'none',
      });
      return;
    }

    ui.linkButton.disabled = true;
    hide(ui.outcome);
    markStep('connector');
    show(ui.progress);
    ui.progressHeading.focus();
    /** @type {LinkResult} */
    let result;
    try {
      result = await linkDataset(project.id, dataset.doi, {
        onStep: (step) => {
          markStep(step);
          setStatus(
            step === 'connector'
              ? `Renku is checking ${dataset.doi} and testing access to the dataset; this can take a few seconds…`
              : `Linking “${dataset.title}” to ${projectLabel(project)}…`,
          );
        },
      });
    } catch (error) {
      ui.linkButton.disabled = false;
      hide(ui.progress);
      setStatus('');
      showProblem(describeError(error, { action: 'link', doi: dataset.doi, projectName: projectLabel(project) }), link);
      return;
    }
    ui.linkButton.disabled = false;
    markStep('done');
    const name = projectLabel(project);
    const said = result.alreadyLinked
      ? `“${dataset.title}” was already linked to ${name} — mounted read-only in your sessions.`
      : `“${dataset.title}” is linked to ${name} — mounted read-only in your sessions.`;
    setStatus(result.alreadyLinked ? `Already linked: nothing to do.` : `Linked “${dataset.title}” to ${name}.`);
    ui.outcomeMessage.textContent = said;
    ui.projectLink.hidden = !renkuWebUrl || !project.namespace || !project.slug;
    if (!ui.projectLink.hidden)
      ui.projectLink.href = `${renkuWebUrl}/p/${encodeURIComponent(project.namespace)}/${encodeURIComponent(project.slug)}`;
    ui.resultLink.href = `/connector${formStateSearch({ q: ui.query.value, project: project.id })}#project-connectors`;
    show(ui.outcome);
    ui.outcome.focus();
    await showProjectConnectors(project.id);
  }

  /**
   * Marks the link's steps: those passed as done, the current one with aria-current.
   * @param {LinkStep | 'done'} current
   */
  function markStep(current) {
    const order = ['connector', 'link', 'done'];
    const reached = order.indexOf(current);
    for (const item of /** @type {HTMLCollectionOf<HTMLElement>} */ (ui.linkSteps.children)) {
      const index = order.indexOf(item.dataset.step ?? '');
      const done = current === 'done' || index < reached;
      item.classList.toggle('done', done);
      if (index === reached && !done) item.setAttribute('aria-current', 'step');
      else item.removeAttribute('aria-current');
    }
  }

  /**
   * @param {Problem} described
   * @param {() => unknown} [retry] What "Try again" does, when `described.action` is `retry`.
   */
  function showProblem(described, retry) {
    state.retry = described.action === 'retry' ? retry : undefined;
    fillProblem(
      {
        title: ui.problemTitle,
        message: ui.problemMessage,
        next: ui.problemNext,
        hint: ui.problemHint,
        reference: ui.problemReference,
      },
      described,
    );
    ui.retry.hidden = !state.retry;
    ui.signInAgain.hidden = described.action !== 'sign-in';
    show(ui.problem);
    ui.problem.focus();
  }

  function clearProblem() {
    state.retry = undefined;
    hide(ui.problem);
  }

  /** @param {string} text */
  function setStatus(text) {
    ui.status.textContent = text;
  }

  /** Writes the form into the page URL, where signing in again, a reload or a bookmark finds it. */
  function saveFormState() {
    const search = formStateSearch({ q: ui.query.value, project: projects.chosenId() });
    history.replaceState(null, '', `${location.pathname}${search}`);
  }
}

/**
 * The table's body, where its rows go.
 * @param {HTMLTableElement} table
 */
function tableBody(table) {
  const body = table.tBodies[0];
  if (!body) throw new Error(`The page's table #${table.id} has no <tbody>.`);
  return body;
}
