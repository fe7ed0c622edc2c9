import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { aliceGrant, echoApiKey, knownTokens, type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

let f: ProxyFixture;
before(async () => {
  // No trusted proxy: the test client (on loopback) is a browser whose forwarding headers are lies.
  f = await startProxyFixture({ env: { GATEHOUSE_PROXY_MAX_BODY: '65536', GATEHOUSE_TRUST_PROXY: '0' } });
});
after(() => f.stop());

test("the upstream gets a verified bearer token and Gatehouse's forwarding headers, but no cookie, caller credentials, hop-by-hop or client forwarding headers", async () => {
  const response = await f.raw('GET', '/api/echo/items?x=1', {
    'proxy-authorization': 'Basic Y2FsbGVyOnNlY3JldA==',
    connection: 'keep-alive, x-hop-secret',
    'x-hop-secret': 'must-not-pass',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'gopher',
    forwarded: 'for=6.6.6.6;host=evil.example',
    'x-real-ip': '6.6.6.6',
    'x-custom': 'kept',
    accept: 'application/json',
  });
  assert.equal(response.status, 200);
  const seen = f.echo.requests.at(-1)!;
  assert.equal(seen.url, '/base/items?x=1');
  // The token the upstream verified: right issuer, audience renku, alice.
  assert.equal(seen.claims?.sub, 'alice');
  assert.ok((seen.claims!.aud as string[]).includes('renku'));
  for (const name of [
    'cookie',
    'proxy-authorization',
    'x-hop-secret',
    'keep-alive',
    'te',
    'forwarded',
    'x-real-ip',
    'x-csrf',
  ]) {
    assert.equal(seen.headers[name], undefined, `${name} reached the upstream`);
  }
  const gatehouseUrl = new URL(f.gatehouse.url);
  assert.match(String(seen.headers['x-forwarded-for']), /^(::ffff:)?127\.0\.0\.1$|^::1$/);
  assert.equal(seen.headers['x-forwarded-host'], gatehouseUrl.host);
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-prefix'], '/api/echo');
  assert.equal(seen.headers['x-request-id'], response.headers['x-request-id']);
  assert.equal(seen.headers['x-custom'], 'kept');
  assert.equal(seen.headers['x-api-key'], echoApiKey);
  assert.equal(seen.headers['x-static'], 'static-value');
});

test('an upstream at the root of its host gets a request-target starting with /, also with only a query', async () => {
  await f.raw('GET', '/api/root?q=1');
  assert.equal(f.echo.requests.at(-1)!.url, '/?q=1');
  await f.raw('GET', '/api/root/items?q=1');
  assert.equal(f.echo.requests.at(-1)!.url, '/items?q=1');
});

test('a caller with a bearer handle (a SOAP IdentityToken) needs no X-CSRF, and its handle never reaches the upstream', async () => {
  const { grants } = f.gatehouse.gh.deps;
  const handle = await grants.issueHandle((await aliceGrant(f))!);
  const call = async (path: string) => {
    const response = await fetch(`${f.gatehouse.url}${path}`, { headers: { authorization: `Bearer ${handle}` } });
    const raw = { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
    f.rawSeen.push(raw);
    return raw;
  };

  assert.equal((await call('/api/echo/items')).status, 200);
  const seen = f.echo.requests.at(-1)!;
  assert.equal(seen.claims?.sub, 'alice', "the upstream got alice's access token");
  assert.ok(!JSON.stringify(seen.headers).includes(handle), 'the handle reached the upstream');

  // An upstream declared with token "none" gets no Authorization at all, not the handle.
  assert.equal((await call('/api/open/items')).status, 200);
  assert.equal(f.echo.requests.at(-1)!.headers.authorization, undefined);
  assert.ok(!JSON.stringify(f.echo.requests.at(-1)!.headers).includes(handle));

  await grants.dropHandle(handle);
  assert.equal((await call('/api/echo/items')).status, 401);
});

test('upstream Set-Cookie and hop-by-hop response headers never reach the browser', async () => {
  const before = f.browser.cookieHeader(new URL(f.gatehouse.url));
  const { response } = await f.call('/api/echo/set-cookie');
  assert.equal(response.status, 200);
  assert.deepEqual(response.headers.getSetCookie(), []);
  assert.equal(f.browser.cookieHeader(new URL(f.gatehouse.url)), before);

  const hop = await f.raw('GET', '/api/echo/hop-headers');
  assert.equal(hop.headers['x-upstream-private'], undefined);
  assert.equal(hop.headers['proxy-authenticate'], undefined);
  assert.equal(hop.headers['x-upstream-public'], 'visible');
  // Proxied answers are data: the strict policy replaces whatever page policy would apply.
  assert.match(String(hop.headers['content-security-policy']), /default-src 'none'.*sandbox/);
});

test('an upstream redirect is passed back, mapped under /api/<name>, and not followed', async () => {
  const arrivals = f.echo.arrivals;
  const response = await f.raw('GET', '/api/echo/docs/redirect');
  assert.equal(response.status, 302);
  assert.equal(response.headers.location, '/api/echo/docs/elsewhere');
  assert.equal(f.echo.arrivals, arrivals + 1, 'Gatehouse followed the redirect itself');
});

test('request and response bodies stream through without being buffered whole', { timeout: 10_000 }, async () => {
  // Response: the browser gets the first chunk while the upstream has not finished.
  const url = new URL(f.gatehouse.url);
  const reader = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http
      .get(
        {
          host: url.hostname,
          port: url.port,
          path: '/api/echo/drip',
          headers: { cookie: f.browser.cookieHeader(url), 'x-csrf': '1' },
          agent: false,
        },
        resolve,
      )
      .on('error', reject);
  });
  assert.equal(reader.statusCode, 200);
  const first = await new Promise<string>((resolve) =>
    reader.once('data', (chunk: Buffer) => resolve(chunk.toString())),
  );
  assert.equal(first, 'first-chunk\n');
  f.echo.releaseDrip();
  let rest = '';
  for await (const chunk of reader) rest += String(chunk);
  assert.equal(rest, 'rest\n');

  // Request: the upstream gets the first chunk before the browser has sent the rest.
  const firstChunk = f.echo.nextBodyChunk();
  const upload = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: '/api/echo/upload',
        headers: {
          cookie: f.browser.cookieHeader(url),
          'x-csrf': '1',
          'content-type': 'application/octet-stream',
          'transfer-encoding': 'chunked',
        },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    request.on('error', reject);
    request.write(Buffer.alloc(1000, 1));
    void firstChunk.then(() => {
      request.write(Buffer.alloc(3000, 2));
      request.end();
    });
  });
  const uploaded = await upload;
  assert.equal(uploaded.status, 200);
  assert.equal(JSON.parse(uploaded.body).bodyBytes, 4000);

  // A large download arrives intact.
  const big = await f.raw('GET', '/api/echo/bytes/3000000');
  assert.equal(big.body.length, 3_000_000);
});

