import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { TokenRefresher } from '../server/grants/token-refresher.ts';
import { createApiToken } from './helpers/api-tokens.ts';
import { aliceGrant, type ProxyFixture, startProxyFixture, tokenRequests } from './helpers/proxy-fixture.ts';

let f: ProxyFixture | undefined;
afterEach(async () => {
  await f?.stop();
  f = undefined;
});

const minute = 60_000;

test('a token is refreshed once it is within the skew of expiry, and not before', async () => {
  f = await startProxyFixture({ accessTokenTtlSeconds: 120 });
  const refreshes = tokenRequests(f, 'refresh_token');
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  const first = f.echo.requests.at(-1)!.token;

  // expires_in is counted by the IdP in real time, so leave a few seconds' slack either side.
  f.clock.advance(50_000); // about 70 s left: outside the 60 s skew
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  assert.equal(f.echo.requests.at(-1)!.token, first);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes);

  f.clock.advance(15_000); // about 55 s left: inside the skew
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  const second = f.echo.requests.at(-1)!;
  assert.notEqual(second.token, first);
  assert.equal(second.claims?.sub, 'alice', 'the upstream verified the new token');
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1);

  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  assert.equal(f.echo.requests.at(-1)!.token, second.token);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1);
});

test('20 concurrent calls with an expired token cause exactly one refresh, all succeed, and the rotated refresh token replaces the old one', async () => {
  f = await startProxyFixture();
  const { grants } = f.gatehouse.gh.deps;
  const before = grants.tokens((await aliceGrant(f))!);
  const refreshes = tokenRequests(f, 'refresh_token');
  const seen = f.echo.requests.length;
  // Observe the real store: inside one process the callers share one refresh, so the
  // cross-instance lock is taken once rather than fought over by 20 pollers.
  const store = f.gatehouse.gh.deps.store;
  const setIfAbsent = store.setIfAbsent.bind(store);
  let lockAttempts = 0;
  store.setIfAbsent = (key, value, ttlMs) => {
    if (key.startsWith('lock:refresh:')) lockAttempts++;
    return setIfAbsent(key, value, ttlMs);
  };

  f.clock.advance(10 * minute);
  const results = await Promise.all(Array.from({ length: 20 }, () => f!.call('/api/echo/items')));
  assert.deepEqual(
    results.map((r) => r.response.status),
    Array(20).fill(200),
  );
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1);
  assert.equal(lockAttempts, 1);

  const sent = new Set(f.echo.requests.slice(seen).map((r) => r.token));
  assert.equal(sent.size, 1, 'every call carried the one refreshed token');
  assert.ok(!sent.has(before.accessToken));
  const after = grants.tokens((await aliceGrant(f))!);
  assert.ok(after.refreshToken && after.refreshToken !== before.refreshToken, 'the rotated refresh token was stored');
  assert.equal(after.accessToken, [...sent][0]);

  // The stored rotated refresh token works: the next expiry is refreshed, not fatal.
  f.clock.advance(10 * minute);
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 2);
});

test("two instances sharing one store refresh a grant once: the store lock and the re-read make the second use the first one's tokens", async () => {
  f = await startProxyFixture();
  const { grants, idp, store, logger } = f.gatehouse.gh.deps;
  const instance = () =>
    new TokenRefresher({
      grants,
      idp,
      store,
      clock: f!.clock.read,
      logger,
      skewMs: minute,
      lockTtlMs: 15_000,
      lockWaitMs: 11_000,
    });
  const [a, b] = [instance(), instance()];
  const grant = (await aliceGrant(f))!;
  const refreshes = tokenRequests(f, 'refresh_token');

  f.clock.advance(10 * minute);
  const tokens = await Promise.all([
    ...Array.from({ length: 10 }, () => a.userAccessToken(grant)),
    ...Array.from({ length: 10 }, () => b.userAccessToken(grant)),
  ]);
  assert.equal(new Set(tokens).size, 1);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1);
  assert.ok(await grants.get(grant.id), 'the grant survived (a double refresh of a rotated token revokes it)');
});

test('invalid_grant at refresh ends the grant: 401 session_expired with a loginUrl, and the session is gone', async () => {
  f = await startProxyFixture();
  const { grants, idp } = f.gatehouse.gh.deps;
  const grant = (await aliceGrant(f))!;
  await idp.revoke(grants.tokens(grant).refreshToken!, 'refresh_token');
  const arrivals = f.echo.arrivals;

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 401);
  assert.equal(json.error, 'session_expired');
  assert.equal(json.loginUrl, '/auth/login');
  assert.equal(await grants.get(grant.id), undefined);
  assert.equal(f.echo.arrivals, arrivals);
  assert.equal((await f.call('/auth/user')).response.status, 401);
});

test('an IdP that cannot be reached during refresh answers 503 and keeps the grant', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  await f.gatehouse.gh.devIdp!.close();

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 503);
  assert.equal(json.error, 'idp_unavailable');
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id));
  assert.equal((await f.call('/auth/user')).response.status, 200);
});

