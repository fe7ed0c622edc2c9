import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

// public/js/api.js runs in browsers; here it runs in Node against a real Gatehouse: `fetch`
// resolves the page's relative URLs and sends the signed-in browser's cookie, and `location`
// records where the page would go. Its types are its own JSDoc.
const load = () => import('../public/js/api.js');

let f: ProxyFixture;
let navigatedTo: string | undefined;
let sent: Headers | undefined;
const realFetch = globalThis.fetch;

before(async () => {
  f = await startProxyFixture();
  Object.assign(globalThis, {
    location: {
      pathname: '/connector',
      search: '?step=2',
      hash: '#files',
      assign: (url: string) => {
        navigatedTo = url;
      },
    },
  });
  globalThis.fetch = async (input, init) => {
    // Gatehouse runs in this process too: its own calls (JWKS, token endpoint) pass untouched.
    if (typeof input !== 'string' || !input.startsWith('/')) return realFetch(input, init);
    const url = new URL(input, f.gatehouse.url);
    sent = new Headers(init?.headers);
    const headers = new Headers(init?.headers);
    headers.set('cookie', f.browser.cookieHeader(url));
    return realFetch(url, { ...init, headers });
  };
});
after(async () => {
  globalThis.fetch = realFetch;
  delete (globalThis as { location?: unknown }).location;
  await f.stop();
});
beforeEach(() => {
  navigatedTo = undefined;
});

test('api() sends X-CSRF: 1, so Gatehouse forwards the call', async () => {
  const { api } = await load();
  const response = await api('/api/echo/items', { headers: { accept: 'application/json' } });
  assert.equal(sent?.get('x-csrf'), '1');
  assert.equal(sent?.get('accept'), 'application/json');
  assert.equal(response.status, 200);
  assert.equal(navigatedTo, undefined);
});

test('apiJson() returns the JSON body, and rejects a non-2xx answer with its error code', async () => {
  const { apiJson, ApiError } = await load();
  assert.equal((await apiJson('/api/echo/items')).url, '/base/items');
  await assert.rejects(apiJson('/api/readonly/items', { method: 'DELETE' }), (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 405);
    assert.equal(error.code, 'method_not_allowed');
    return true;
  });
});

test("an upstream's own 401 is handed to the caller, not turned into a sign-in that could loop", async () => {
  const { api } = await load();
  f.echo.rejectNext = 2; // the refused token and the retry
  const response = await api('/api/echo/items');
  assert.equal(response.status, 401);
  assert.equal(navigatedTo, undefined);
});

test("Gatehouse's 401 sends the page to sign-in with the current page as returnTo", async () => {
  const { api, SignInRequired } = await load();
  f.browser.forget(new URL(f.gatehouse.url).hostname, 'gatehouse');
  await assert.rejects(api('/api/echo/items'), SignInRequired);
  assert.equal(navigatedTo, `/auth/login?returnTo=${encodeURIComponent('/connector?step=2#files')}`);
});
