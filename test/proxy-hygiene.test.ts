import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import type { AppError } from '../server/errors.ts';
import { audienceCheck } from '../server/proxy/audience-check.ts';
import { validateUpstreams } from '../server/upstream-registry.ts';
import { EchoUpstream } from './helpers/echo-upstream.ts';
import { knownTokens, type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

/** An upstream that takes opaque tokens (it cannot verify them itself, so it does not try). */
let opaqueEcho: EchoUpstream;
let f: ProxyFixture;
let introspections = 0;

before(async () => {
  opaqueEcho = await new EchoUpstream().start();
  f = await startProxyFixture({
    upstreams: (echoUrl) => [
      { name: 'capped', url: `${echoUrl}/capped`, token: 'none', maxResponseBytes: 4096 },
      { name: 'deadline', url: `${echoUrl}/deadline`, token: 'none', deadlineMs: 400 },
      {
        name: 'opaque',
        url: `${opaqueEcho.url}/opaque`,
        token: 'user',
        audience: 'opaque-api',
        resource: 'urn:gatehouse:opaque',
      },
      {
        name: 'opaquewrong',
        url: `${opaqueEcho.url}/wrong`,
        token: 'user',
        audience: 'renku',
        resource: 'urn:gatehouse:opaque',
      },
    ],
  });
  // Count the IdP adapter's introspection calls (the real ones still go to the embedded IdP).
  const idp = f.gatehouse.gh.deps.idp;
  const introspect = idp.introspectToken.bind(idp);
  idp.introspectToken = (token) => {
    introspections++;
    return introspect(token);
  };
});
after(async () => {
  await f.stop();
  await opaqueEcho.stop();
});

/** A browser call whose body is read by the test (fetch, with the fixture's cookie). */
function browserFetch(path: string): Promise<Response> {
  const url = new URL(path, f.gatehouse.url);
  return fetch(url, { headers: { cookie: f.browser.cookieHeader(url), 'x-csrf': '1' } });
}

async function userAccessToken(): Promise<string> {
  await f.raw('GET', '/api/echo/items');
  return f.echo.requests.at(-1)!.token!;
}

describe('request headers', () => {
  test('headers that override the method, the URL or the client address never reach the upstream', async () => {
    const response = await f.raw('GET', '/api/readonly/items', {
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
      'x-original-url': '/admin/drop-everything',
      'x-rewrite-url': '/admin/drop-everything',
      'x-real-ip': '6.6.6.6',
      'true-client-ip': '6.6.6.6',
      'x-client-ip': '6.6.6.6',
      'cf-connecting-ip': '6.6.6.6',
      'x-cluster-client-ip': '6.6.6.6',
      'client-ip': '6.6.6.6',
    });
    assert.equal(response.status, 200);
    const seen = f.echo.requests.at(-1)!;
    // The echo upstream honours overrides as frameworks do: it would have run a DELETE on /admin.
    assert.equal(seen.method, 'GET', 'a GET-only upstream ran another method');
    assert.equal(seen.url, '/ro/items');
    for (const name of [
      'x-http-method-override',
      'x-http-method',
      'x-method-override',
      'x-original-url',
      'x-rewrite-url',
      'x-real-ip',
      'true-client-ip',
      'x-client-ip',
      'cf-connecting-ip',
      'x-cluster-client-ip',
      'client-ip',
    ]) {
      assert.equal(seen.headers[name], undefined, `${name} reached the upstream`);
    }
    assert.doesNotMatch(JSON.stringify(seen.headers), /6\.6\.6\.6/);
  });

  test('a path with an encoded CR or LF, in either case, is refused with 400 and never forwarded', async () => {
    const arrivals = f.echo.arrivals;
    for (const path of [
      '/api/echo/a%0d%0aX-Injected:%20yes',
      '/api/echo/a%0D%0Ab',
      '/api/echo/a%0a',
      '/api/echo/%0D/b',
      '/api/echo/a%0dz',
    ]) {
      const response = await f.raw('GET', path);
      assert.equal(response.status, 400, path);
      assert.equal(JSON.parse(response.body).error, 'bad_path', path);
    }
    assert.equal(f.echo.arrivals, arrivals, 'a request reached the upstream');
  });
});

describe('response headers', () => {
  test("an upstream cannot set CORS, HSTS, Clear-Site-Data, Refresh, cookies or security policy on Gatehouse's origin", async () => {
    const response = await f.raw('GET', '/api/open/hostile-headers');
    assert.equal(response.status, 200);
    for (const name of [
      'access-control-allow-origin',
      'access-control-allow-credentials',
      'access-control-expose-headers',
      'strict-transport-security',
      'clear-site-data',
      'refresh',
      'set-cookie',
      'service-worker-allowed',
    ]) {
      assert.equal(response.headers[name], undefined, `${name} reached the browser`);
    }
    // Gatehouse's own policy stays: the proxied-data CSP and helmet's frame policy.
    assert.equal(
      response.headers['content-security-policy'],
      "default-src 'none'; frame-ancestors 'none'; form-action 'none'; sandbox",
    );
    assert.equal(response.headers['x-frame-options'], 'SAMEORIGIN');
    assert.equal(response.headers['x-upstream-public'], 'visible');
  });

  test("an upstream cannot install a reporting policy (NEL, Report-To, Reporting-Endpoints) for Gatehouse's origin", async () => {
    const response = await f.raw('GET', '/api/open/hostile-headers');
    assert.equal(response.status, 200);
    for (const name of ['nel', 'report-to', 'reporting-endpoints']) {
      assert.equal(response.headers[name], undefined, `${name} reached the browser`);
    }
    assert.equal(response.headers['x-upstream-public'], 'visible');
  });

  test('a response header that holds the access token, as sent or URL-encoded, is dropped; the others pass', async () => {
    const token = await userAccessToken();
    const response = await f.raw('GET', '/api/echo/echo-token-header');
    assert.equal(response.status, 200);
    assert.equal(f.echo.requests.at(-1)!.token, token, 'the upstream got the token it echoes');
    assert.equal(response.headers['x-debug-authorization'], undefined);
    assert.equal(response.headers.link, undefined);
    assert.equal(response.headers['x-debug-safe'], 'kept');
    assert.ok(!JSON.stringify(response.headers).includes(token));
  });
});

describe('caching of proxied answers', () => {
  test("a user's answer is made private: no shared-cache directive and no CDN cache header reach the shared cache", async () => {
    const response = await f.raw('GET', '/api/echo/cacheable');
    assert.equal(response.status, 200);
    assert.ok(f.echo.requests.at(-1)!.token, 'the upstream got the user token');
    assert.equal(response.headers['cache-control'], 'private, max-age=60');
    assert.equal(response.headers['cdn-cache-control'], undefined);
    assert.equal(response.headers['surrogate-control'], undefined);
  });

  test('an answer to a request without a user token keeps its Cache-Control; CDN cache headers never pass', async () => {
    const response = await f.raw('GET', '/api/open/cacheable');
    assert.equal(response.status, 200);
    assert.equal(response.headers['cache-control'], 'public, max-age=60, s-maxage=300, proxy-revalidate');
    assert.equal(response.headers['cdn-cache-control'], undefined);
    assert.equal(response.headers['surrogate-control'], undefined);
  });
});

describe('an error body that echoes the token', () => {
  test('is passed on with every copy of the token replaced by [redacted], and a length that fits', async () => {
    const response = await f.raw('GET', '/api/echo/echo-token-error');
    assert.equal(response.status, 400);
    const token = f.echo.requests.at(-1)!.token!;
    assert.ok(!response.body.includes(token), 'the token reached the browser');
    assert.deepEqual(JSON.parse(response.body), {
      error: 'bad_request',
      received: { authorization: 'Bearer [redacted]', token: '[redacted]' },
    });
    assert.equal(Number(response.headers['content-length']), Buffer.byteLength(response.body));
  });

  test('gzip-encoded, is decoded and redacted', async () => {
    const response = await f.raw('GET', '/api/echo/echo-token-error/gzip', { 'accept-encoding': 'gzip' });
    assert.equal(response.status, 401);
    assert.equal(response.headers['content-encoding'], undefined);
    assert.deepEqual(JSON.parse(response.body), { error: 'unauthorized', received: 'Bearer [redacted]' });
  });

  test('over 64 KiB, is withheld: the status stays, with a JSON error saying why', async () => {
    const response = await f.raw('GET', '/api/echo/echo-token-error/big');
    assert.equal(response.status, 500);
    const body = JSON.parse(response.body);
    assert.equal(body.error, 'upstream_error_withheld');
    assert.match(body.message, /larger than 65536 bytes/);
    for (const token of await knownTokens(f)) assert.ok(!response.body.includes(token));
  });
});

describe('maxResponseBytes and deadlineMs', () => {
  test('a response declared larger than maxResponseBytes is refused with 502 before anything is passed on', async () => {
    const refused = await f.raw('GET', '/api/capped/sized/4097');
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body).error, 'upstream_response_too_large');
    assert.equal(JSON.parse(refused.body).maxResponseBytes, 4096);
    const fits = await f.raw('GET', '/api/capped/sized/4096');
    assert.equal(fits.status, 200);
    assert.equal(fits.body.length, 4096);
  });

  test('a streamed response that grows past maxResponseBytes is cut, never passed on as complete', async () => {
    const response = await browserFetch('/api/capped/chunked/20000');
    assert.equal(response.status, 200);
    await assert.rejects(response.text());
    const under = await browserFetch('/api/capped/chunked/3000');
    assert.equal((await under.text()).length, 3000);
  });

  test('an upstream silent past deadlineMs gets 504; one still streaming at the deadline is cut', async () => {
    const silent = await f.raw('GET', '/api/deadline/slow');
    assert.equal(silent.status, 504);
    assert.deepEqual(JSON.parse(silent.body).deadlineMs, 400);
    assert.equal(JSON.parse(silent.body).error, 'upstream_timeout');

    const dripping = await browserFetch('/api/deadline/drip');
    assert.equal(dripping.status, 200);
    await assert.rejects(dripping.text());
  });

  test('both options are validated with the other upstream options, and are off by default', () => {
    const problems: string[] = [];
    const base = { url: 'http://127.0.0.1:1', token: 'none' };
    const valid = validateUpstreams(
      [
        { name: 'plain', ...base },
        { name: 'bounded', ...base, maxResponseBytes: 1_000_000, deadlineMs: 5000 },
      ],
      {},
      problems,
    );
    assert.deepEqual(problems, []);
    assert.equal(valid[0]!.maxResponseBytes, undefined);
    assert.equal(valid[0]!.deadlineMs, undefined);
    assert.equal(valid[1]!.maxResponseBytes, 1_000_000);
    assert.equal(valid[1]!.deadlineMs, 5000);
    validateUpstreams(
      [
        { name: 'a', ...base, maxResponseBytes: 0 },
        { name: 'b', ...base, maxResponseBytes: '1MB' },
        { name: 'c', ...base, deadlineMs: 50 },
        { name: 'd', ...base, deadlineMs: 1.5 },
      ],
      {},
      problems,
    );
    assert.equal(
      problems.filter((p) => /"maxResponseBytes" must be a whole number of bytes/.test(p)).length,
      2,
      problems.join('\n'),
    );
    assert.equal(
      problems.filter((p) => /"deadlineMs" must be a whole number from 100 to 3600000/.test(p)).length,
      2,
      problems.join('\n'),
    );
  });
});

