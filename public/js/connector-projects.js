// Step 2 of the connector page: the user's Renku projects, shown as soon as the first page of
// them arrives, narrowed by a filter, with write access asked for the picked project only.
//
// The list is a native <select> whose options the filter narrows, not an ARIA listbox: the
// browser gives it full keyboard use (arrows, Home/End, type-to-find, Alt+ArrowDown to open),
// every screen reader announces it ("Renku project, combo box, 3 of 12"), phones show their
// own picker, and the form, the page URL and the tests keep reading one `#project` value.
// The filter is a labelled search field above it; its count is a polite live region.

import { describeError, describeNoProjects } from './connector-errors.js';
import { fillProblem } from './connector-views.js';
import { byId, element, hide, show } from './dom.js';
import { latestRequest } from './latest-request.js';
import { countText, ProjectList, progressText, projectLabel } from './project-list.js';
import { canWrite, projectPages } from './renku-client.js';
import { rememberedWriteAccess } from './write-permissions.js';

/** @import { Problem, Project } from './types.js' */

/**
 * @typedef {object} ProjectPickerOptions
 * @property {string} preferred The project to choose once its page arrives (the page URL's), or ''.
 * @property {(project: Project | undefined) => void} onChoose A project was chosen (or none).
 * @property {(problem: Problem, retry?: () => unknown) => void} onProblem Shows a problem in
 *   the page's own box: the first page failed, no projects, or a sign-in is needed.
 */

/**
 * Starts the project picker in the current document (`#project-filter`, `#project` and their
 * notes in views/connector.ejs) and begins reading the user's projects.
 * @param {ProjectPickerOptions} options
 */
