import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { StandInAnswer } from '../server/dev/dev-idp.ts';
import {
  firstUnavailableBackoffMs,
  maxUnavailableBackoffMs,
  refreshFailureTtlMs,
  TokenRefresher,
} from '../server/grants/token-refresher.ts';
import { aliceGrant, type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

let f: ProxyFixture | undefined;
afterEach(async () => {
  if (f) f.gatehouse.gh.devIdp!.tokenEndpointStandIn = undefined;
  await f?.stop();
  f = undefined;
});

const minute = 60_000;

/**
 * Puts a stand-in in front of the IdP's token endpoint that answers every request with
 * `answer`, and counts the refresh-token requests it saw.
 */
function standInTokenEndpoint(fixture: ProxyFixture, answer: StandInAnswer): { refreshes: () => number } {
  let refreshes = 0;
  fixture.gatehouse.gh.devIdp!.tokenEndpointStandIn = (params) => {
    if (params.get('grant_type') === 'refresh_token') refreshes++;
    return answer;
  };
  return { refreshes: () => refreshes };
}

test('a bare 400 with an empty body to a refresh (Glewlwyd) ends the grant: 401 session_expired, signed out, and a second call reaches neither the IdP nor the upstream', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  const idp = standInTokenEndpoint(f, { status: 400 });
  const arrivals = f.echo.arrivals;

  f.clock.advance(10 * minute);
  const first = await f.call('/api/echo/items');
  assert.equal(first.response.status, 401);
  assert.equal(first.json.error, 'session_expired');
  assert.equal(await f.gatehouse.gh.deps.grants.get(grant.id), undefined, 'the grant ended');
  const user = await f.call('/auth/user');
  assert.equal(user.response.status, 401, '/auth/user says signed out');

  const second = await f.call('/api/echo/items');
  assert.equal(second.response.status, 401);
  assert.equal(idp.refreshes(), 1, 'the ended grant sends its dead refresh token no more');
  assert.equal(f.echo.arrivals, arrivals);
  const ended = f.gatehouse.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => String(line.msg).startsWith('grant ended'));
  assert.equal(ended?.idpError, 'HTTP 400');
});

test("a 400 invalid_request to a refresh (LemonLDAP::NG's answer to an unknown refresh token) ends the grant too", async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  standInTokenEndpoint(f, { status: 400, contentType: 'application/json', body: '{"error":"invalid_request"}' });

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 401);
  assert.equal(json.error, 'session_expired');
  assert.equal(await f.gatehouse.gh.deps.grants.get(grant.id), undefined);
});

test('invalid_client at refresh is a 503 that keeps the session, logged as a configuration problem', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  standInTokenEndpoint(f, {
    status: 401,
    contentType: 'application/json',
    body: '{"error":"invalid_client","error_description":"client authentication failed"}',
  });

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 503);
  assert.equal(json.error, 'idp_client_refused');
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id), 'the grant stays');
  assert.equal((await f.call('/auth/user')).response.status, 200, 'still signed in');
  const logged = f.gatehouse.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === 'idp_client_refused');
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!.reason, 'invalid_client');
  assert.equal(logged[0]!.level, 'error');
});

test('unauthorized_client at refresh is a 503 that keeps the session too', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  standInTokenEndpoint(f, { status: 400, contentType: 'application/json', body: '{"error":"unauthorized_client"}' });

  f.clock.advance(10 * minute);
  const { response, json } = await f.call('/api/echo/items');
  assert.equal(response.status, 503);
  assert.equal(json.error, 'idp_client_refused');
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id));
});

