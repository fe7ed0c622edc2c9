import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, SignJWT } from 'jose';
import { after, afterEach, before, describe, test } from 'node:test';
import { devUsers } from '../server/dev/dev-idp.ts';
import { TokenRefresher } from '../server/grants/token-refresher.ts';
import { mergeUserInfo, wantsUserInfo } from '../server/idp/userinfo-claims.ts';
import {
  callbackUrlFor,
  CookieBrowser,
  signIn,
  startGatehouse,
  TestClock,
  type TestGatehouse,
} from './helpers/harness.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { forgeIdTokens, type IdTokenForgery, idTokenClaims, idTokenRefusals } from './helpers/id-token-forger.ts';
import { callSoap, decodeBase64, text } from './helpers/soap.ts';

/** A Gatehouse whose embedded IdP puts only `sub` in the id_token (conformIdTokenClaims). */
function startWithSubOnlyIdTokens(env: Record<string, string> = {}, clock?: TestClock): Promise<TestGatehouse> {
  return startGatehouse(env, { devIdp: { claimsFromUserInfo: true }, ...(clock ? { clock: clock.read } : {}) });
}

function parsed(logs: string[]): Array<Record<string, unknown>> {
  return logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every token Gatehouse holds for alice; none may appear in a log line. */
async function assertNoTokenLogged(gh: TestGatehouse): Promise<void> {
  const { grants } = gh.gh.deps;
  for (const id of await grants.idsBySub('alice')) {
    const grant = await grants.get(id);
    if (!grant) continue;
    const tokens = grants.tokens(grant);
    for (const token of [tokens.accessToken, tokens.refreshToken, tokens.idToken]) {
      if (token) for (const line of gh.logs) assert.ok(!line.includes(token), 'no token in a log line');
    }
  }
}

describe('claims from UserInfo when the id_token carries only sub', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startWithSubOnlyIdTokens();
  });
  afterEach(async () => {
    gh.gh.devIdp!.userinfoStandIn = undefined;
    for (const id of await gh.gh.deps.grants.idsBySub('alice')) await gh.gh.deps.grants.end(id);
  });
  after(() => gh.stop());

  test('/auth/user and the home page show the name and email UserInfo returned', async () => {
    const browser = new CookieBrowser();
    const home = await signIn(gh, browser);
    assert.equal(home.response.status, 200);
    const [id] = await gh.gh.deps.grants.idsBySub('alice');
    const grant = (await gh.gh.deps.grants.get(id!))!;
    assert.equal(
      idTokenClaims(gh.gh.deps.grants.tokens(grant).idToken!).name,
      undefined,
      'the id_token itself has no name',
    );

    const user = await browser.navigate(`${gh.url}/auth/user`);
    const body = JSON.parse(user.body) as { sub: string; name: string; email: string; claims: Record<string, unknown> };
    assert.equal(body.sub, 'alice');
    assert.equal(body.name, 'Alice Liddell');
    assert.equal(body.email, 'alice@example.org');
    assert.equal(body.claims.preferred_username, 'alice');
    assert.match(home.body, /Alice Liddell/);
    assert.match(home.body, /alice@example\.org/);
    await assertNoTokenLogged(gh);
  });

  test('the SOAP ExternalLogin path gets the name and email from UserInfo too', async () => {
    const started = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [
      ['RequestURL', `${gh.url}/external/callback`],
    ]);
    const redirectUrl = decodeBase64(text(started.body, 'RedirectURL'));
    const back = new URL(await callbackUrlFor(gh, new CookieBrowser(), 'alice', redirectUrl, '/external/callback'));
    const answer = await callSoap(gh.url, 'ExternalLogin', [
      ['Code', back.searchParams.get('code')!],
      ['State', back.searchParams.get('state')!],
      ['ContextID', text(started.body, 'ContextID')],
    ]);
    assert.equal(answer.status, 200, answer.body);
    const user = await fetch(`${gh.url}/auth/user`, {
      headers: { authorization: `Bearer ${text(answer.body, 'IdentityToken')}` },
    });
    const body = (await user.json()) as { name: string; email: string };
    assert.equal(body.name, 'Alice Liddell');
    assert.equal(body.email, 'alice@example.org');
  });

  test("a UserInfo sub other than the id_token's is refused: 400 page, no session, no cookie, logged as userinfo_sub_mismatch", async () => {
    gh.gh.devIdp!.userinfoStandIn = () => ({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ sub: 'bob', name: 'Bob Builder', email: 'bob@example.org' }),
    });
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    const page = await browser.navigate(await callbackUrlFor(gh, browser));
    assert.equal(page.response.status, 400);
    assert.match(page.body, /id_token_refused/);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
    assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), []);
    assert.deepEqual(await gh.gh.deps.grants.idsBySub('bob'), []);
    const refusals = idTokenRefusals(gh.logs.slice(logged));
    assert.deepEqual(
      refusals.map((line) => [line.reason, line.issuer]),
      [['userinfo_sub_mismatch', gh.issuer]],
    );
  });

  test("a UserInfo outage still signs the user in with the id_token's claims and logs a warning", async () => {
    gh.gh.devIdp!.userinfoStandIn = () => ({ status: 503, contentType: 'text/plain', body: 'down' });
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    assert.equal((await signIn(gh, browser)).response.status, 200);
    const body = JSON.parse((await browser.navigate(`${gh.url}/auth/user`)).body) as { sub: string; name: unknown };
    assert.equal(body.sub, 'alice');
    assert.equal(body.name, null);
    const warnings = parsed(gh.logs.slice(logged)).filter((line) => line.event === 'userinfo_unavailable');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.level, 'warn');
    assert.equal(warnings[0]!.reason, 'HTTP 503');
    await assertNoTokenLogged(gh);
  });

  test('a UserInfo 401 signs the user in and is logged as a configuration problem', async () => {
    gh.gh.devIdp!.userinfoStandIn = () => ({
      status: 401,
      contentType: 'application/json',
      body: '{"error":"invalid_token"}',
    });
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    assert.equal((await signIn(gh, browser)).response.status, 200);
    const refused = parsed(gh.logs.slice(logged)).filter((line) => line.event === 'userinfo_refused');
    assert.equal(refused.length, 1);
    assert.match(String(refused[0]!.msg), /configuration problem/);
    assert.match(String(refused[0]!.msg), /openid scope/);
  });

  /** A UserInfo answer of type application/jwt, signed as `key` says. */
  async function signedUserInfo(claims: Record<string, unknown>, key: 'idp' | 'other'): Promise<string> {
    const jwk =
      key === 'idp'
        ? gh.gh.devIdp!.signingJwk
        : {
            ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
            kid: gh.gh.devIdp!.signingJwk.kid,
            alg: 'RS256',
          };
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(await importJWK(jwk, 'RS256'));
  }

  test('a signed UserInfo response (application/jwt) is verified and its claims used', async () => {
    const jwt = await signedUserInfo(
      { iss: gh.issuer, aud: 'gatehouse', sub: 'alice', name: 'Alice (signed)', email: 'alice@example.org' },
      'idp',
    );
    gh.gh.devIdp!.userinfoStandIn = () => ({ status: 200, contentType: 'application/jwt', body: jwt });
    const browser = new CookieBrowser();
    assert.equal((await signIn(gh, browser)).response.status, 200);
    const body = JSON.parse((await browser.navigate(`${gh.url}/auth/user`)).body) as { name: unknown };
    assert.equal(body.name, 'Alice (signed)');
  });

  test('a signed UserInfo response with a bad signature refuses the sign-in as userinfo_signature', async () => {
    const jwt = await signedUserInfo({ iss: gh.issuer, aud: 'gatehouse', sub: 'alice', name: 'Mallory' }, 'other');
    gh.gh.devIdp!.userinfoStandIn = () => ({ status: 200, contentType: 'application/jwt', body: jwt });
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    const page = await browser.navigate(await callbackUrlFor(gh, browser));
    assert.equal(page.response.status, 400);
    assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), []);
    assert.deepEqual(
      idTokenRefusals(gh.logs.slice(logged)).map((line) => line.reason),
      ['userinfo_signature'],
    );
  });

  test('an encrypted UserInfo response is not used: the sign-in goes on and the log names the IdP setting to change', async () => {
    const jwe = ['eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ', 'a', 'b', 'c', 'd'].join('.');
    gh.gh.devIdp!.userinfoStandIn = () => ({ status: 200, contentType: 'application/jwt', body: jwe });
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    assert.equal((await signIn(gh, browser)).response.status, 200);
    const refused = parsed(gh.logs.slice(logged)).filter((line) => line.event === 'userinfo_refused');
    assert.deepEqual(
      refused.map((line) => line.reason),
      ['userinfo_encrypted'],
    );
    assert.match(String(refused[0]!.msg), /userinfo_encrypted_response_alg/);
  });
});