describe('audiences of opaque access tokens', () => {
  test('an opaque token for an upstream with an audience is checked by introspection, once per token', async () => {
    const before = introspections;
    for (let i = 0; i < 3; i++) {
      const response = await f.raw('GET', '/api/opaque/items');
      assert.equal(response.status, 200, response.body);
    }
    const token = opaqueEcho.requests.at(-1)!.token!;
    assert.throws(() => decodeJwt(token), 'the upstream got a JWT, not an opaque token');
    assert.equal(introspections, before + 1);
  });

  test("an opaque token whose introspected audience lacks the upstream's is refused with 403 and never sent", async () => {
    const arrivals = opaqueEcho.arrivals;
    const response = await f.raw('GET', '/api/opaquewrong/items');
    assert.equal(response.status, 403);
    const body = JSON.parse(response.body);
    assert.equal(body.error, 'audience_mismatch');
    assert.deepEqual(body.got, ['opaque-api']);
    assert.equal(opaqueEcho.arrivals, arrivals);
  });

  test('an opaque token the IdP no longer holds active is refused with 401 token_inactive', async () => {
    await f.raw('GET', '/api/opaque/items');
    const token = opaqueEcho.requests.at(-1)!.token!;
    const { idp, clock } = f.gatehouse.gh.deps;
    await idp.revoke(token, 'access_token');
    // A check with its own, empty cache: the router's still holds the answer from before.
    const check = audienceCheck(idp.clientId, idp, clock);
    const upstream = f.gatehouse.gh.upstreams.find((u) => u.name === 'opaque')!;
    await assert.rejects(
      check(token, upstream),
      (error: AppError) => error.status === 401 && error.code === 'token_inactive',
    );
  });

  test("an upstream that takes the user's token without audience or resource gets a start-up warning saying why", () => {
    const warnings = f.gatehouse.logs
      .filter((line) => line.includes('without an audience or resource'))
      .map((line) => JSON.parse(line));
    const named = warnings.map((w) => w.upstream).sort();
    // readonly, down and slow take the user's token unbound; echo, stats, wrongaud and opaque are bound.
    assert.deepEqual(named, ['down', 'readonly', 'slow']);
    assert.equal(warnings[0].level, 'warn');
    assert.match(warnings[0].reason, /replay it against any other API/);
  });
});

describe('with an IdP that offers no introspection', () => {
  let plain: ProxyFixture;
  let plainEcho: EchoUpstream;
  before(async () => {
    plainEcho = await new EchoUpstream().start();
    plain = await startProxyFixture({
      devIdp: { introspection: false },
      upstreams: () => [
        { name: 'opaque', url: plainEcho.url, token: 'user', audience: 'opaque-api', resource: 'urn:gatehouse:opaque' },
      ],
    });
  });
  after(async () => {
    await plain.stop();
    await plainEcho.stop();
  });

  test('an opaque token for an upstream with an audience is refused with 502 audience_unverifiable naming the fix, and never sent', async () => {
    const response = await plain.raw('GET', '/api/opaque/items');
    assert.equal(response.status, 502);
    const body = JSON.parse(response.body);
    assert.equal(body.error, 'audience_unverifiable');
    assert.match(body.hint, /issue JWT access tokens for audience 'opaque-api', or enable token introspection/);
    assert.equal(plainEcho.arrivals, 0);
  });
});
