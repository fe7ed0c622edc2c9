// The connector page (views/connector.ejs): look up a Dataverse dataset, pick a Renku project,
// import, and follow the import job. Every call goes through Gatehouse's /api/<name>/ proxy.
// The form state lives in the page URL (see connector-state.js), so "Sign in again", a reload
// or a bookmark brings the user back to the same place.

import { describeError, describeFailedJob, describeInvalidReference } from './connector-errors.js';
import { formStateSearch, readFormState } from './connector-state.js';
import { parseDatasetReference } from './dataset-reference.js';
import { fetchDataset, searchDatasets } from './dataverse-client.js';
import { followJob, listProjectDatasets, listProjects, startImport } from './renku-client.js';

const byId = (id) => document.getElementById(id);
const ui = {
  lookupForm: byId('lookup-form'),
  query: byId('dataset-query'),
  status: byId('status'),
  problem: byId('problem'),
  problemTitle: byId('problem-title'),
  problemMessage: byId('problem-message'),
  problemNext: byId('problem-next'),
  problemHint: byId('problem-hint'),
  problemReference: byId('problem-reference'),
  retry: byId('problem-retry'),
  signInAgain: byId('sign-in-again'),
  searchResults: byId('search-results'),
  searchHeading: byId('search-heading'),
  searchList: byId('search-list'),
  dataset: byId('dataset'),
  datasetTitle: byId('dataset-title'),
  datasetDoi: byId('dataset-doi'),
  datasetPublisher: byId('dataset-publisher'),
  datasetAuthors: byId('dataset-authors'),
  datasetFiles: byId('dataset-files').querySelector('tbody'),
  importForm: byId('import-form'),
  project: byId('project'),
  importButton: byId('import-button'),
  projectDatasets: byId('project-datasets'),
  projectDatasetsHeading: byId('project-datasets-heading'),
  projectDatasetList: byId('project-dataset-list'),
  progress: byId('progress'),
  progressHeading: byId('progress-heading'),
  jobSteps: byId('job-steps'),
  outcome: byId('outcome'),
  outcomeMessage: byId('outcome-message'),
  resultLink: byId('result-link'),
};

const initial = readFormState(location.search);
const state = {
  /** The dataset shown in the preview, the one Import sends. */
  dataset: undefined,
  projects: [],
  /** Until the projects are loaded, the project the URL asked for. */
  projectsLoaded: false,
  /** The import job being followed, kept in the URL until it ends. */
  jobId: undefined,
  /** What "Try again" does for the problem on show. */
  retry: undefined,
};
// Later lookups win over slower earlier ones.
let lookupCount = 0;
let projectDatasetsCount = 0;

ui.lookupForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void lookUp();
});
for (const button of document.querySelectorAll('button[data-query]')) {
  button.addEventListener('click', () => {
    ui.query.value = button.dataset.query;
    void lookUp();
  });
}
ui.importForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void importDataset();
});
ui.project.addEventListener('change', () => {
  saveFormState();
  void showProjectDatasets(ui.project.value);
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
void loadProjects(initial.project);
if (initial.q) void lookUp({ fromUrl: true });
if (initial.job) void follow(initial.job);

/** Looks up what is in the query field: a DOI (preview) or keywords (search results). */
async function lookUp({ fromUrl = false } = {}) {
  const count = ++lookupCount;
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
      if (count !== lookupCount) return;
      showSearchResults(reference.query, found);
    } catch (error) {
      if (count !== lookupCount) return;
      setStatus('');
      showProblem(describeError(error, { action: 'search', query: reference.query }), () => lookUp());
    }
    return;
  }

  setStatus(`Looking up ${reference.doi} in Dataverse…`);
  try {
    const dataset = await fetchDataset(reference.doi);
    if (count !== lookupCount) return;
    showDataset(dataset);
  } catch (error) {
    if (count !== lookupCount) return;
    setStatus('');
    showProblem(describeError(error, { action: 'lookup', doi: reference.doi }), () => lookUp());
  }
}

function showSearchResults(query, found) {
  ui.searchList.replaceChildren();
  ui.searchHeading.textContent = found.items.length
    ? `Datasets matching “${query}”${found.total > found.items.length ? ` (first ${found.items.length} of ${found.total})` : ''}`
    : `No dataset matches “${query}”`;
  for (const item of found.items) {
    const li = element('li');
    const title = element('span', { className: 'result-title' }, item.title);
    const meta = element('span', { className: 'meta' }, [item.authors.join('; '), item.published, item.doi].filter(Boolean).join(' · '));
    const choose = element('button', { type: 'button', className: 'secondary' }, 'Show this dataset');
    choose.setAttribute('aria-label', `Show “${item.title}”`);
    choose.addEventListener('click', () => {
      ui.query.value = item.doi;
      void lookUp();
    });
    li.append(title, element('br'), meta, element('br'), choose);
    ui.searchList.append(li);
  }
  if (!found.items.length) ui.searchList.append(element('li', {}, 'Try fewer or other words, or paste the dataset\'s DOI.'));
  setStatus(found.items.length ? `${found.items.length} datasets found.` : 'No dataset found.');
  show(ui.searchResults);
  ui.searchResults.focus();
}