test('GATEHOUSE_OIDC_USERINFO=never makes no UserInfo call', async () => {
  const gh = await startWithSubOnlyIdTokens({ GATEHOUSE_OIDC_USERINFO: 'never' });
  try {
    const browser = new CookieBrowser();
    assert.equal((await signIn(gh, browser)).response.status, 200);
    assert.equal(gh.gh.devIdp!.stats.userinfoRequests, 0);
    const body = JSON.parse((await browser.navigate(`${gh.url}/auth/user`)).body) as { name: unknown; email: unknown };
    assert.equal(body.name, null);
    assert.equal(body.email, null);
  } finally {
    await gh.stop();
  }
});

async function refreshScenario(
  advanceMs: number,
  newIdToken: boolean,
): Promise<{ reads: number; name: unknown; email: unknown }> {
  const clock = new TestClock();
  const gh = await startWithSubOnlyIdTokens({}, clock);
  const alice = devUsers.find((user) => user.username === 'alice')!;
  const originalName = alice.claims.name;
  // The embedded IdP stamps iat and exp from the wall clock, so two id_tokens signed in
  // different seconds differ. Pinning them (and dropping at_hash, which follows the access
  // token) makes the refreshed id_token byte for byte the sign-in's unless the test asks for
  // a new one; then only the age rule can make a refresh re-read UserInfo.
  const iat = Math.floor(Date.now() / 1000);
  let refreshing = false;
  const forgery: IdTokenForgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
    delete claims.at_hash;
    claims.iat = iat + (refreshing && newIdToken ? 1 : 0);
    claims.exp = iat + 3600;
  });
  try {
    assert.equal((await signIn(gh, new CookieBrowser())).response.status, 200);
    const { grants, idp, store, logger } = gh.gh.deps;
    const [id] = await grants.idsBySub('alice');
    const refresher = new TokenRefresher({
      grants,
      idp,
      store,
      clock: clock.read,
      logger,
      skewMs: 60_000,
      lockTtlMs: 15_000,
      lockWaitMs: 11_000,
      claimsRefreshMs: 3_600_000,
    });
    const readsAtSignIn = gh.gh.devIdp!.stats.userinfoRequests;
    const signInIdToken = grants.tokens((await grants.get(id!))!).idToken;

    await refresher.userAccessToken((await grants.get(id!))!);
    assert.equal(gh.gh.devIdp!.stats.userinfoRequests, readsAtSignIn, 'a fresh token: no request to the IdP');

    alice.claims.name = 'Alice Pleasance Liddell';
    refreshing = true;
    clock.advance(advanceMs);
    await refresher.userAccessToken((await grants.get(id!))!);
    const grant = (await grants.get(id!))!;
    assert.equal(grant.sub, 'alice');
    assert.equal(forgery.issued.length, 2, 'one id_token at sign-in, one at the refresh');
    assert.equal(
      grants.tokens(grant).idToken === signInIdToken,
      !newIdToken,
      newIdToken ? 'the refresh brought a new id_token' : 'the refresh brought the same id_token',
    );
    return {
      reads: gh.gh.devIdp!.stats.userinfoRequests - readsAtSignIn,
      name: grant.claims.name,
      email: grant.claims.email,
    };
  } finally {
    forgery.restore();
    alice.claims.name = originalName;
    await gh.stop();
  }
}

