import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { StandInAnswer } from '../server/dev/dev-idp.ts';
import { refreshFailureTtlMs, TokenRefresher } from '../server/grants/token-refresher.ts';
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

test('a failed refresh is not retried for 30 s: two calls make one IdP request, the same error, and a call after 30 s tries again', async () => {
  f = await startProxyFixture();
  const grant = (await aliceGrant(f))!;
  const idp = standInTokenEndpoint(f, { status: 503, contentType: 'text/plain', body: 'down for maintenance' });

  f.clock.advance(10 * minute);
  const first = await f.call('/api/echo/items');
  const second = await f.call('/api/echo/items');
  assert.equal(first.response.status, 503);
  assert.equal(first.json.error, 'idp_unavailable');
  assert.equal(second.response.status, 503);
  assert.equal(second.json.error, 'idp_unavailable');
  assert.equal(idp.refreshes(), 1, 'one IdP request for two calls');
  assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id));

  assert.equal(refreshFailureTtlMs, 30_000);
  f.clock.advance(refreshFailureTtlMs - 1);
  const stillRemembered = await f.call('/api/echo/items');
  assert.equal(stillRemembered.response.status, 503);
  assert.equal(stillRemembered.json.error, 'idp_unavailable');
  assert.equal(idp.refreshes(), 1, '1 ms before the 30 s are up the failure is still recalled, not retried');

  f.clock.advance(1);
  f.gatehouse.gh.devIdp!.tokenEndpointStandIn = undefined;
  assert.equal(
    (await f.call('/api/echo/items')).response.status,
    200,
    'after 30 s the refresh is tried again and works',
  );
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