test('an upstream that is down answers 502 and one that is too slow 504, as JSON without a stack', async () => {
  const down = await f.call('/api/down/items');
  assert.equal(down.response.status, 502);
  assert.equal(down.json.error, 'upstream_unreachable');
  assert.equal(down.json.upstream, 'down');
  const slow = await f.call('/api/slow/slow');
  assert.equal(slow.response.status, 504);
  assert.equal(slow.json.error, 'upstream_timeout');
  for (const body of [down.body, slow.body]) {
    assert.doesNotMatch(body, /\bat .+\.ts:\d+|ECONNREFUSED|stack/i);
  }
});

test('no token ever reached the browser or a log line during these calls', async () => {
  const tokens = await knownTokens(f);
  assert.ok(tokens.length >= 3, 'the scan needs the tokens it looks for');
  const gatehouseResponses = f.browser.seen.filter((r) => r.url.startsWith(f.gatehouse.url));
  assert.ok(gatehouseResponses.length > 0 && f.rawSeen.length > 0);
  const texts = [
    ...gatehouseResponses.map((r) => `${r.body}\n${[...r.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}`),
    ...f.rawSeen.map((r) => `${r.body}\n${JSON.stringify(r.headers)}`),
  ];
  for (const text of texts) {
    for (const token of tokens) assert.ok(!text.includes(token), 'a token reached the browser');
    assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+\./, 'a JWT reached the browser');
  }
  assert.ok(f.gatehouse.logs.length > 0);
  for (const line of f.gatehouse.logs) {
    for (const token of tokens) assert.ok(!line.includes(token), `a token is in the log line ${line.slice(0, 120)}`);
  }
});
