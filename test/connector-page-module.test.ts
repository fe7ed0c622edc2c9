import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latestRequest } from '../public/js/latest-request.js';

// The connector page's own modules in Node: importing them must only define `startConnector`
// (and the project picker's `startProjectPicker`), so tests (and other pages) can import them
// without a document; the page's entry, connector.js, is what starts the page. And the one "latest request wins" rule the page's lookups follow.

/** Browser globals; reading any of them is the module reaching for the page or the network. */
const browserGlobals = [
  'document',
  'window',
  'location',
  'history',
  'navigator',
  'localStorage',
  'sessionStorage',
  'fetch',
];

test('importing the connector page module starts nothing: no document, location, history or fetch is touched', async () => {
  const touched: string[] = [];
  const saved = browserGlobals.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const);
  for (const name of browserGlobals) {
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.push(name);
        throw new Error(`the module read ${name}`);
      },
    });
  }
  try {
    const page = await import('../public/js/connector-page.js');
    const projects = await import('../public/js/connector-projects.js');
    assert.deepEqual(touched, []);
    assert.deepEqual(Object.keys(page), ['startConnector']);
    assert.equal(typeof page.startConnector, 'function');
    assert.deepEqual(Object.keys(projects), ['startProjectPicker']);
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete (globalThis as Record<string, unknown>)[name];
    }
  }
});

test('the answer to an earlier request is dropped once a later request has begun', async () => {
  const beginLookup = latestRequest();
  const shown: string[] = [];
  const answers = new Map<string, (value: string) => void>();
  async function lookUp(query: string) {
    const isLatest = beginLookup();
    const answer = await new Promise<string>((resolve) => answers.set(query, resolve));
    if (!isLatest()) return;
    shown.push(answer);
  }

  const first = lookUp('soil');
  const second = lookUp('soil moisture');
  // The later request is answered first, then the slow earlier one.
  answers.get('soil moisture')!('results for soil moisture');
  await second;
  answers.get('soil')!('results for soil');
  await first;
  assert.deepEqual(shown, ['results for soil moisture']);
});

test('each request is the latest until the next one begins, and kinds of request are counted apart', () => {
  const beginLookup = latestRequest();
  const beginConnectorList = latestRequest();
  const lookup1 = beginLookup();
  assert.equal(lookup1(), true);
  const connectors1 = beginConnectorList();
  assert.equal(lookup1(), true, 'a connector list does not outdate a lookup');
  const lookup2 = beginLookup();
  assert.deepEqual([lookup1(), lookup2(), connectors1()], [false, true, true]);
  assert.equal(lookup2(), true, 'asking again does not change the answer');
});