test('a refresh the IdP refused (4xx) is not retried for 30 s: two calls make one IdP request, and a call after 30 s tries again', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  const idp = standInTokenEndpoint(f, {
    status: 401,
    contentType: 'application/json',
    body: '{"error":"invalid_client"}',
  });

  f.clock.advance(10 * minute);
  const first = await f.call('/api/echo/items');
  const second = await f.call('/api/echo/items');
  assert.equal(first.response.status, 503);
  assert.equal(first.json.error, 'idp_client_refused');
  assert.equal(second.json.error, 'idp_client_refused');
  assert.equal(idp.refreshes(), 1, 'one IdP request for two calls');
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id));

  assert.equal(refreshFailureTtlMs, 30_000);
  f.clock.advance(refreshFailureTtlMs - 1);
  assert.equal((await f.call('/api/echo/items')).json.error, 'idp_client_refused');
  assert.equal(idp.refreshes(), 1, '1 ms before the 30 s are up the refusal is still recalled, not retried');

  f.clock.advance(1);
  f.gatehouse.gh.devIdp!.tokenEndpointStandIn = undefined;
  assert.equal(
    (await f.call('/api/echo/items')).response.status,
    200,
    'after 30 s the refresh is tried again and works',
  );
});

test('while the IdP answers 5xx, refreshes back off 250 ms, 500 ms, 1 s, then every 2 s; once it is back, a call within 2 s works', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  const idp = standInTokenEndpoint(f, { status: 503, contentType: 'text/plain', body: 'down for maintenance' });
  f.clock.advance(10 * minute);

  const call = async () => (await f!.call('/api/echo/items')).json.error;
  assert.equal(await call(), 'idp_unavailable');
  assert.equal(await call(), 'idp_unavailable');
  assert.equal(idp.refreshes(), 1, 'the second call, at once, is answered from the store');
  for (const [waitMs, attempts] of [
    [firstUnavailableBackoffMs, 2],
    [500, 3],
    [1_000, 4],
    [maxUnavailableBackoffMs, 5],
    [maxUnavailableBackoffMs, 6],
  ] as const) {
    f.clock.advance(waitMs - 1);
    assert.equal(await call(), 'idp_unavailable');
    assert.equal(idp.refreshes(), attempts - 1, `not retried 1 ms before ${waitMs} ms`);
    f.clock.advance(1);
    assert.equal(await call(), 'idp_unavailable');
    assert.equal(idp.refreshes(), attempts, `retried after ${waitMs} ms`);
  }
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id), 'nobody is signed out');

  f.gatehouse.gh.devIdp!.tokenEndpointStandIn = undefined;
  f.clock.advance(maxUnavailableBackoffMs);
  assert.equal((await f.call('/api/echo/items')).response.status, 200, 'the IdP is back: the next call refreshes');
});

test('an IdP stopped during a refresh and started again: the next call within 3 s of its return succeeds, with the same session', async () => {
  f = await startProxyFixture();
  const devIdp = f.gatehouse.gh.devIdp!;
  f.clock.advance(10 * minute);
  await devIdp.stopListening();
  try {
    for (let i = 0; i < 6; i++) {
      const { response, json } = await f.call('/api/echo/items');
      assert.equal(response.status, 503);
      assert.equal(json.error, 'idp_unavailable');
      f.clock.advance(1_000);
    }
  } finally {
    await devIdp.listenAgain();
  }
  f.clock.advance(3_000);
  const back = await f.call('/api/echo/items');
  assert.equal(back.response.status, 200, 'the first call after the IdP is back works');
  assert.equal((await f.call('/auth/user')).response.status, 200, 'still signed in');
});

test('the remembered failure is kept in the store, so another instance sharing it does not ask the IdP either', async () => {
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
  const grant = (await aliceGrant(f))!;
  const standIn = standInTokenEndpoint(f, {
    status: 401,
    contentType: 'application/json',
    body: '{"error":"invalid_client"}',
  });
  f.clock.advance(10 * minute);

  await assert.rejects(instance().userAccessToken(grant), { code: 'idp_client_refused', status: 503 });
  await assert.rejects(instance().userAccessToken(grant), { code: 'idp_client_refused', status: 503 });
  assert.equal(standIn.refreshes(), 1, 'the second instance answered from the store');
});