test('a refresh that brings a new id_token re-reads UserInfo once, and a fresh token costs no UserInfo request', async () => {
  assert.deepEqual(await refreshScenario(10 * 60_000, true), {
    reads: 1,
    name: 'Alice Pleasance Liddell',
    email: 'alice@example.org',
  });
});

test('a refresh without a new id_token re-reads UserInfo once the claims are older than GATEHOUSE_OIDC_USERINFO_REFRESH, and not before', async () => {
  assert.deepEqual(await refreshScenario(10 * 60_000, false), {
    reads: 0,
    name: 'Alice Liddell',
    email: 'alice@example.org',
  });
  assert.deepEqual(await refreshScenario(61 * 60_000, false), {
    reads: 1,
    name: 'Alice Pleasance Liddell',
    email: 'alice@example.org',
  });
});

test('GATEHOUSE_OIDC_USERINFO_REFRESH=0 never re-reads UserInfo at a refresh', async () => {
  const clock = new TestClock();
  const gh = await startWithSubOnlyIdTokens({}, clock);
  try {
    assert.equal((await signIn(gh, new CookieBrowser())).response.status, 200);
    const { grants, idp, store, logger } = gh.gh.deps;
    const [id] = await grants.idsBySub('alice');
    const refresher = new TokenRefresher({
      grants,
      idp,
      store,
      clock: clock.read,
      logger,
      skewMs: 60_000,
      lockTtlMs: 15_000,
      lockWaitMs: 11_000,
      claimsRefreshMs: 0,
    });
    const reads = gh.gh.devIdp!.stats.userinfoRequests;
    clock.advance(10 * 60_000);
    await refresher.userAccessToken((await grants.get(id!))!);
    assert.equal(gh.gh.devIdp!.stats.userinfoRequests, reads);
  } finally {
    await gh.stop();
  }
});

