import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { writeApisFile } from './helpers/apis-file.ts';
import { callbackUrlFor, CookieBrowser, startCluster, startGatehouse, type TestCluster, type TestGatehouse } from './helpers/harness.ts';
import { freePort } from './helpers/ports.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';
import { callEnvelope, callSoap, decodeBase64, fault, text } from './helpers/soap.ts';

// This machine's addresses, each a distinct client to a Gatehouse listening on all interfaces:
// loopback (trusted as a proxy by default), a public-looking IPv4 and a unique-local IPv6.
const loopback = '127.0.0.1';
const otherV4 = '192.0.2.2';
const uniqueLocalV6 = '[fd00::2]';

/** The instance's URL as reached from `host` (the client address Gatehouse sees). */
function from(gh: TestGatehouse, host: string): string {
  return `http://${host}:${gh.gh.config.port}`;
}

function loginFrom(gh: TestGatehouse, host: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${from(gh, host)}/auth/login`, { redirect: 'manual', headers: { accept: 'text/html', ...headers } });
}

function refusals(gh: TestGatehouse): Array<Record<string, unknown>> {
  return gh.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'rate limited');
}

/** Seed steps 2–5 against `gh`, reached from `host`: a ContextID and the code and state the IdP sent back. */
async function soapLoginContext(gh: TestGatehouse, host: string): Promise<{ contextId: string; code: string; state: string }> {
  const answer = await callSoap(from(gh, host), 'GetExternalLoginRedirectURL', [['RequestURL', `${gh.gh.config.publicUrl}/external/callback`]]);
  assert.equal(answer.status, 200, answer.body);
  const back = new URL(await callbackUrlFor(gh, new CookieBrowser(), 'alice', decodeBase64(text(answer.body, 'RedirectURL')), '/external/callback'));
  return { contextId: text(answer.body, 'ContextID'), code: back.searchParams.get('code')!, state: back.searchParams.get('state')! };
}

function externalLogin(url: string, input: { code: string; state: string; contextId: string }) {
  return callSoap(url, 'ExternalLogin', [['Code', input.code], ['State', input.state], ['ContextID', input.contextId]]);
}

function assertRetryAfter(response: { headers: Headers } | Response, maxSeconds: number): void {
  const value = Number(response.headers.get('retry-after'));
  assert.ok(Number.isInteger(value) && value >= 1 && value <= maxSeconds, `Retry-After ${response.headers.get('retry-after')}`);
}

describe('rate limits on anonymous calls that start a sign-in', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({
      GATEHOUSE_RATE_LIMIT_LOGIN: '3/60',
      GATEHOUSE_RATE_LIMIT_BACKCHANNEL_LOGOUT: '2/60',
    });
  });
  after(() => gh.stop());

  test('GET /auth/login past its per-address limit answers a 429 page with Retry-After, stores nothing and logs the refusal', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await loginFrom(gh, loopback)).status, 302);
    const store = gh.gh.deps.store as unknown as { size: number };
    const before = store.size;

    const refused = await loginFrom(gh, loopback);
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.match(refused.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await refused.text(), /rate_limited/);
    assert.equal(store.size, before, 'no login transaction was stored');

    const line = refusals(gh).at(-1);
    assert.equal(line?.limit, 'login:auth_login');
    assert.match(String(line?.clientIp), /127\.0\.0\.1$/);

    // The same refusal, as an API client asks for it.
    const json = await loginFrom(gh, loopback, { accept: 'application/json' });
    assert.equal(json.status, 429);
    const body = await json.json() as { error: string; retryAfter: number };
    assert.equal(body.error, 'rate_limited');
    assert.equal(String(body.retryAfter), json.headers.get('retry-after'));

    // Another address has its own budget.
    assert.equal((await loginFrom(gh, otherV4)).status, 302);
  });

  test('GET /external/login is limited per browser address, and its SOAP call counts the browser, not Gatehouse', async () => {
    const start = (host: string) => fetch(`${from(gh, host)}/external/login`, { redirect: 'manual', headers: { accept: 'text/html' } });
    for (let i = 0; i < 3; i++) assert.equal((await start(loopback)).status, 302);
    const refused = await start(loopback);
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.match(refused.headers.get('content-type') ?? '', /^text\/html/);
    // Gatehouse's own GetExternalLoginRedirectURL calls were counted for 127.0.0.1, not for
    // Gatehouse: another browser still gets through both limits.
    assert.equal((await start(otherV4)).status, 302);
    assert.deepEqual(refusals(gh).at(-1)?.limit, 'login:external_login');
  });

  test('GetExternalLoginRedirectURL past its limit is a SOAP Server fault with 429 and Retry-After', async () => {
    const call = () => callSoap(from(gh, '[::1]'), 'GetExternalLoginRedirectURL', [['RequestURL', `${gh.gh.config.publicUrl}/external/callback`]]);
    for (let i = 0; i < 3; i++) assert.equal((await call()).status, 200);
    const response = await fetch(`${from(gh, '[::1]')}/Session`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: callEnvelope('GetExternalLoginRedirectURL', [['RequestURL', `${gh.gh.config.publicUrl}/external/callback`]]),
    });
    const body = await response.text();
    assert.equal(response.status, 429);
    assertRetryAfter(response, 60);
    assert.match(response.headers.get('content-type') ?? '', /^text\/xml/);
    assert.deepEqual(fault({ status: 429, contentType: '', body }), { faultcode: 'Server', faultstring: `Too many requests; try again in ${response.headers.get('retry-after')} seconds.` });
    assert.equal(refusals(gh).at(-1)?.limit, 'login:get_external_login_redirect_url');
  });

  test('POST /auth/backchannel-logout past its limit answers 429 JSON', async () => {
    const post = () => fetch(`${from(gh, uniqueLocalV6)}/auth/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'nothing=here',
    });
    for (let i = 0; i < 2; i++) assert.equal((await post()).status, 400);
    const refused = await post();
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.equal((await refused.json() as { error: string }).error, 'rate_limited');
  });
});

