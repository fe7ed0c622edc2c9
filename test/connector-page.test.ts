import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { demoDatasets } from '../server/dev/demo-datasets.ts';
import { loadUpstreamRegistry } from '../server/upstream-registry.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { CookieBrowser, signIn, startGatehouse, type TestGatehouse } from './helpers/harness.ts';

let gatehouse: TestGatehouse;
const browser = new CookieBrowser();

before(async () => {
  gatehouse = await startGatehouse();
  await signIn(gatehouse, browser);
});
after(() => gatehouse.stop());

test('an anonymous visit to /connector goes to sign-in and comes back to the same URL, form state included', async () => {
  const anonymous = new CookieBrowser();
  const wanted = '/connector?q=doi%3A10.5072%2FFK2%2FJ8SJZB&project=01HQZ8Y6G00000000000000001';
  const first = await anonymous.request(`${gatehouse.url}${wanted}`);
  assert.equal(first.status, 302);
  assert.equal(first.headers.get('location'), `/auth/login?returnTo=${encodeURIComponent(wanted)}`);
  assert.equal(first.headers.get('cache-control'), 'no-store');

  const landed = await signIn(gatehouse, anonymous, 'alice', wanted);
  assert.equal(landed.url, `${gatehouse.url}${wanted}`);
  assert.equal(landed.response.status, 200);
  assert.match(landed.body, /<h1>Link a Dataverse dataset to Renku<\/h1>/);
});