for (const [env, reads] of [
  [{}, 1],
  [{ GATEHOUSE_OIDC_USERINFO_REFRESH: '0' }, 0],
] as const) {
  const setting =
    'GATEHOUSE_OIDC_USERINFO_REFRESH' in env
      ? 'GATEHOUSE_OIDC_USERINFO_REFRESH=0'
      : 'the default GATEHOUSE_OIDC_USERINFO_REFRESH';
  test(`${setting} is what refreshes for /api use: ${reads} UserInfo read(s) in calls 20, 40 and 61 minutes after sign-in`, async () => {
    // An upstream that takes any bearer token: this IdP mode issues opaque access tokens, which
    // the demo APIs cannot verify. It records each one, to show the calls forwarded refreshed tokens.
    const bearers: Array<string | undefined> = [];
    const upstream = createServer((req, res) => {
      bearers.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    const clock = new TestClock();
    const gh = await startWithSubOnlyIdTokens(
      {
        ...env,
        GATEHOUSE_APIS: writeApisFile([
          { name: 'plain', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, token: 'user' },
        ]),
      },
      clock,
    );
    try {
      const browser = new CookieBrowser();
      assert.equal((await signIn(gh, browser)).response.status, 200);
      const atSignIn = gh.gh.devIdp!.stats.userinfoRequests;
      const refreshes = gh.gh.devIdp!.stats.tokenRequests.refresh_token ?? 0;
      // The session would idle out after 30 minutes, so the user calls every 20: each call finds
      // the 5-minute access token expired and refreshes; only at 61 are the claims an hour old.
      for (const minutes of [20, 20, 21]) {
        clock.advance(minutes * 60_000);
        const call = await browser.request(`${gh.url}/api/plain/user`, { headers: { 'x-csrf': '1' } });
        assert.equal(call.status, 200, await call.text());
      }
      assert.equal(gh.gh.devIdp!.stats.tokenRequests.refresh_token, refreshes + 3, 'each call refreshed the tokens');
      assert.equal(new Set(bearers).size, 3, 'and forwarded the new access token');
      assert.equal(gh.gh.devIdp!.stats.userinfoRequests - atSignIn, reads);
    } finally {
      await gh.stop();
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
}

describe('merging UserInfo claims', () => {
  test("protocol claims stay the id_token's; UserInfo fills in and updates the rest", () => {
    const merged = mergeUserInfo(
      { iss: 'https://idp', sub: 'alice', aud: 'gatehouse', auth_time: 1, acr: '1', name: 'Old' },
      { sub: 'alice', iss: 'https://evil', acr: '2', auth_time: 2, name: 'New', email: 'a@example.org' },
    );
    assert.deepEqual(merged, {
      iss: 'https://idp',
      sub: 'alice',
      aud: 'gatehouse',
      auth_time: 1,
      acr: '1',
      name: 'New',
      email: 'a@example.org',
    });
  });

  test('drops unknown claims over 1 KB and keeps standard ones', () => {
    const merged = mergeUserInfo(
      { sub: 'alice' },
      {
        sub: 'alice',
        groups: Array.from({ length: 200 }, (_, i) => `group-${i}`),
        team: 'x',
        picture: `https://img.example/${'p'.repeat(1500)}`,
      },
    );
    assert.equal(merged.groups, undefined);
    assert.equal(merged.team, 'x');
    assert.equal(merged.picture, `https://img.example/${'p'.repeat(1500)}`);
  });

  test('auto calls UserInfo only with an endpoint and a profile, email, address or phone scope', () => {
    assert.equal(wantsUserInfo('auto', true, 'openid email'), true);
    assert.equal(wantsUserInfo('auto', true, 'openid offline_access'), false);
    assert.equal(wantsUserInfo('auto', false, 'openid profile'), false);
    assert.equal(wantsUserInfo('always', true, 'openid'), true);
    assert.equal(wantsUserInfo('never', true, 'openid profile'), false);
  });
});