function showDataset(dataset) {
  state.dataset = dataset;
  ui.datasetTitle.textContent = dataset.title;
  ui.datasetDoi.textContent = dataset.doi;
  ui.datasetPublisher.textContent = dataset.publisher ? `· ${dataset.publisher}` : '';
  ui.datasetAuthors.replaceChildren(...(dataset.authors.length
    ? dataset.authors.map((author) => element('li', {}, author.affiliation ? `${author.name} (${author.affiliation})` : author.name))
    : [element('li', {}, 'No authors listed.')]));
  ui.datasetFiles.replaceChildren(...(dataset.files.length
    ? dataset.files.map((file) => {
      const row = element('tr');
      row.append(element('td', {}, file.name), element('td', { className: 'number' }, formatSize(file.size)), element('td', {}, file.contentType || '—'));
      return row;
    })
    : [wideRow('This dataset has no files.')]));
  setStatus(`Found “${dataset.title}”.`);
  show(ui.dataset);
  ui.datasetTitle.focus();
}

async function loadProjects(preferred) {
  setOptions([['', 'Loading your projects…']]);
  try {
    state.projects = await listProjects();
    state.projectsLoaded = true;
  } catch (error) {
    setOptions([['', 'Your projects could not be loaded']]);
    showProblem(describeError(error, { action: 'projects' }), () => loadProjects(preferred || ui.project.value));
    return;
  }
  if (!state.projects.length) {
    setOptions([['', 'You have no Renku projects yet: create one in Renku first']]);
    return;
  }
  setOptions([['', 'Choose a project'], ...state.projects.map((project) => [project.id, projectLabel(project)])]);
  if (preferred && state.projects.some((project) => project.id === preferred)) {
    ui.project.value = preferred;
    void showProjectDatasets(preferred);
  }
}

function setOptions(options) {
  ui.project.replaceChildren(...options.map(([value, label]) => element('option', { value }, label)));
}

/** Lists the datasets already in the project; `highlightDoi` marks the one just imported. */
async function showProjectDatasets(projectId, highlightDoi) {
  const count = ++projectDatasetsCount;
  if (!projectId) {
    hide(ui.projectDatasets);
    return;
  }
  let datasets;
  try {
    datasets = await listProjectDatasets(projectId);
  } catch (error) {
    if (count !== projectDatasetsCount) return;
    hide(ui.projectDatasets);
    showProblem(describeError(error, { action: 'project-datasets' }), () => showProjectDatasets(projectId, highlightDoi));
    return;
  }
  if (count !== projectDatasetsCount) return;
  const project = state.projects.find((p) => p.id === projectId);
  ui.projectDatasetsHeading.textContent = `Datasets in ${project ? projectLabel(project) : `project ${projectId}`}`;
  ui.projectDatasetList.replaceChildren(...(datasets.length
    ? datasets.map((dataset) => {
      const li = element('li', {}, dataset.title);
      if (dataset.doi) li.append(' ', element('span', { className: 'meta' }, dataset.doi));
      if (highlightDoi && dataset.doi.toLowerCase() === highlightDoi.toLowerCase()) {
        li.classList.add('just-imported');
        li.append(' ', element('strong', {}, 'just imported'));
      }
      return li;
    })
    : [element('li', {}, 'No datasets yet.')]));
  show(ui.projectDatasets);
  if (location.hash === '#project-datasets' && !highlightDoi) ui.projectDatasets.focus();
}

/** Starts an import of the previewed dataset into the chosen project, then follows it. */
async function importDataset() {
  clearProblem();
  const dataset = state.dataset;
  let project = state.projects.find((p) => p.id === ui.project.value);
  if (!dataset) {
    showProblem({ title: 'No dataset chosen yet', message: 'Look up a dataset first.', next: 'Enter its DOI or some keywords under “1. Find a dataset”.', action: 'none' });
    return;
  }
  if (!project && !state.projectsLoaded) {
    // The project list failed to load earlier: try again, which says why if it fails again.
    await loadProjects(initial.project);
    if (!state.projectsLoaded) return;
    project = state.projects.find((p) => p.id === ui.project.value);
  }
  if (!project) {
    showProblem({ title: 'No project chosen yet', message: 'Choose the Renku project to import into.', next: 'Pick one under “2. Choose a Renku project”.', action: 'none' });
    return;
  }

  ui.importButton.disabled = true;
  hide(ui.outcome);
  markStep(undefined);
  show(ui.progress);
  ui.progressHeading.focus();
  setStatus(`Asking Renku to import “${dataset.title}” into ${projectLabel(project)}…`);
  let jobId;
  try {
    jobId = await startImport(project.id, dataset.doi);
  } catch (error) {
    ui.importButton.disabled = false;
    hide(ui.progress);
    setStatus('');
    showProblem(describeError(error, { action: 'import' }), importDataset);
    return;
  }
  await follow(jobId, { dataset, project });
}