test('the signed-in page has labelled fields, a live status region, and only external module scripts under a strict CSP', async () => {
  const { response, body } = await browser.navigate(`${gatehouse.url}/connector`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);

  const scripts = [...body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.deepEqual(
    scripts.map(([, attributes]) => attributes!.trim()),
    ['type="module" src="/public/js/connector.js"'],
  );
  assert.ok(
    scripts.every(([, , content]) => content!.trim() === ''),
    'no inline script',
  );
  assert.doesNotMatch(body, /\son[a-z]+\s*=/i, 'no inline event handler');
  assert.doesNotMatch(body, /style\s*=/i, 'no inline style (style-src is self)');

  for (const id of ['dataset-query', 'project-filter', 'project']) {
    assert.match(body, new RegExp(`<label for="${id}">`), `${id} has a label`);
  }
  assert.match(body, /<p id="status" class="status" role="status" aria-live="polite">/);
  // The project filter's count ("12 of 240 projects") and the loading line are read out politely, whole.
  assert.match(body, /<p id="project-count" class="meta" aria-live="polite" aria-atomic="true">/);
  assert.match(
    body,
    /<p id="project-progress" class="meta" aria-live="polite" aria-atomic="true">Loading your projects…/,
  );
  assert.match(
    body,
    /<input id="project-filter" type="search"[^>]* aria-controls="project" aria-describedby="project-count">/,
  );
  assert.match(body, /<button type="submit" id="lookup">Look up<\/button>/);
  assert.match(body, /<button type="submit" id="link-button">Link to the project<\/button>/);
  assert.match(body, /mounted read-only in your sessions/);
  assert.doesNotMatch(body, /[Ii]mport/, 'a dataset is linked, not imported');
  assert.match(body, /<link rel="stylesheet" href="\/public\/css\/connector.css">/);
});

test('every module the page loads is served as JavaScript, imports included, and the page preloads each of them', async () => {
  const pending = ['/public/js/connector.js'];
  const served = new Set<string>();
  while (pending.length) {
    const path = pending.pop()!;
    if (served.has(path)) continue;
    const response = await fetch(`${gatehouse.url}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type') ?? '', /javascript/, path);
    served.add(path);
    for (const [, specifier] of (await response.text()).matchAll(/^import\s[^;]*?from\s+'([^']+)'/gm)) {
      pending.push(new URL(specifier!, `http://x${path}`).pathname);
    }
  }
  assert.deepEqual([...served].sort(), [
    '/public/js/api.js',
    '/public/js/connector-errors.js',
    '/public/js/connector-page.js',
    '/public/js/connector-projects.js',
    '/public/js/connector-state.js',
    '/public/js/connector-views.js',
    '/public/js/connector.js',
    '/public/js/dataset-reference.js',
    '/public/js/dataverse-client.js',
    '/public/js/dom.js',
    '/public/js/latest-request.js',
    '/public/js/project-list.js',
    '/public/js/renku-client.js',
    '/public/js/unexpected-answer.js',
    '/public/js/write-permissions.js',
  ]);
  assert.equal((await fetch(`${gatehouse.url}/public/css/connector.css`)).status, 200);
  // All at once, rather than one import level (one round trip) at a time.
  const { body } = await browser.navigate(`${gatehouse.url}/connector`);
  const preloaded = [...body.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map(([, href]) => href!);
  assert.deepEqual(preloaded.sort(), [...served].filter((path) => path !== '/public/js/connector.js').sort());
});

test("the page knows where Renku's project pages are: the renku upstream without /api/data", async () => {
  const { body } = await browser.navigate(`${gatehouse.url}/connector`);
  assert.match(
    body,
    new RegExp(`<form id="link-form" novalidate data-renku-url="${gatehouse.gh.demoApis!.renkuWebUrl}">`),
  );
  assert.equal(
    `${gatehouse.gh.demoApis!.renkuWebUrl}/api/data`,
    gatehouse.gh.upstreams.find((u) => u.name === 'renku')!.url,
  );
});

test('in development the page offers every demo DOI and a keyword search to try', async () => {
  const { body } = await browser.navigate(`${gatehouse.url}/connector`);
  for (const dataset of demoDatasets)
    assert.ok(body.includes(`data-query="${dataset.persistentId}"`), dataset.persistentId);
  assert.ok(body.includes('data-query="soil moisture"'));
});

test('the signed-in home page links to the connector', async () => {
  const { body } = await browser.navigate(`${gatehouse.url}/`);
  assert.match(body, /<a href="\/connector">Link a Dataverse dataset to Renku<\/a>/);
});

test('with a GATEHOUSE_APIS file that lacks dataverse, the page names the missing API and loads no script', async () => {
  const other = await startGatehouse({
    GATEHOUSE_APIS: writeApisFile([{ name: 'renku', url: 'http://127.0.0.1:9/renku', token: 'user' }]),
  });
  try {
    const otherBrowser = new CookieBrowser();
    await signIn(other, otherBrowser);
    const { response, body } = await otherBrowser.navigate(`${other.url}/connector`);
    assert.equal(response.status, 200);
    assert.match(body, /needs the “dataverse”\s+API/);
    assert.match(body, /GATEHOUSE_APIS/);
    assert.doesNotMatch(body, /<script/);
    assert.doesNotMatch(body, /data-query=/, 'no demo examples outside the demo');
  } finally {
    await other.stop();
  }
});

test("the README's GATEHOUSE_APIS example for a real Dataverse and Renku is valid configuration", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Pointing the connector at a real Dataverse and Renku'));
  const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(json, 'the section has a JSON example');
  const file = writeApisFile(JSON.parse(json));
  const problems: string[] = [];
  const upstreams = loadUpstreamRegistry(file, { DATAVERSE_API_KEY: 'key-from-the-environment' }, problems);
  assert.deepEqual(problems, []);
  const [dataverse, renku] = upstreams;
  assert.deepEqual(
    [dataverse!.name, dataverse!.token, dataverse!.methods, dataverse!.headers],
    ['dataverse', 'none', ['GET'], { 'x-dataverse-key': 'key-from-the-environment' }],
  );
  assert.deepEqual([renku!.name, renku!.token, renku!.audience], ['renku', 'user', 'renku']);
  assert.match(renku!.url, /\/api\/data$/, "Renku 2.x's data service");
});
