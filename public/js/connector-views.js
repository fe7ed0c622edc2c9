// Parts of the connector page drawn from data: a problem, search results, a dataset's
// preview. Each fills elements it is given; what to focus and announce stays with the caller.

import { element } from './dom.js';

/** @import { Dataset, Problem, SearchResults } from './types.js' */

/**
 * Fills a problem box: its title, what happened, what to do next, the hint and the request id
 * (those two hidden when absent).
 * @param {{ title: HTMLElement, message: HTMLElement, next: HTMLElement, hint: HTMLElement, reference: HTMLElement }} parts
 * @param {Problem} described
 */
export function fillProblem(parts, described) {
  parts.title.textContent = described.title;
  parts.message.textContent = described.message;
  parts.next.textContent = described.next;
  parts.hint.textContent = described.hint ?? '';
  parts.hint.hidden = !described.hint;
  parts.reference.textContent = described.reference ? `Request id: ${described.reference}` : '';
  parts.reference.hidden = !described.reference;
}

/**
 * Lists Dataverse's search results, each with a "Show this dataset" button that calls
 * `onShow(doi)`.
 * @param {{ heading: HTMLElement, list: HTMLUListElement }} parts
 * @param {string} query
 * @param {SearchResults} found
 * @param {(doi: string) => void} onShow
 */
export function fillSearchResults(parts, query, found, onShow) {
  parts.list.replaceChildren();
  parts.heading.textContent = found.items.length
    ? `Datasets matching “${query}”${found.total > found.items.length ? ` (first ${found.items.length} of ${found.total})` : ''}`
    : `No dataset matches “${query}”`;
  for (const item of found.items) {
    const li = element('li');
    const title = element('span', { className: 'result-title' }, item.title);
    const meta = element(
      'span',
      { className: 'meta' },
      [item.authors.join('; '), item.published, item.doi].filter(Boolean).join(' · '),
    );
    const choose = element('button', { type: 'button', className: 'secondary' }, 'Show this dataset');
    choose.setAttribute('aria-label', `Show “${item.title}”`);
    choose.addEventListener('click', () => onShow(item.doi));
    li.append(title, element('br'), meta, element('br'), choose);
    parts.list.append(li);
  }
  if (!found.items.length)
    parts.list.append(element('li', {}, "Try fewer or other words, or paste the dataset's DOI."));
}

/**
 * Fills the dataset preview: title, DOI, publisher, the newer-draft note, authors and files.
 * @param {{ title: HTMLElement, doi: HTMLElement, publisher: HTMLElement, draft: HTMLElement, authors: HTMLUListElement, files: HTMLTableSectionElement }} parts
 * @param {Dataset} dataset
 */
export function fillDataset(parts, dataset) {
  parts.title.textContent = dataset.title;
  parts.doi.textContent = dataset.doi;
  parts.publisher.textContent = dataset.publisher ? `· ${dataset.publisher}` : '';
  parts.draft.hidden = !dataset.newerDraft;
  parts.authors.replaceChildren(
    ...(dataset.authors.length
      ? dataset.authors.map((author) =>
          element('li', {}, author.affiliation ? `${author.name} (${author.affiliation})` : author.name),
        )
      : [element('li', {}, 'No authors listed.')]),
  );
  parts.files.replaceChildren(
    ...(dataset.files.length
      ? dataset.files.map((file) => {
          const row = element('tr');
          row.append(
            element('td', {}, file.name),
            element('td', { className: 'number' }, formatSize(file.size)),
            element('td', {}, file.contentType || '—'),
          );
          return row;
        })
      : [wideRow('This dataset has no files.')]),
  );
}

/**
 * A size in bytes as people read it (SI units, as Dataverse shows them): `1.8 MB`.
 * @param {number | undefined} bytes
 * @returns {string}
 */
export function formatSize(bytes) {
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

/** @param {string} text */
function wideRow(text) {
  const row = element('tr');
  const cell = element('td', {}, text);
  cell.colSpan = 3;
  row.append(cell);
  return row;
}
