import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieBrowser } from './helpers/harness.ts';
import { type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

let f: ProxyFixture;
before(async () => {
  f = await startProxyFixture({ env: { GATEHOUSE_PROXY_MAX_BODY: '1024' } });
});
after(() => f.stop());

test('a cookie-authenticated API call without X-CSRF: 1 is refused with 403 and never reaches the upstream', async () => {
  const arrivals = f.echo.arrivals;
  for (const csrf of ['', '0', 'true']) {
    const { response, json } = await f.call('/api/echo/items', { headers: { 'x-csrf': csrf } });
    assert.equal(response.status, 403, `X-CSRF: "${csrf}"`);
    assert.equal(json.error, 'csrf_header_missing');
  }
  const post = await f.call('/api/echo/items', {
    method: 'POST',
    headers: { 'x-csrf': '', 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(post.response.status, 403);
  assert.equal(f.echo.arrivals, arrivals);
});

test('an anonymous API call gets 401 JSON with a loginUrl, never a redirect', async () => {
  const anonymous = new CookieBrowser();
  const arrivals = f.echo.arrivals;
  for (const accept of ['application/json', 'text/html']) {
    const response = await anonymous.request(`${f.gatehouse.url}/api/echo/items`, {
      headers: { 'x-csrf': '1', accept },
    });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('location'), null);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.error, 'unauthenticated');
    assert.equal(body.loginUrl, '/auth/login');
  }
  assert.equal(f.echo.arrivals, arrivals);
});

test('an undeclared upstream is 404 and a method the upstream does not allow is 405 with Allow, neither reaching the upstream', async () => {
  const arrivals = f.echo.arrivals;
  const unknown = await f.call('/api/nosuch/items');
  assert.equal(unknown.response.status, 404);
  assert.equal(unknown.json.error, 'unknown_upstream');
  // The name is matched raw: an encoded name is not another way to spell a declared one.
  assert.equal((await f.raw('GET', '/api/%65cho/items')).status, 404);

  const put = await f.call('/api/readonly/items', {
    method: 'PUT',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(put.response.status, 405);
  assert.equal(put.json.error, 'method_not_allowed');
  assert.equal(put.response.headers.get('allow'), 'GET');
  assert.equal(f.echo.arrivals, arrivals);

  assert.equal((await f.call('/api/readonly/items')).response.status, 200);
  assert.equal((await f.call('/api/readonly/items', { method: 'HEAD' })).response.status, 200);
});

test('paths that could escape the upstream base are refused with 400 and never forwarded', async () => {
  const attempts = [
    '/api/echo/../secret',
    '/api/echo/a/../../secret',
    '/api/echo/%2e%2e/secret',
    '/api/echo/%2E%2E/secret',
    '/api/echo/.%2e/secret',
    '/api/echo/./items',
    '/api/echo/..',
    '/api/echo/..;/secret',
    '/api/echo/a%2f..%2f..%2fsecret',
    '/api/echo/a%2F..%2Fsecret',
    '/api/echo/..%5csecret',
    '/api/echo/a\\..\\secret',
    '/api/echo/%252e%252e/secret',
    '/api/echo/%252fsecret',
    '/api/echo/a%00b',
    '/api/echo/a//b',
    '/api/echo/%c0%ae%c0%ae/secret',
    '/api/echo/%zz',
  ];
  const arrivals = f.echo.arrivals;
  for (const path of attempts) {
    const response = await f.raw('GET', path);
    assert.equal(response.status, 400, path);
    assert.equal(JSON.parse(response.body).error, 'bad_path', path);
  }
  assert.equal(f.echo.arrivals, arrivals);
});

test('encoded characters that stay inside the upstream are forwarded exactly as sent', async () => {
  const response = await f.raw('GET', '/api/echo/files/a%20b/r%C3%A9sum%C3%A9.txt?path=%2Fx%2F..&q=a+b');
  assert.equal(response.status, 200);
  assert.equal(JSON.parse(response.body).url, '/base/files/a%20b/r%C3%A9sum%C3%A9.txt?path=%2Fx%2F..&q=a+b');
  const root = await f.raw('GET', '/api/echo');
  assert.equal(JSON.parse(root.body).url, '/base');
  const slash = await f.raw('GET', '/api/echo/');
  assert.equal(JSON.parse(slash.body).url, '/base/');
});

test('a body declared larger than the limit is refused with 413 before anything reaches the upstream', async () => {
  const arrivals = f.echo.arrivals;
  const response = await f.raw(
    'POST',
    '/api/echo/upload',
    { 'content-type': 'application/octet-stream', 'content-length': '4096' },
    Buffer.alloc(4096, 1).toString(),
  );
  assert.equal(response.status, 413);
  assert.equal(JSON.parse(response.body).error, 'payload_too_large');
  assert.equal(response.headers.connection, 'close');
  assert.equal(f.echo.arrivals, arrivals);
});

test('a chunked body that grows past the limit is cut off with 413 and the upstream never receives it whole', async () => {
  const complete = f.echo.requests.length;
  const chunks = Array.from({ length: 8 }, () => Buffer.alloc(512, 2));
  const response = await f.raw(
    'POST',
    '/api/echo/upload',
    { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
    chunks,
  );
  assert.equal(response.status, 413);
  assert.equal(JSON.parse(response.body).error, 'payload_too_large');
  assert.equal(f.echo.requests.length, complete, 'the upstream saw a complete request');
});