/**
 * Follows an import job to its end. `chosen` is what the page imported; a job taken over from
 * the URL (after signing in again) is described from the job itself.
 */
async function follow(jobId, chosen) {
  state.jobId = jobId;
  saveFormState();
  ui.importButton.disabled = true;
  show(ui.progress);
  let lastState;
  let job;
  try {
    job = await followJob(jobId, {
      onUpdate: (update) => {
        if (update.state === lastState) return;
        lastState = update.state;
        markStep(update.state);
        if (update.state === 'pending') setStatus('Queued: Renku will start the import shortly.');
        if (update.state === 'running') setStatus('Importing: Renku is copying the dataset\'s files into the project.');
      },
    });
  } catch (error) {
    ui.importButton.disabled = false;
    setStatus('');
    showProblem(describeError(error, { action: 'job' }), () => follow(jobId, chosen));
    return;
  }

  state.jobId = undefined;
  ui.importButton.disabled = false;
  const projectId = chosen?.project.id ?? job.projectId ?? '';
  const project = state.projects.find((p) => p.id === projectId);
  const projectName = project ? projectLabel(project) : `project ${projectId}`;
  const datasetTitle = chosen?.dataset.title ?? job.datasetUri;
  const doi = chosen?.dataset.doi ?? job.datasetUri;
  if (projectId && ui.project.value !== projectId && project) ui.project.value = projectId;
  saveFormState();

  if (job.state === 'failed') {
    setStatus('The import failed.');
    // Retrying needs the dataset and the project on the page; a job taken over from the URL
    // has them once its dataset is looked up again.
    showProblem(describeFailedJob(job, { datasetTitle, projectName }), importDataset);
    return;
  }
  setStatus(`Imported “${datasetTitle}” into ${projectName}.`);
  ui.outcomeMessage.textContent = `“${datasetTitle}” is now in ${projectName}.`;
  ui.resultLink.href = `/connector${formStateSearch({ project: projectId })}#project-datasets`;
  show(ui.outcome);
  ui.outcome.focus();
  await showProjectDatasets(projectId, doi);
}

/** Marks the job's steps: those passed as done, the current one with aria-current; a failure marks the list. */
function markStep(current) {
  const order = ['pending', 'running', 'completed'];
  ui.jobSteps.classList.toggle('failed', current === 'failed');
  if (current === 'failed') return;
  const reached = order.indexOf(current);
  for (const item of ui.jobSteps.children) {
    const index = order.indexOf(item.dataset.step);
    const done = current === 'completed' || index < reached;
    item.classList.toggle('done', done);
    if (index === reached && !done) item.setAttribute('aria-current', 'step');
    else item.removeAttribute('aria-current');
  }
}

function showProblem(described, retry) {
  state.retry = described.action === 'retry' ? retry : undefined;
  ui.problemTitle.textContent = described.title;
  ui.problemMessage.textContent = described.message;
  ui.problemNext.textContent = described.next;
  ui.problemHint.textContent = described.hint ?? '';
  ui.problemHint.hidden = !described.hint;
  ui.problemReference.textContent = described.reference ? `Request id: ${described.reference}` : '';
  ui.problemReference.hidden = !described.reference;
  ui.retry.hidden = !state.retry;
  ui.signInAgain.hidden = described.action !== 'sign-in';
  show(ui.problem);
  ui.problem.focus();
}

function clearProblem() {
  state.retry = undefined;
  hide(ui.problem);
}

function setStatus(text) {
  ui.status.textContent = text;
}

/** Writes the form into the page URL, where signing in again, a reload or a bookmark finds it. */
function saveFormState() {
  const project = state.projectsLoaded ? ui.project.value : initial.project;
  const search = formStateSearch({ q: ui.query.value, project, job: state.jobId });
  history.replaceState(null, '', `${location.pathname}${search}`);
}

function projectLabel(project) {
  return project.namespace ? `${project.namespace}/${project.name}` : project.name;
}

function formatSize(bytes) {
  if (bytes === undefined) return '—';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function wideRow(text) {
  const row = element('tr');
  const cell = element('td', {}, text);
  cell.colSpan = 3;
  row.append(cell);
  return row;
}

function element(tag, properties = {}, text) {
  const node = Object.assign(document.createElement(tag), properties);
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(node) {
  node.hidden = false;
}

function hide(node) {
  node.hidden = true;
}