test('a store that fails during a refresh answers 503 store_unavailable and ends nothing', async () => {
  f = await startProxyFixture();
  const { store } = f.gatehouse.gh.deps;
  const grant = (await aliceGrant(f))!;
  const refreshes = tokenRequests(f, 'refresh_token');
  store.setIfAbsent = () => Promise.reject(new Error('connection lost'));

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 503);
  assert.equal(json.error, 'store_unavailable');
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes);
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id));
});

test('an upstream 401 invalid_token to a request without a body gets one refresh and one retry with the new token', async () => {
  f = await startProxyFixture();
  const refreshes = tokenRequests(f, 'refresh_token');
  const seen = f.echo.requests.length;
  f.echo.rejectNext = 1;
  const { response } = await f.call('/api/echo/items');
  assert.equal(response.status, 200);
  const [rejected, retried] = f.echo.requests.slice(seen);
  assert.ok(rejected && retried);
  assert.notEqual(retried.token, rejected.token);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1);

  // A second refusal is the upstream's answer, passed back: one retry, never a loop.
  f.echo.rejectNext = 2;
  const twice = await f.call('/api/echo/items');
  assert.equal(twice.response.status, 401);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 2);
});

test('an upstream 401 invalid_token to a request with a body is passed back without a retry', async () => {
  f = await startProxyFixture();
  const refreshes = tokenRequests(f, 'refresh_token');
  const seen = f.echo.requests.length;
  f.echo.rejectNext = 1;
  const { response, json } = await f.call('/api/echo/items', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
  });
  assert.equal(response.status, 401);
  assert.equal(json.error, 'invalid_token');
  assert.match(response.headers.get('www-authenticate') ?? '', /invalid_token/);
  assert.equal(f.echo.requests.length, seen + 1);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes);
});

test("a token whose audience lacks the upstream's is refused with 403 and a hint naming the fix, and the upstream is never called", async () => {
  f = await startProxyFixture();
  const arrivals = f.statsEcho.arrivals + f.echo.arrivals;
  const { response, json } = await f.call('/api/wrongaud/items');
  assert.equal(response.status, 403);
  assert.equal(json.error, 'audience_mismatch');
  assert.equal(json.expected, 'stats');
  assert.deepEqual(json.got, ['renku', 'dataverse', 'account']);
  assert.match(String(json.hint), /Audience mapper for 'stats' to client 'gatehouse'/);
  assert.equal(f.statsEcho.arrivals + f.echo.arrivals, arrivals);
});

test('an upstream with a resource gets a token for that resource, cached per grant, while the grant keeps its own token', async () => {
  f = await startProxyFixture();
  const { grants } = f.gatehouse.gh.deps;
  const own = grants.tokens((await aliceGrant(f))!);
  const refreshes = tokenRequests(f, 'refresh_token');

  for (let i = 0; i < 3; i++) assert.equal((await f.call('/api/stats/numbers')).response.status, 200);
  const received = f.statsEcho.requests.map((r) => r.claims?.aud);
  assert.deepEqual(
    received,
    [['stats'], ['stats'], ['stats']],
    'the upstream verified an audience-stats token each time',
  );
  assert.equal(new Set(f.statsEcho.tokens).size, 1);
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1, 'the resource token was fetched once');

  const now = grants.tokens((await aliceGrant(f))!);
  assert.equal(now.accessToken, own.accessToken);
  assert.notEqual(now.refreshToken, own.refreshToken, 'the refresh token rotated by the resource request was stored');
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  assert.equal(f.echo.requests.at(-1)!.token, own.accessToken);
});

test("a client-credentials upstream gets Gatehouse's own token, cached until it nears expiry", async () => {
  f = await startProxyFixture();
  const before = tokenRequests(f, 'client_credentials');
  for (let i = 0; i < 3; i++) assert.equal((await f.call('/api/service/jobs')).response.status, 200);
  const calls = f.echo.requests.filter((r) => r.url.startsWith('/service/'));
  assert.deepEqual(
    calls.map((r) => r.claims?.sub),
    ['gatehouse', 'gatehouse', 'gatehouse'],
    "the token is the client's, not alice's",
  );
  assert.equal(tokenRequests(f, 'client_credentials'), before + 1);

  f.clock.advance(241_000); // 300 s tokens, 60 s skew
  assert.equal((await f.call('/api/service/jobs')).response.status, 200);
  assert.equal(tokenRequests(f, 'client_credentials'), before + 2);
});

test("creating an API token leaves the browser's own grant able to refresh", async () => {
  // The token's authorization runs in the same IdP session (prompt=consent). At oidc-provider,
  // whose session keeps one grant per client, the token's grant once took the browser's place,
  // and the browser's next refresh was refused (invalid_grant), signing the user out.
  f = await startProxyFixture({ accessTokenTtlSeconds: 120 });
  assert.equal((await f.call('/api/echo/items')).response.status, 200);
  const { secret } = await createApiToken(f.gatehouse, f.browser);
  const refreshes = tokenRequests(f, 'refresh_token');
  f.clock.advance(65_000); // about 55 s left: inside the refresh skew
  const after = await f.call('/api/echo/items');
  assert.equal(after.response.status, 200, 'the browser is still signed in');
  assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1, 'its grant was refreshed');
  assert.ok(secret.startsWith('gh_'));
});
