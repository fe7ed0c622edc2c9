import assert from 'node:assert/strict';
import { trustProxy } from '../server/http/trust-proxy.ts';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, isIPv6 } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { writeApisFile } from './helpers/apis-file.ts';
import {
  callbackUrlFor,
  CookieBrowser,
  startCluster,
  startGatehouse,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';
import { type AnswerFrom, requestFrom } from './helpers/request-from.ts';
import { callEnvelope, callSoap, decodeBase64, fault, text } from './helpers/soap.ts';

// Distinct clients, all on loopback (requestFrom binds the client socket to one of them). With
// the default GATEHOUSE_TRUST_PROXY (loopback) each is also a trusted proxy, so without an
// X-Forwarded-For each is counted as itself; the trusted-proxy tests name one address instead.
const loopback = '127.0.0.1';
const otherClient = '127.0.0.2';
const thirdClient = '127.0.0.3';
const loopbackV6 = '::1';

/** The instance's URL on the loopback address of `client`'s IP version. */
function from(gh: TestGatehouse, client: string): string {
  return `http://${isIPv6(client) ? '[::1]' : '127.0.0.1'}:${gh.gh.config.port}`;
}

/** GET `path` from the client address `client`. */
function getFrom(
  gh: TestGatehouse,
  client: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<AnswerFrom> {
  return requestFrom(client, `${from(gh, client)}${path}`, { headers });
}

function loginFrom(gh: TestGatehouse, client: string, headers: Record<string, string> = {}): Promise<AnswerFrom> {
  return getFrom(gh, client, '/auth/login', { accept: 'text/html', ...headers });
}

function refusals(gh: TestGatehouse): Array<Record<string, unknown>> {
  return gh.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === 'rate limited');
}

/** Seed steps 2–5 against `gh`, called from `client`: a ContextID and the code and state the IdP sent back. */
async function soapLoginContext(
  gh: TestGatehouse,
  client: string,
): Promise<{ contextId: string; code: string; state: string }> {
  const answer = await callSoap(
    from(gh, client),
    'GetExternalLoginRedirectURL',
    [['RequestURL', `${gh.gh.config.publicUrl}/external/callback`]],
    {},
    client,
  );
  assert.equal(answer.status, 200, answer.body);
  const back = new URL(
    await callbackUrlFor(
      gh,
      new CookieBrowser(),
      'alice',
      decodeBase64(text(answer.body, 'RedirectURL')),
      '/external/callback',
    ),
  );
  return {
    contextId: text(answer.body, 'ContextID'),
    code: back.searchParams.get('code')!,
    state: back.searchParams.get('state')!,
  };
}

function externalLogin(gh: TestGatehouse, client: string, input: { code: string; state: string; contextId: string }) {
  return callSoap(
    from(gh, client),
    'ExternalLogin',
    [
      ['Code', input.code],
      ['State', input.state],
      ['ContextID', input.contextId],
    ],
    {},
    client,
  );
}

/** The client address a log line names, without the IPv4-mapped prefix of a dual-stack socket. */
function plainIp(address: unknown): string {
  return String(address).replace(/^::ffff:/, '');
}

/** The credentials logged as refused since log line `from`: this test's own, whatever ran before. */
function refusedCredentials(gh: TestGatehouse, from: number): unknown[] {
  return gh.logs
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'credential refused')
    .map((l) => l.credential);
}

