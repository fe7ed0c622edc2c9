import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiToken } from './helpers/api-tokens.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { EchoUpstream } from './helpers/echo-upstream.ts';
import {
  CookieBrowser,
  signIn,
  signOutAtIdp,
  startCluster,
  startGatehouse,
  TestClock,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

// The /api fast path (server/proxy/api-handler.ts) runs outside Express but must apply every
// rule the pages apply: these tests pin the rules it shares with them.

const second = 1000;

describe('the /api fast path on one instance', () => {
  let echo: EchoUpstream;
  let gatehouse: TestGatehouse;
  const clock = new TestClock();

  before(async () => {
    echo = await new EchoUpstream('renku').start();
    gatehouse = await startGatehouse(
      {
        GATEHOUSE_APIS: writeApisFile([{ name: 'echo', url: echo.url, token: 'user', audience: 'renku' }]),
        GATEHOUSE_SESSION_IDLE: '60',
        GATEHOUSE_SESSION_MAX: '3600',
        GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '2/300',
      },
      { clock: clock.read },
    );
    echo.issuer = gatehouse.gh.config.oidc.issuer!;
  });
  after(async () => {
    await gatehouse?.stop();
    await echo?.stop();
  });

  const api = (cookie: string, path = '/api/echo/items', headers: Record<string, string> = {}) =>
    fetch(`${gatehouse.url}${path}`, { headers: { cookie, 'x-csrf': '1', ...headers } });

  test('a session used only through /api slides its idle timeout, as page use does', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(gatehouse.url));
    for (let i = 0; i < 4; i++) {
      clock.advance(50 * second);
      assert.equal((await api(cookie)).status, 200, `still signed in after ${(i + 1) * 50} s of API calls alone`);
    }
    const user = await browser.request(`${gatehouse.url}/auth/user`);
    assert.equal(user.status, 200);
    const { session } = (await user.json()) as { session: { expiresAt: string } };
    assert.equal(Date.parse(session.expiresAt), clock.now + 60 * second);
  });

  test('an idle session is ended by its next /api call: 401, and the grant is deleted', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'bob');
    const cookie = browser.cookieHeader(new URL(gatehouse.url));
    assert.equal((await api(cookie)).status, 200);
    const [grantId] = await gatehouse.gh.deps.grants.idsBySub('bob');
    clock.advance(61 * second);
    const refused = await api(cookie);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: string }).error, 'unauthenticated');
    assert.equal(await gatehouse.gh.deps.store.get(`grant:${grantId}`), undefined);
  });

  test('a forged session cookie on /api is refused, cleared and counted as a failed credential', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const real = browser.cookieHeader(new URL(gatehouse.url));
    const forged = real.replace(
      /gatehouse=s%3A([^.]+)\.[^;]+/,
      'gatehouse=s%3A$1.forgedsignatureforgedsignatureforgedsig',
    );
    assert.notEqual(forged, real);
    const first = await api(forged);
    assert.equal(first.status, 401);
    assert.match(first.headers.get('set-cookie') ?? '', /^gatehouse=; Path=\/; Expires=Thu, 01 Jan 1970/);
    assert.equal((await api(forged)).status, 401);
    const limited = await api(forged);
    assert.equal(limited.status, 429, 'the third failed credential from this address is over the 2/300 limit');
    assert.equal((await api(real)).status, 200, 'a valid cookie from the same address still works');
  });

  test("proxied answers carry Gatehouse's security headers and the proxied-data policy, and one log line without the query", async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const logged = gatehouse.logs.length;
    const response = await api(browser.cookieHeader(new URL(gatehouse.url)), '/api/echo/items?code=secret-code');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'.*sandbox/);
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const lines = gatehouse.logs
      .slice(logged)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request');
    assert.deepEqual(
      lines.map((line) => [line.method, line.path, line.status, line.requestId]),
      [['GET', '/api/echo/items', 200, response.headers.get('x-request-id')]],
    );
  });

  test('a known session has its grant read beside its session record, in one store round trip', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(gatehouse.url));
    assert.equal((await api(cookie)).status, 200, 'the first call learns which grant the session has');
    const store = gatehouse.gh.deps.store;
    const get = store.get;
    const reads: string[] = [];
    store.get = async (key: string) => {
      const kind = key.split(':')[0]!;
      reads.push(`start ${kind}`);
      const value = await get.call(store, key);
      reads.push(`end ${kind}`);
      return value;
    };
    try {
      assert.equal((await api(cookie)).status, 200);
    } finally {
      store.get = get;
    }
    // With Redis, reads started together go out in one write and come back in one answer.
    assert.ok(
      reads.indexOf('start grant') < reads.indexOf('end session'),
      `the grant read starts before the session read ends: ${reads.join(', ')}`,
    );
  });

  test('refusals on the fast path are the error handler’s JSON, with no-store and the request id', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(gatehouse.url));
    const noCsrf = await fetch(`${gatehouse.url}/api/echo/items`, { headers: { cookie } });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.headers.get('cache-control'), 'no-store');
    const body = (await noCsrf.json()) as { error: string; requestId: string };
    assert.equal(body.error, 'csrf_header_missing');
    assert.equal(body.requestId, noCsrf.headers.get('x-request-id'));
    const unknown = await api(cookie, '/API/nowhere/items');
    assert.equal(unknown.status, 404, '/API in another case reaches the fast path, as the Express mount matched it');
    assert.equal(((await unknown.json()) as { error: string }).error, 'unknown_upstream');
  });
});

