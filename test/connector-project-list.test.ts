import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countText, ProjectList, progressText, projectLabel, projectMatches } from '../public/js/project-list.js';
import type { Project, ProjectPage } from '../public/js/types.js';
import { rememberedWriteAccess } from '../public/js/write-permissions.js';

// The connector's project list without a page: pages added as they arrive, the filter, the
// words it says ("12 of 240 projects"), and write access asked once per picked project.

function project(n: number, namespace = 'alpine-lab', slug = `station-${n}`, name = `Station ${n}`): Project {
  return { id: `P${n}`, name, namespace, slug };
}

function page(number: number, projects: Project[], rest: Partial<ProjectPage> = {}): ProjectPage {
  return { page: number, projects, total: 240, totalPages: 3, last: number === 3, truncated: false, ...rest };
}

const flood = project(230, 'hydro-lab', 'flood-target-maps', 'Flood target maps');

test('pages are added in the order they arrive, a project moved between pages is listed once, and the next page to read is known', () => {
  const list = new ProjectList();
  assert.equal(list.nextPage, 1);
  list.add(page(1, [project(1), project(2)]));
  assert.deepEqual([list.nextPage, list.total, list.complete], [2, 240, false]);
  list.add(page(2, [project(2), project(3)]));
  list.add(page(3, [flood]));
  assert.deepEqual(
    list.projects.map((p) => p.id),
    ['P1', 'P2', 'P3', 'P230'],
  );
  assert.deepEqual([list.nextPage, list.complete], [4, true]);
  assert.equal(list.find('P3')?.slug, 'station-3');
  assert.equal(list.find('nope'), undefined);
});

test('the filter matches words of the name, namespace or slug, in any case and without accents', () => {
  assert.ok(projectMatches(flood, 'target'));
  assert.ok(projectMatches(flood, 'TARGET maps'), 'every word, any case');
  assert.ok(projectMatches(flood, 'hydro-lab/flood'), 'namespace/slug as Renku writes it');
  assert.ok(projectMatches(flood, '  flood   hydro '), 'words in any order, extra spaces ignored');
  assert.ok(!projectMatches(flood, 'target station'), 'every word must be found');
  assert.ok(projectMatches(project(7, 'eth', 'zurich-air', 'Luftqualität Zürich'), 'zurich luftqualitat'));
  assert.ok(projectMatches(flood, ''), 'an empty filter hides nothing');
});

test('filtering counts the matches and keeps the chosen project in its place even when it does not match', () => {
  const list = new ProjectList();
  list.add(page(1, [project(1), project(2), flood], { last: true }));
  assert.deepEqual(list.filter('target'), { shown: [flood], matched: 1 });
  const kept = list.filter('target', 'P2');
  assert.deepEqual(
    kept.shown.map((p) => p.id),
    ['P2', 'P230'],
  );
  assert.equal(kept.matched, 1, 'the kept choice is not counted as a match');
  assert.deepEqual(list.filter('', 'P2').matched, 3);
});

test('the count says "N projects", "12 of 240 projects", and "so far" while pages are still arriving', () => {
  const list = new ProjectList();
  list.add(page(1, [project(1), project(2), flood]));
  assert.equal(countText(list, '', 3), '3 projects so far');
  assert.equal(countText(list, 'target', 1), '1 of 3 projects so far');
  list.add(page(3, [project(4)]));
  assert.equal(countText(list, '', 4), '4 projects');
  assert.equal(countText(list, ' target ', 1), '1 of 4 projects');
  assert.equal(countText(list, 'nothing', 0), '0 of 4 projects');
});

test('the progress line says what is loading, what failed, when the 50-page bound cut the list, and nothing once done', () => {
  const list = new ProjectList();
  assert.equal(progressText(list, { failed: false }), 'Loading your projects…');
  assert.equal(progressText(list, { failed: true }), 'Your projects could not be loaded.');
  list.add(page(1, [project(1), project(2)]));
  assert.equal(progressText(list, { failed: false }), 'Loading your projects: 2 of 240 so far…');
  assert.equal(progressText(list, { failed: true }), 'Loaded 2 of 240 projects; the rest could not be loaded.');
  list.add(page(3, [project(3)]));
  assert.equal(progressText(list, { failed: false }), '');

  const bounded = new ProjectList();
  bounded.add(page(50, [project(1)], { total: 6000, totalPages: 60, last: true, truncated: true }));
  assert.equal(
    progressText(bounded, { failed: false }),
    'Showing the first 1 of 6000 projects: the connector reads at most 50 pages of them.',
  );
});

test('a project is named namespace/slug, as in its Renku address; by its name when Renku gives no namespace', () => {
  assert.equal(projectLabel(flood), 'hydro-lab/flood-target-maps');
  assert.equal(projectLabel({ id: 'x', name: 'Loose', namespace: '', slug: 'loose' }), 'Loose');
});

test('write access is asked once per project: a second pick, even while the first answer is on its way, asks nothing', async () => {
  const asked: string[] = [];
  const answers = new Map<string, (writable: boolean) => void>();
  const access = rememberedWriteAccess(
    (id) =>
      new Promise<boolean>((resolve) => {
        asked.push(id);
        answers.set(id, resolve);
      }),
  );
  assert.equal(access.known('A'), 'unknown');
  const first = access.writable('A');
  const again = access.writable('A');
  assert.equal(access.known('A'), 'checking');
  assert.deepEqual(asked, ['A']);
  answers.get('A')!(false);
  assert.deepEqual([await first, await again], [false, false]);
  assert.equal(access.known('A'), 'read-only');
  assert.equal(await access.writable('A'), false);
  const b = access.writable('B');
  answers.get('B')!(true);
  assert.equal(await b, true);
  assert.equal(access.known('B'), 'writable');
  assert.deepEqual(asked, ['A', 'B']);
});

test('a failed question is not remembered: picking the project again asks again', async () => {
  let calls = 0;
  const access = rememberedWriteAccess(async () => {
    calls += 1;
    if (calls === 1) throw new Error('Renku is unavailable');
    return true;
  });
  await assert.rejects(access.writable('A'), /unavailable/);
  assert.equal(access.known('A'), 'unknown');
  assert.equal(await access.writable('A'), true);
  assert.equal(calls, 2);
});