function assertRetryAfter(response: { headers: Headers }, maxSeconds: number): void {
  const value = Number(response.headers.get('retry-after'));
  assert.ok(
    Number.isInteger(value) && value >= 1 && value <= maxSeconds,
    `Retry-After ${response.headers.get('retry-after')}`,
  );
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
    assert.match(refused.body, /rate_limited/);
    assert.equal(store.size, before, 'no login transaction was stored');

    const line = refusals(gh).at(-1);
    assert.equal(line?.limit, 'login:auth_login');
    assert.equal(plainIp(line?.clientIp), '127.0.0.1');

    // The same refusal, as an API client asks for it.
    const json = await loginFrom(gh, loopback, { accept: 'application/json' });
    assert.equal(json.status, 429);
    const body = JSON.parse(json.body) as { error: string; retryAfter: number };
    assert.equal(body.error, 'rate_limited');
    assert.equal(String(body.retryAfter), json.headers.get('retry-after'));

    // Another address has its own budget.
    assert.equal((await loginFrom(gh, otherClient)).status, 302);
  });

  test('GET /external/login is limited per browser address, and its SOAP call counts the browser, not Gatehouse', async () => {
    const start = (client: string) => getFrom(gh, client, '/external/login', { accept: 'text/html' });
    for (let i = 0; i < 3; i++) assert.equal((await start(loopback)).status, 302);
    const refused = await start(loopback);
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.match(refused.headers.get('content-type') ?? '', /^text\/html/);
    // Gatehouse's own GetExternalLoginRedirectURL calls were counted for 127.0.0.1, not for
    // Gatehouse: another browser still gets through both limits.
    assert.equal((await start(otherClient)).status, 302);
    assert.deepEqual(refusals(gh).at(-1)?.limit, 'login:external_login');
  });

  test('GetExternalLoginRedirectURL past its limit is a SOAP Server fault with 429 and Retry-After', async () => {
    const call = () =>
      callSoap(
        from(gh, loopbackV6),
        'GetExternalLoginRedirectURL',
        [['RequestURL', `${gh.gh.config.publicUrl}/external/callback`]],
        {},
        loopbackV6,
      );
    for (let i = 0; i < 3; i++) assert.equal((await call()).status, 200);
    const response = await requestFrom(loopbackV6, `${from(gh, loopbackV6)}/Session`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: callEnvelope('GetExternalLoginRedirectURL', [
        ['RequestURL', `${gh.gh.config.publicUrl}/external/callback`],
      ]),
    });
    const body = response.body;
    assert.equal(response.status, 429);
    assertRetryAfter(response, 60);
    assert.match(response.headers.get('content-type') ?? '', /^text\/xml/);
    assert.deepEqual(fault({ status: 429, contentType: '', body }), {
      faultcode: 'Server',
      faultstring: `Too many requests; try again in ${response.headers.get('retry-after')} seconds.`,
    });
    assert.equal(refusals(gh).at(-1)?.limit, 'login:get_external_login_redirect_url');
  });

  test('POST /auth/backchannel-logout past its limit answers 429 JSON', async () => {
    const post = () =>
      requestFrom(thirdClient, `${from(gh, thirdClient)}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'nothing=here',
      });
    for (let i = 0; i < 2; i++) assert.equal((await post()).status, 400);
    const refused = await post();
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    assert.equal((JSON.parse(refused.body) as { error: string }).error, 'rate_limited');
  });
});

describe('the limit on failed credentials', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '3/300' });

  test('unknown bearer handles past the limit get 429 from that address, while a valid IdentityToken from it still works', async () => {
    const { contextId, code, state } = await soapLoginContext(gh, otherClient);
    const signedIn = await externalLogin(gh, otherClient, { contextId, code, state });
    assert.equal(signedIn.status, 200, signedIn.body);
    const identityToken = text(signedIn.body, 'IdentityToken');
    const user = (client: string, handle: string) =>
      getFrom(gh, client, '/auth/user', { authorization: `Bearer ${handle}` });

    const logged = gh.logs.length;
    for (let i = 0; i < 3; i++)
      assert.equal((await user(loopback, `guess-${i}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`)).status, 401);
    assert.deepEqual(refusedCredentials(gh, logged), ['bearer_handle', 'bearer_handle', 'bearer_handle']);
    const refused = await user(loopback, 'guess-3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 300);
    assert.equal((JSON.parse(refused.body) as { error: string }).error, 'rate_limited');
    // A bogus-credential flood cannot lock out the users behind the same address.
    assert.equal((await user(loopback, identityToken)).status, 200);
    assert.equal((await user(otherClient, identityToken)).status, 200);

    const line = refusals(gh).at(-1);
    assert.equal(line?.limit, 'failed_credentials');
    assert.ok(!gh.logs.join('\n').includes(identityToken), 'no IdentityToken in the log');
  });

  test('a session cookie that reaches no session counts once per browser (it is cleared) and past the limit is refused', async () => {
    const user = (headers: Record<string, string> = {}) => getFrom(gh, loopbackV6, '/auth/user', headers);
    const logged = gh.logs.length;
    const first = await user({ cookie: 'gatehouse=s%3Aforged.signature' });
    assert.equal(first.status, 401);
    assert.match(
      first.headers.getSetCookie().join('\n'),
      /^gatehouse=;.*Expires=Thu, 01 Jan 1970/m,
      'the unknown cookie is cleared',
    );
    for (let i = 0; i < 2; i++) assert.equal((await user({ cookie: `gatehouse=s%3Aguess${i}.sig` })).status, 401);
    assert.deepEqual(refusedCredentials(gh, logged), ['session_cookie', 'session_cookie', 'session_cookie']);
    const refused = await user({ cookie: 'gatehouse=s%3Aguess3.sig', accept: 'application/json' });
    assert.equal(refused.status, 429);
    // Without a credential the address may still reach public pages.
    assert.equal((await user()).status, 401);
  });

  test('wrong ContextIDs and States in ExternalLogin past the limit get a 429 fault, while the right ContextID and State still sign in', async () => {
    const right = await soapLoginContext(gh, thirdClient);
    const logged = gh.logs.length;
    const unknown = '{00000000-0000-0000-0000-000000000000}';
    assert.equal(fault(await externalLogin(gh, thirdClient, { ...right, contextId: unknown })).faultcode, 'Client');
    assert.equal(
      fault(await externalLogin(gh, thirdClient, { ...right, contextId: '{11111111-1111-1111-1111-111111111111}' }))
        .faultcode,
      'Client',
    );
    const spent = await soapLoginContext(gh, thirdClient);
    assert.equal(
      fault(await externalLogin(gh, thirdClient, { ...spent, state: 'not-the-state' })).faultstring,
      'State does not belong to this context.',
    );
    assert.deepEqual(refusedCredentials(gh, logged), ['context_id', 'context_id', 'state']);

    const refused = await externalLogin(gh, thirdClient, {
      ...right,
      contextId: '{22222222-2222-2222-2222-222222222222}',
    });
    assert.equal(refused.status, 429);
    assert.equal(fault(refused).faultcode, 'Server');
    assert.equal(refusals(gh).at(-1)?.limit, 'failed_credentials');
    const signedIn = await externalLogin(gh, thirdClient, right);
    assert.equal(signedIn.status, 200, signedIn.body);
  });

  test('an empty or malformed Bearer header is not counted as a failed credential', async () => {
    const fourthClient = '127.0.0.4';
    for (const authorization of ['Bearer', 'Bearer ', 'Bearer not a handle', 'Bearer <script>', 'Bearer', 'Bearer '])
      assert.equal((await getFrom(gh, fourthClient, '/auth/user', { authorization })).status, 401, authorization);
    const counted = gh.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'credential refused' && plainIp(l.clientIp) === fourthClient);
    assert.deepEqual(counted, []);
  });

  test('unknown IdentityTokens in SOAP Logout count as failed credentials', async () => {
    const logout = () =>
      callSoap(
        from(gh, otherClient),
        'Logout',
        [['IdentityToken', 'no-such-identity-token-aaaaaaaaaaaaaaaaaaaaaaa']],
        {},
        otherClient,
      );
    const logged = gh.logs.length;
    for (let i = 0; i < 3; i++) assert.equal(fault(await logout()).faultstring, 'Invalid or ended IdentityToken.');
    const refused = await logout();
    assert.equal(refused.status, 429);
    assert.equal(fault(refused).faultcode, 'Server');
    assert.deepEqual(
      refusedCredentials(gh, logged),
      ['identity_token', 'identity_token', 'identity_token', 'identity_token'],
      'each unknown IdentityToken is counted as one, the refused one too: it was looked up and reached nothing',
    );
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

  test('failed credentials on one instance count on the other: past the limit a bogus handle gets 429 there', async () => {
    const [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
    const user = (instance: TestGatehouse, handle: string) =>
      getFrom(instance, otherClient, '/auth/user', { authorization: `Bearer ${handle}` });
    assert.equal((await user(a, 'guess-one-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    assert.equal((await user(b, 'guess-two-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    assert.equal((await user(a, 'guess-three-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 429);
  });
});

describe('trusted proxies (GATEHOUSE_TRUST_PROXY)', () => {
  test('the default trusts loopback only: not private, unique-local or link-local peers', async () => {
    // An https public URL, where the old default also trusted the private networks.
    const gh = await startGatehouse({ GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test' });
    try {
      // The `trust proxy` function the Express app and the /api fast path both compile.
      const trusts = trustProxy(gh.gh.config.trustProxy);
      for (const address of ['127.0.0.1', '127.0.0.2', '::ffff:127.0.0.1', '::1'])
        assert.equal(trusts(address, 0), true, address);
      for (const address of [
        '10.1.2.3',
        '172.16.0.1',
        '192.168.1.1',
        '169.254.1.1',
        '::ffff:10.1.2.3',
        'fd00::2',
        'fe80::1',
        '203.0.113.1',
      ]) {
        assert.equal(trusts(address, 0), false, address);
      }
    } finally {
      await gh.stop();
    }
  });

  describe('behind an https public URL, with one trusted proxy named (127.0.0.1)', () => {
    // Any other loopback address is a peer that is not a trusted proxy.
    const untrustedPeer = otherClient;
    const behindProxy = {
      GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test',
      GATEHOUSE_TRUST_PROXY: loopback,
      GATEHOUSE_RATE_LIMIT_LOGIN: '3/60',
    };
    let gh: TestGatehouse;
    before(async () => {
      gh = await startGatehouse(behindProxy);
    });
    after(() => gh.stop());

    /** Starts a sign-in from `client`, passes the IdP, and calls the callback from `client` with `headers`; answers the callback's response. */
    async function callbackFrom(client: string, headers: Record<string, string>): Promise<AnswerFrom> {
      const started = await loginFrom(gh, client, headers);
      assert.equal(started.status, 302);
      const loginCookie = started.headers
        .getSetCookie()
        .map((line) => line.split(';')[0])
        .join('; ');
      const callback = new URL(
        await callbackUrlFor(gh, new CookieBrowser(), 'alice', started.headers.get('location')!),
      );
      return getFrom(gh, client, `${callback.pathname}${callback.search}`, { ...headers, cookie: loginCookie });
    }

    test('a peer that is not a trusted proxy cannot claim https with X-Forwarded-Proto: no Secure session cookie is set over its plain http', async () => {
      const claimed = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' };
      const response = await callbackFrom(untrustedPeer, claimed);
      assert.equal(response.status, 302, response.body);
      assert.doesNotMatch(response.headers.getSetCookie().join('\n'), /__Host-gatehouse=/);
      // The same claim from the trusted proxy is believed: the sign-in ends with the session cookie.
      const proxied = await callbackFrom(loopback, claimed);
      assert.equal(proxied.status, 302, proxied.body);
      assert.match(proxied.headers.getSetCookie().join('\n'), /^__Host-gatehouse=.*; Secure/m);
    });

    test('a peer that is not a trusted proxy cannot pick its rate-limit key with X-Forwarded-For; the trusted proxy can forward one', async () => {
      // A Gatehouse of its own: its login counts and its once-per-process warning owe nothing to the other tests.
      const gh = await startGatehouse(behindProxy);
      try {
        const spoof = (n: number) => loginFrom(gh, untrustedPeer, { 'x-forwarded-for': `203.0.113.${n}` });
        for (let n = 1; n <= 3; n++) assert.equal((await spoof(n)).status, 302);
        assert.equal((await spoof(4)).status, 429, 'counted under the peer, 127.0.0.2');
        assert.equal(plainIp(refusals(gh).at(-1)?.clientIp), '127.0.0.2');
        // The operator hears once that a peer's forwarding headers were ignored.
        const warnings = gh.logs.filter((line) => line.includes('not a trusted proxy'));
        assert.equal(warnings.length, 1);
        assert.equal(plainIp(JSON.parse(warnings[0]!).peer), '127.0.0.2');
        // The trusted proxy's forwarded address is the one counted.
        for (let i = 0; i < 3; i++)
          assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.50' })).status, 302);
        assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.50' })).status, 429);
        assert.equal(refusals(gh).at(-1)?.clientIp, '203.0.113.50');
      } finally {
        await gh.stop();
      }
    });
  });

  describe('with a list that names another proxy (127.0.0.5) and not 127.0.0.1', () => {
    const proxy = '127.0.0.5';
    const gh = gatehouseForSuite({ GATEHOUSE_TRUST_PROXY: proxy, GATEHOUSE_RATE_LIMIT_LOGIN: '1/60' });

    test('the named proxy forwards client addresses, and 127.0.0.1 is now just a client', async () => {
      assert.equal((await loginFrom(gh, proxy, { 'x-forwarded-for': '203.0.113.1' })).status, 302);
      assert.equal(
        (await loginFrom(gh, proxy, { 'x-forwarded-for': '203.0.113.2' })).status,
        302,
        'another client behind the proxy',
      );
      assert.equal((await loginFrom(gh, proxy, { 'x-forwarded-for': '203.0.113.1' })).status, 429);
      assert.equal(refusals(gh).at(-1)?.clientIp, '203.0.113.1');

      assert.equal((await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.3' })).status, 302);
      assert.equal(
        (await loginFrom(gh, loopback, { 'x-forwarded-for': '203.0.113.4' })).status,
        429,
        'counted under 127.0.0.1',
      );
      assert.equal(plainIp(refusals(gh).at(-1)?.clientIp), '127.0.0.1');
    });
  });

  describe("the upstream's X-Forwarded-For", () => {
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
      gh = await startGatehouse({
        GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test',
        GATEHOUSE_TRUST_PROXY: loopback,
        GATEHOUSE_APIS: writeApisFile([{ name: 'open', url: `http://127.0.0.1:${upstreamPort}`, token: 'none' }]),
      });
    });
    after(async () => {
      await gh.stop();
      server.close();
    });

    test("names the peer, not what a peer that is not a trusted proxy claims; a trusted proxy's client is passed on", async () => {
      const { contextId, code, state } = await soapLoginContext(gh, loopback);
      const signedIn = await externalLogin(gh, loopback, { contextId, code, state });
      assert.equal(signedIn.status, 200, signedIn.body);
      const identityToken = text(signedIn.body, 'IdentityToken');
      const api = (client: string) =>
        getFrom(gh, client, '/api/open/x', { authorization: `Bearer ${identityToken}`, 'x-forwarded-for': '6.6.6.6' });
      assert.equal((await api(thirdClient)).status, 200);
      assert.equal(plainIp(seen.at(-1)), '127.0.0.3');
      assert.equal((await api(loopback)).status, 200);
      assert.equal(seen.at(-1), '6.6.6.6');
    });
  });
});