describe('the global limit on sign-in starts', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({ GATEHOUSE_RATE_LIMIT_LOGIN: '100/60', GATEHOUSE_RATE_LIMIT_LOGIN_GLOBAL: '4/60' });
  });
  after(() => gh.stop());

  test('counts every address together: a fresh address is refused once all of them used the budget', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await loginFrom(gh, loopback)).status, 302);
    for (let i = 0; i < 2; i++) assert.equal((await loginFrom(gh, otherV4)).status, 302);
    const refused = await loginFrom(gh, uniqueLocalV6);
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.equal(refusals(gh).at(-1)?.limit, 'login_global:auth_login');
  });
});

describe('the limit on failed credentials', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({ GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '3/300' });
  });
  after(() => gh.stop());

  test('unknown bearer handles past the limit refuse that address even a valid IdentityToken; other addresses go on', async () => {
    const { contextId, code, state } = await soapLoginContext(gh, otherV4);
    const signedIn = await externalLogin(from(gh, otherV4), { contextId, code, state });
    assert.equal(signedIn.status, 200, signedIn.body);
    const identityToken = text(signedIn.body, 'IdentityToken');
    const user = (host: string, handle: string) => fetch(`${from(gh, host)}/auth/user`, { headers: { authorization: `Bearer ${handle}` } });

    for (let i = 0; i < 3; i++) assert.equal((await user(loopback, `guess-${i}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`)).status, 401);
    const refused = await user(loopback, identityToken);
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 300);
    assert.equal((await refused.json() as { error: string }).error, 'rate_limited');
    assert.equal((await user(otherV4, identityToken)).status, 200);

    const line = refusals(gh).at(-1);
    assert.equal(line?.limit, 'failed_credentials');
    assert.ok(!gh.logs.join('\n').includes(identityToken), 'no IdentityToken in the log');
  });

  test('a session cookie that reaches no session counts once per browser (it is cleared) and past the limit is refused', async () => {
    const url = `${from(gh, '[::1]')}/auth/user`;
    const first = await fetch(url, { headers: { cookie: 'gatehouse=s%3Aforged.signature' } });
    assert.equal(first.status, 401);
    assert.match(first.headers.getSetCookie().join('\n'), /^gatehouse=;.*Expires=Thu, 01 Jan 1970/m, 'the unknown cookie is cleared');
    for (let i = 0; i < 2; i++) assert.equal((await fetch(url, { headers: { cookie: `gatehouse=s%3Aguess${i}.sig` } })).status, 401);
    const refused = await fetch(url, { headers: { cookie: 'gatehouse=s%3Aguess3.sig', accept: 'application/json' } });
    assert.equal(refused.status, 429);
    // Without a credential the address may still reach public pages.
    assert.equal((await fetch(url)).status, 401);
  });

  test('wrong ContextIDs and States in ExternalLogin past the limit refuse even the right ones, without using the context up', async () => {
    const caller = from(gh, uniqueLocalV6);
    const right = await soapLoginContext(gh, uniqueLocalV6);
    const unknown = '{00000000-0000-0000-0000-000000000000}';
    assert.equal(fault(await externalLogin(caller, { ...right, contextId: unknown })).faultcode, 'Client');
    assert.equal(fault(await externalLogin(caller, { ...right, contextId: '{11111111-1111-1111-1111-111111111111}' })).faultcode, 'Client');
    const spent = await soapLoginContext(gh, uniqueLocalV6);
    assert.equal(fault(await externalLogin(caller, { ...spent, state: 'not-the-state' })).faultstring, 'State does not belong to this context.');

    const refused = await externalLogin(caller, right);
    assert.equal(refused.status, 429);
    assert.equal(fault(refused).faultcode, 'Server');
    assert.equal(refusals(gh).at(-1)?.limit, 'failed_credentials');
    // The refused attempt changed nothing: from another address the same context still signs in.
    const elsewhere = await externalLogin(from(gh, otherV4), right);
    assert.equal(elsewhere.status, 200, elsewhere.body);
  });

  test('unknown IdentityTokens in SOAP Logout count as failed credentials', async () => {
    const logout = () => callSoap(from(gh, otherV4), 'Logout', [['IdentityToken', 'no-such-identity-token-aaaaaaaaaaaaaaaaaaaaaaa']]);
    for (let i = 0; i < 3; i++) assert.equal(fault(await logout()).faultstring, 'Invalid or ended IdentityToken.');
    const refused = await logout();
    assert.equal(refused.status, 429);
    assert.equal(fault(refused).faultcode, 'Server');
    const counted = gh.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'credential refused');
    assert.ok(counted.some((l) => l.credential === 'identity_token') && counted.some((l) => l.credential === 'context_id') && counted.some((l) => l.credential === 'state')
      && counted.some((l) => l.credential === 'bearer_handle') && counted.some((l) => l.credential === 'session_cookie'));
  });
});