describe('the /api fast path on two instances sharing Redis', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let echo: EchoUpstream;
  let a: TestGatehouse;
  let b: TestGatehouse;

  before(async () => {
    redis = await startTestRedis();
    echo = await new EchoUpstream('renku').start();
    const apis = writeApisFile([{ name: 'echo', url: echo.url, token: 'user', audience: 'renku' }]);
    cluster = await startCluster(2, { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_APIS: apis });
    echo.issuer = cluster.idp.issuer;
    [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
  });
  after(async () => {
    await cluster?.stop();
    await echo?.stop();
    await redis?.close();
  });

  /** Signs alice in on A and makes B serve her twice, so every per-process cache on B holds her. */
  async function warmOnB(): Promise<{ browser: CookieBrowser; call: () => Promise<Response> }> {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(a.url));
    const call = () => fetch(`${b.url}/api/echo/items`, { headers: { cookie, 'x-csrf': '1' } });
    for (let i = 0; i < 2; i++) assert.equal((await call()).status, 200);
    return { browser, call };
  }

  test('a logout on instance A refuses the very next /api call on instance B', async () => {
    const { browser, call } = await warmOnB();
    const seen = echo.requests.length;
    const loggedOut = await browser.request(`${a.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    assert.equal(loggedOut.status, 302);
    const next = await call();
    assert.equal(next.status, 401);
    assert.equal(echo.requests.length, seen, 'nothing reached the upstream after the logout');
  });

  test('a back-channel logout delivered to A refuses the very next /api call on B', async () => {
    const { browser, call } = await warmOnB();
    await signOutAtIdp(browser, `${cluster.idp.issuer}/session/end?client_id=gatehouse`);
    assert.equal((await call()).status, 401);
  });

  test('an API token revoked on A is refused by the very next call on B', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    const { secret } = await createApiToken(a, browser, { name: 'pipeline' });
    const call = () => fetch(`${b.url}/api/echo/items`, { headers: { authorization: `Bearer ${secret}` } });
    for (let i = 0; i < 2; i++) assert.equal((await call()).status, 200);
    const listed = (await (await browser.request(`${a.url}/auth/tokens`)).json()) as { tokens: Array<{ id: string }> };
    const revoked = await browser.request(`${a.url}/auth/tokens/${listed.tokens[0]!.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(revoked.status, 204);
    const next = await call();
    assert.equal(next.status, 401);
    assert.equal(((await next.json()) as { error: string }).error, 'invalid_token');
  });
});