export function startProjectPicker({ preferred, onChoose, onProblem }) {
  const ui = {
    filter: byId('project-filter', HTMLInputElement),
    select: byId('project', HTMLSelectElement),
    count: byId('project-count', HTMLElement),
    progress: byId('project-progress', HTMLElement),
    note: byId('project-note', HTMLElement),
    problem: byId('projects-problem', HTMLElement),
    problemTitle: byId('projects-problem-title', HTMLElement),
    problemMessage: byId('projects-problem-message', HTMLElement),
    problemNext: byId('projects-problem-next', HTMLElement),
    problemHint: byId('projects-problem-hint', HTMLElement),
    problemReference: byId('projects-problem-reference', HTMLElement),
    retry: byId('projects-retry', HTMLButtonElement),
  };
  const list = new ProjectList();
  const access = rememberedWriteAccess(canWrite);
  const beginAccessCheck = latestRequest();
  /** @type {Map<string, HTMLOptionElement>} */
  const options = new Map();
  const placeholder = element('option', { value: '' });
  /** Until the user picks, the project the page URL asked for. */
  let wanted = preferred;
  let loading = false;
  let failed = false;

  ui.filter.addEventListener('input', render);
  ui.filter.addEventListener('keydown', onFilterKey);
  ui.select.addEventListener('change', () => {
    wanted = ui.select.value;
    render();
    void picked();
  });
  ui.retry.addEventListener('click', () => void load());
  void load();

  return {
    /** The chosen project, once its page has arrived. */
    chosen: () => list.find(ui.select.value),
    /** The chosen project's id; until its page arrives, the one the page URL asked for. */
    chosenId: () => ui.select.value || (list.complete ? '' : wanted),
    /** Whether a failure left no project to choose from. */
    failedEmpty: () => failed && list.projects.length === 0,
    load,
  };

  /** Reads the pages not read yet (all, or from the one that failed), showing each as it arrives. */
  async function load() {
    if (loading || list.complete) return;
    loading = true;
    failed = false;
    hide(ui.problem);
    render();
    try {
      for await (const page of projectPages(list.nextPage)) {
        list.add(page);
        if (!ui.select.value && wanted && list.find(wanted)) {
          render();
          ui.select.value = wanted;
          void picked();
        }
        render();
      }
    } catch (error) {
      failed = true;
      showFailure(error);
    } finally {
      loading = false;
      render();
    }
    // Renku answers an empty list to a token it treats as anonymous, too: the problem says both.
    if (list.complete && !list.projects.length) onProblem(describeNoProjects());
  }

  /** @param {unknown} error */
  function showFailure(error) {
    const described = describeError(error, { action: 'projects' });
    // With nothing to choose from, or a sign-in to offer, the page's own box says it, as before.
    if (!list.projects.length || described.action === 'sign-in') {
      onProblem(described, load);
      return;
    }
    fillProblem(
      {
        title: ui.problemTitle,
        message: ui.problemMessage,
        next: ui.problemNext,
        hint: ui.problemHint,
        reference: ui.problemReference,
      },
      { ...described, title: `Page ${list.nextPage} of your projects: ${described.title}` },
    );
    show(ui.problem);
  }

  /** Draws the list as the filter, the pages read and the choice make it. */
  function render() {
    const value = ui.select.value;
    const query = ui.filter.value;
    const { shown, matched } = list.filter(query, value || wanted);
    placeholder.textContent = placeholderText(query, matched);
    const wantedOptions = [placeholder, ...shown.map(optionFor)];
    const current = ui.select.options;
    // A page that only adds to the end is appended: an open dropdown stays open.
    const isPrefix =
      current.length <= wantedOptions.length && wantedOptions.every((o, i) => i >= current.length || current[i] === o);
    if (isPrefix) ui.select.append(...wantedOptions.slice(current.length));
    else ui.select.replaceChildren(...wantedOptions);
    ui.select.value = value;
    ui.count.textContent = list.projects.length ? countText(list, query, matched) : '';
    ui.progress.textContent = progressText(list, { failed });
  }

  /** @param {string} query @param {number} matched */
  function placeholderText(query, matched) {
    if (!list.projects.length) {
      if (failed) return 'Your projects could not be loaded';
      return list.complete ? 'No projects' : 'Loading your projects…';
    }
    return query.trim() && !matched ? `No project matches “${query.trim()}”` : 'Choose a project';
  }

  /** @param {Project} project */
  function optionFor(project) {
    let option = options.get(project.id);
    if (!option) {
      option = element('option', { value: project.id }, projectLabel(project));
      options.set(project.id, option);
    }
    return option;
  }

  /**
   * Enter picks the one project the filter leaves (and never submits the link form);
   * ArrowDown goes to the list.
   * @param {KeyboardEvent} event
   */
  function onFilterKey(event) {
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      ui.select.focus();
      return;
    }
    if (event.key !== 'Enter') return;
    event.preventDefault();
    const { shown, matched } = list.filter(ui.filter.value);
    if (matched !== 1 || !shown[0]) return;
    ui.select.value = shown[0].id;
    wanted = shown[0].id;
    render();
    ui.select.focus();
    void picked();
  }

  /** The user chose a project: tell the page, and say whether it may be linked to. */
  async function picked() {
    const project = list.find(ui.select.value);
    onChoose(project);
    const isLatest = beginAccessCheck();
    if (!project) {
      showNote('');
      return;
    }
    const name = projectLabel(project);
    if (access.known(project.id) !== 'writable' && access.known(project.id) !== 'read-only')
      showNote(`Checking whether you may link data to ${name}…`);
    let writable;
    try {
      writable = await access.writable(project.id);
    } catch (error) {
      if (!isLatest()) return;
      const described = describeError(error, { action: 'projects' });
      if (described.action === 'sign-in') {
        showNote('');
        onProblem(described);
        return;
      }
      showNote(
        `Could not ask Renku whether you may write to ${name} (${described.title}). You can still link: Renku refuses if you may not. Choose it again to ask again.`,
      );
      return;
    }
    optionFor(project).textContent = writable ? name : `${name} (read-only)`;
    if (!isLatest()) return;
    showNote(
      writable
        ? ''
        : `You may only read ${name}: Renku will not let you link data to it. Choose a project you own or edit.`,
    );
  }

  /** @param {string} text */
  function showNote(text) {
    ui.note.textContent = text;
    ui.note.hidden = !text;
  }
}