describe('rate limits across instances', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  before(async () => {
    redis = await startTestRedis();
    cluster = await startCluster(2, {
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_REDIS_URL: redis.url,
      GATEHOUSE_RATE_LIMIT_LOGIN: '4/60',
      GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '2/300',
    });
  });
  after(async () => {
    await cluster?.stop();
    await redis?.close();
  });

  test('two instances on one Redis share one sign-in counter per address', async () => {
    const [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
    for (const instance of [a, a, b, b]) assert.equal((await loginFrom(instance, loopback)).status, 302);
    const refused = await loginFrom(a, loopback);
    assert.equal(refused.status, 429);
    assert.equal((await loginFrom(b, loopback)).status, 429);
    assertRetryAfter(refused, 60);
  });

  test('failed credentials on one instance lock the address out on the other', async () => {
    const [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
    const user = (instance: TestGatehouse, handle: string) => fetch(`${from(instance, otherV4)}/auth/user`, { headers: { authorization: `Bearer ${handle}` } });
    assert.equal((await user(a, 'guess-one-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    assert.equal((await user(b, 'guess-two-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    assert.equal((await user(a, 'guess-three-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 429);
  });
});

describe('trusted proxies (GATEHOUSE_TRUST_PROXY)', () => {
  describe('behind an https public URL, with the default (loopback only)', () => {
    let gh: TestGatehouse;
    before(async () => {
      gh = await startGatehouse({
        GATEHOUSE_PORT: String(await freePort()),
        GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test',
        // The cookie test signs in once from fd00::2 first: two more starts are allowed, then none.
        GATEHOUSE_RATE_LIMIT_LOGIN: '3/60',
      });
    });
    after(() => gh.stop());

    test('a private-network peer cannot claim https with X-Forwarded-Proto: no Secure session cookie is set over its plain http', async () => {
      const peer = from(gh, uniqueLocalV6);
      const browser = new CookieBrowser();
      const callback = await callbackUrlFor(gh, browser, 'alice', `${peer}/auth/login`);
      const onPeer = new URL(callback);
      const response = await browser.request(`${peer}${onPeer.pathname}${onPeer.search}`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } });
      assert.equal(response.status, 302);
      assert.doesNotMatch(response.headers.getSetCookie().join('\n'), /__Host-gatehouse=/);
    });

    test('a private-network peer cannot pick its rate-limit key with X-Forwarded-For; a loopback proxy can forward one', async () => {
      const spoof = (n: number) => loginFrom(gh, uniqueLocalV6, { 'x-forwarded-for': `203.0.113.${n}` });
      assert.equal((await spoof(1)).status, 302);
      assert.equal((await spoof(2)).status, 302);
      assert.equal((await spoof(3)).status, 429, 'counted under the peer, fd00::2');
      assert.equal(refusals(gh).at(-1)?.clientIp, 'fd00::2');
      // The operator hears once that a peer's forwarding headers were ignored.
      const warnings = gh.logs.filter((line) => line.includes('not a trusted proxy'));
      assert.equal(warnings.length, 1);
      assert.equal(JSON.parse(warnings[0]!).peer, 'fd00::2');
      // A proxy on loopback is trusted: the address it forwards is the one counted.
      for (let i = 0; i < 3; i++) assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.50' })).status, 302);
      assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.50' })).status, 429);
      assert.equal(refusals(gh).at(-1)?.clientIp, '203.0.113.50');
    });
  });

  describe('with a list that names a proxy on the unique-local network and not loopback', () => {
    let gh: TestGatehouse;
    before(async () => {
      gh = await startGatehouse({ GATEHOUSE_TRUST_PROXY: 'fd00::/64', GATEHOUSE_RATE_LIMIT_LOGIN: '1/60' });
    });
    after(() => gh.stop());

    test('the named proxy forwards client addresses, and loopback is now just a client', async () => {
      assert.equal((await loginFrom(gh, uniqueLocalV6, { 'x-forwarded-for': '203.0.113.1' })).status, 302);
      assert.equal((await loginFrom(gh, uniqueLocalV6, { 'x-forwarded-for': '203.0.113.2' })).status, 302, 'another client behind the proxy');
      assert.equal((await loginFrom(gh, uniqueLocalV6, { 'x-forwarded-for': '203.0.113.1' })).status, 429);
      assert.equal(refusals(gh).at(-1)?.clientIp, '203.0.113.1');

      assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.3' })).status, 302);
      assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.4' })).status, 429, 'counted under 127.0.0.1');
      assert.match(String(refusals(gh).at(-1)?.clientIp), /127\.0\.0\.1$/);
    });
  });

  describe('the upstream\'s X-Forwarded-For', () => {
    let gh: TestGatehouse;
    let seen: Array<string | undefined>;
    let server: Server;
    before(async () => {
      seen = [];
      server = createServer((req, res) => {
        seen.push(req.headers['x-forwarded-for'] as string | undefined);
        res.end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const upstreamPort = (server.address() as AddressInfo).port;
      const port = await freePort();
      gh = await startGatehouse({
        GATEHOUSE_PORT: String(port),
        GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test',
        GATEHOUSE_APIS: writeApisFile([{ name: 'open', url: `http://127.0.0.1:${upstreamPort}`, token: 'none' }]),
      });
    });
    after(async () => {
      await gh.stop();
      server.close();
    });

    test('names the peer, not what a private-network peer claims', async () => {
      const { contextId, code, state } = await soapLoginContext(gh, loopback);
      const signedIn = await externalLogin(from(gh, loopback), { contextId, code, state });
      assert.equal(signedIn.status, 200, signedIn.body);
      const identityToken = text(signedIn.body, 'IdentityToken');
      const response = await fetch(`${from(gh, uniqueLocalV6)}/api/open/x`, {
        headers: { authorization: `Bearer ${identityToken}`, 'x-forwarded-for': '6.6.6.6' },
      });
      assert.equal(response.status, 200);
      assert.equal(seen.at(-1), 'fd00::2');
    });
  });
});
