import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SessionData } from 'express-session';
import { openExternalCredentials } from '../server/external/external-credentials.ts';
import { TokenCipher } from '../server/grants/token-cipher.ts';
import { hashHandle } from '../server/random.ts';
import {
  callbackUrlFor,
  CookieBrowser,
  signIn,
  startGatehouse,
  TestClock,
  type TestGatehouse,
} from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { boundServer } from './helpers/ports.ts';

const guid = /\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}/;

/** The browser's way through seed steps 1–8: /external/login, the IdP, /external/callback, home. */
async function externalSignIn(gh: TestGatehouse, browser: CookieBrowser, username = 'alice') {
  const callback = await callbackUrlFor(gh, browser, username, `${gh.url}/external/login`, '/external/callback');
  return browser.navigate(callback);
}

/** The store key of the browser's session record (the signed cookie holds the session id). */
function sessionKey(browser: CookieBrowser): string | undefined {
  const cookie = browser.cookie('localhost', 'gatehouse');
  if (!cookie) return undefined;
  const sid = decodeURIComponent(cookie).slice(2).split('.')[0]!;
  return `session:${hashHandle(sid)}`;
}

/** The server-side record of the browser's session, read from the store as Gatehouse keeps it. */
async function sessionRecord(gh: TestGatehouse, browser: CookieBrowser): Promise<SessionData | undefined> {
  const key = sessionKey(browser);
  const raw = key === undefined ? undefined : await gh.gh.deps.store.get(key);
  return raw === undefined ? undefined : (JSON.parse(raw) as SessionData);
}

/** How many SOAP Logout calls this Gatehouse's /Session has served. */
function soapLogouts(gh: TestGatehouse): number {
  return gh.logs.filter((line) => line.includes('"msg":"signed out"') && line.includes('"via":"external"')).length;
}

/** The IdentityToken sealed in a session record, opened with the test Gatehouse's secret. */
function identityTokenOf(gh: TestGatehouse, record: SessionData | undefined): string {
  assert.ok(record?.external?.sealedCredentials, 'the session holds sealed external credentials');
  const credentials = openExternalCredentials(new TokenCipher(gh.gh.config.session.secret), record.external);
  assert.ok(credentials, 'they open with the session secret');
  return credentials.identityToken;
}

function userStatus(gh: TestGatehouse, browser: CookieBrowser): Promise<number> {
  return browser.request(`${gh.url}/auth/user`).then((response) => response.status);
}

function everythingSeen(browser: CookieBrowser): string {
  return browser.seen
    .map((r) => `${r.url}\n${[...r.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${r.body}`)
    .join('\n');
}

describe('the browser side of the external login, against this Gatehouse', () => {
  const gh = gatehouseForSuite();

  test('GET /external/login keeps the ContextID in an HttpOnly, Lax cookie on /external for 15 minutes and redirects to the IdP', async () => {
    const response = await new CookieBrowser().request(`${gh.url}/external/login`);
    assert.equal(response.status, 302);
    const location = new URL(response.headers.get('location')!);
    assert.equal(location.origin + location.pathname, `${gh.issuer}/auth`);
    assert.equal(location.searchParams.get('redirect_uri'), `${gh.url}/external/callback`);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    const [cookie, ...others] = response.headers.getSetCookie();
    assert.equal(others.length, 0);
    const attributes = cookie!.split(';').map((part) => part.trim());
    assert.match(decodeURIComponent(attributes[0]!), new RegExp(`^ContextID=${guid.source}$`));
    for (const expected of ['Max-Age=900', 'Path=/external', 'HttpOnly', 'SameSite=Lax'])
      assert.ok(attributes.includes(expected), expected);
    assert.ok(!attributes.includes('Secure'), 'no Secure flag on http');
  });

  test('external login signs alice in: the home page says so and shows the workspace, and the IdentityToken never reaches the browser', async () => {
    const browser = new CookieBrowser();
    const home = await externalSignIn(gh, browser);

    assert.equal(home.url, `${gh.url}/`);
    assert.match(home.body, /id="user-name">Alice Liddell</);
    assert.match(home.body, /id="user-via">via external login</);
    const workspaceId = new RegExp(`id="user-workspace">(${guid.source})<`).exec(home.body)?.[1];
    assert.ok(workspaceId, 'the workspace id is shown');
    assert.equal(browser.cookie('localhost', 'ContextID'), undefined, 'the ContextID cookie is cleared');

    const record = await sessionRecord(gh, browser);
    assert.equal(record?.external?.workspaceId, workspaceId);
    assert.match(identityTokenOf(gh, record), /^[\w-]{43}$/);
    assert.ok(record?.grantId, 'the session reaches the grant the IdentityToken reaches');
    assert.equal((await gh.gh.deps.grants.resolveHandle(identityTokenOf(gh, record)))?.id, record!.grantId);
    assert.ok(
      !everythingSeen(browser).includes(identityTokenOf(gh, record)),
      'the IdentityToken is not in any response',
    );
    const stored = JSON.stringify(record);
    assert.ok(!stored.includes(identityTokenOf(gh, record)), 'the session record keeps the IdentityToken sealed');
    assert.doesNotMatch(
      stored,
      /eyJ[\w-]+\.eyJ|id_token_hint|session\/end/,
      'and the sign-out URL with its id_token_hint too',
    );

    const user = await browser.request(`${gh.url}/auth/user`);
    assert.equal(user.status, 200);
    assert.equal(((await user.json()) as { session: { via: string } }).session.via, 'external');
  });

  test('external sign-in gives the browser a new session id, the old one reaches nothing, and its grant is ended', async () => {
    const browser = new CookieBrowser();
    await signIn(gh, browser);
    const before = browser.cookie('localhost', 'gatehouse')!;
    const replaced = (await sessionRecord(gh, browser))!.grantId!;
    await externalSignIn(gh, browser);
    assert.equal(await gh.gh.deps.grants.get(replaced), undefined, 'the grant of the replaced sign-in is gone');
    const afterwards = browser.cookie('localhost', 'gatehouse')!;
    assert.notEqual(afterwards, before);
    const old = await fetch(`${gh.url}/auth/user`, { headers: { cookie: `gatehouse=${before}` } });
    assert.equal(old.status, 401);
    assert.equal(await userStatus(gh, browser), 200);
  });

  test('a callback without the ContextID cookie shows an error page and signs nobody in', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gh, browser, 'alice', `${gh.url}/external/login`, '/external/callback');
    const grantsBefore = (await gh.gh.deps.grants.idsBySub('alice')).length;
    browser.forget('localhost', 'ContextID');

    const page = await browser.navigate(callback);
    assert.equal(page.response.status, 400);
    assert.match(page.body, /id="error-code">external_context_missing</);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
    assert.equal((await gh.gh.deps.grants.idsBySub('alice')).length, grantsBefore);
  });

  test("a callback carrying another browser's code and state is refused and signs the victim in as nobody (login CSRF)", async () => {
    const attacker = new CookieBrowser();
    const attackersCallback = await callbackUrlFor(
      gh,
      attacker,
      'bob',
      `${gh.url}/external/login`,
      '/external/callback',
    );
    const victim = new CookieBrowser();
    await victim.request(`${gh.url}/external/login`);
    assert.ok(victim.cookie('localhost', 'ContextID'));

    const page = await victim.navigate(attackersCallback);
    assert.equal(page.response.status, 400);
    assert.match(page.body, /id="error-code">external_login_refused</);
    assert.equal(victim.cookie('localhost', 'gatehouse'), undefined);
    assert.equal((await gh.gh.deps.grants.idsBySub('bob')).length, 0);
  });

  test('a callback replayed with its ContextID cookie is refused: the context works once', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gh, browser, 'alice', `${gh.url}/external/login`, '/external/callback');
    const contextId = browser.cookie('localhost', 'ContextID')!;
    assert.equal((await browser.navigate(callback)).url, `${gh.url}/`);
    const grants = (await gh.gh.deps.grants.idsBySub('alice')).length;

    // A second browser holding both the callback URL and the ContextID cookie (replay).
    const replayer = new CookieBrowser();
    const again = await replayer.request(callback, { headers: { cookie: `ContextID=${contextId}` } });
    assert.equal(again.status, 400);
    assert.match(await again.text(), /id="error-code">external_login_refused</);
    assert.equal(replayer.cookie('localhost', 'gatehouse'), undefined, 'no session for the replay');
    assert.equal((await gh.gh.deps.grants.idsBySub('alice')).length, grants, 'no second grant');
  });

  test('a session record from before the credentials were sealed still signs out through Logout', async () => {
    const browser = new CookieBrowser();
    await externalSignIn(gh, browser);
    const record = (await sessionRecord(gh, browser))!;
    const identityToken = identityTokenOf(gh, record);
    // Rewrite the record as the previous version stored it: IdentityToken and sign-out URL in plain fields.
    const legacy = {
      ...record,
      external: { identityToken, workspaceId: record.external!.workspaceId, signOutUrl: '' },
    };
    await gh.gh.deps.store.set(sessionKey(browser)!, JSON.stringify(legacy), 60_000);

    const home = await browser.navigate(`${gh.url}/`);
    assert.match(home.body, /id="user-via">via external login</);
    const logoutsBefore = soapLogouts(gh);
    await browser.submitForm(home.url, home.body, {});
    // Ending the local grant alone would also refuse the IdentityToken: Logout itself must have run.
    assert.equal(soapLogouts(gh), logoutsBefore + 1, 'Logout ran with the plain IdentityToken');
    assert.equal(await gh.gh.deps.grants.resolveHandle(identityToken), undefined);
    assert.equal(await userStatus(gh, browser), 401);
  });

  test('the login page offers both ways in', async () => {
    const page = await new CookieBrowser().navigate(`${gh.url}/`);
    assert.match(page.body, /href="\/auth\/login"/);
    assert.match(page.body, /href="\/external\/login"/);
  });

  test('sign-out calls SOAP Logout, ends the grant and goes through the IdP sign-out; signing in again shows the IdP login form', async () => {
    const browser = new CookieBrowser();
    const home = await externalSignIn(gh, browser);
    const record = (await sessionRecord(gh, browser))!;

    const atIdp = await browser.submitForm(home.url, home.body, {});
    const logout = browser.seen.find((r) => r.url === `${gh.url}/auth/logout`)!;
    const signOutUrl = new URL(logout.headers.get('location')!);
    assert.equal(signOutUrl.origin + signOutUrl.pathname, `${gh.issuer}/session/end`);
    assert.match(signOutUrl.searchParams.get('id_token_hint') ?? '', /^eyJ/);
    assert.equal(await gh.gh.deps.grants.get(record.grantId!), undefined, 'the grant ended');
    assert.equal(
      await gh.gh.deps.grants.resolveHandle(identityTokenOf(gh, record)),
      undefined,
      'the IdentityToken is refused',
    );
    assert.equal(await userStatus(gh, browser), 401);
    assert.ok(soapLogouts(gh) > 0, 'Logout ran at /Session');

    // The IdP's logout page submits its form by script; submit it as the browser would.
    const back = await browser.submitForm(atIdp.url, atIdp.body, { logout: 'yes' });
    assert.equal(back.url, `${gh.url}/`);
    assert.match(back.body, /href="\/external\/login"/);
    const again = await browser.navigate(`${gh.url}/external/login`);
    assert.ok(again.url.startsWith(`${gh.issuer}/interaction/`), again.url);
    assert.match(again.body, /name="password"/);
  });
});

describe('with an https public URL', () => {
  // Behind a TLS-terminating proxy on loopback: Gatehouse listens on http, browsers use https.
  const publicUrl = 'https://gatehouse.example';
  let gh: TestGatehouse;
  let local: string;
  before(async () => {
    const { server, url } = await boundServer();
    local = url;
    gh = await startGatehouse({ GATEHOUSE_PUBLIC_URL: publicUrl, GATEHOUSE_SOAP_URL: `${local}/Session` }, { server });
  });
  after(() => gh.stop());

  /** Starts an external login; returns the ContextID cookie's Set-Cookie line and the IdP's callback URL (on localhost). */
  async function startExternalLogin(): Promise<{ setCookie: string; callback: string }> {
    const response = await fetch(`${local}/external/login`, {
      redirect: 'manual',
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(response.status, 302);
    const [setCookie] = response.headers.getSetCookie();
    // The IdP sends the browser to the public URL; the test delivers that to the local port.
    const callback = await callbackUrlFor(
      { ...gh, url: publicUrl },
      new CookieBrowser(),
      'alice',
      response.headers.get('location')!,
      '/external/callback',
    );
    return { setCookie: setCookie!, callback: callback.replace(publicUrl, local) };
  }

  test('the ContextID cookie is __Host-ContextID: Secure, Path=/ and no Domain', async () => {
    const { setCookie } = await startExternalLogin();
    const attributes = setCookie.split(';').map((part) => part.trim());
    assert.match(decodeURIComponent(attributes[0]!), new RegExp(`^__Host-ContextID=${guid.source}$`));
    for (const expected of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Lax'])
      assert.ok(attributes.includes(expected), expected);
    assert.ok(!attributes.some((a) => /^domain=/i.test(a)), 'no Domain');
  });

  test('a plain ContextID cookie (one a sibling subdomain could plant) is ignored; the __Host- one is read', async () => {
    const { setCookie, callback } = await startExternalLogin();
    const contextId = setCookie.split(';')[0]!.split('=').slice(1).join('=');
    const https = { 'x-forwarded-proto': 'https', accept: 'text/html' };

    const planted = await fetch(callback, {
      redirect: 'manual',
      headers: { ...https, cookie: `ContextID=${contextId}` },
    });
    assert.equal(planted.status, 400);
    assert.match(await planted.text(), /id="error-code">external_context_missing</);
    assert.ok(!planted.headers.getSetCookie().some((c) => c.startsWith('__Host-gatehouse=')), 'no session');

    const own = await fetch(callback, {
      redirect: 'manual',
      headers: { ...https, cookie: `__Host-ContextID=${contextId}` },
    });
    assert.equal(own.status, 302, 'the same context, under the __Host- name, signs in');
    assert.equal(own.headers.get('location'), '/');
    assert.ok(own.headers.getSetCookie().some((c) => c.startsWith('__Host-gatehouse=')));
  });
});

describe('with external auth disabled', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_EXTERNAL_AUTH: 'disabled' });

  test('GET /external/login shows an error page and sets no cookie', async () => {
    const browser = new CookieBrowser();
    const page = await browser.navigate(`${gh.url}/external/login`);
    assert.equal(page.response.status, 403);
    assert.match(page.body, /id="error-code">external_auth_disabled</);
    assert.equal(browser.cookie('localhost', 'ContextID'), undefined);
  });

  test('the login page offers only the OpenID Connect sign-in', async () => {
    const page = await new CookieBrowser().navigate(`${gh.url}/`);
    assert.match(page.body, /href="\/auth\/login"/);
    assert.doesNotMatch(page.body, /href="\/external\/login"/);
  });
});

describe('with BypassLoginPage enabled', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_BYPASS_LOGIN_PAGE: 'enabled' });

  test('an anonymous visit to / goes straight to the external login, a signed-in one sees home', async () => {
    const browser = new CookieBrowser();
    const response = await browser.request(`${gh.url}/`);
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/external/login');
    const home = await externalSignIn(gh, browser);
    assert.match(home.body, /id="user-via">via external login</);
  });
});

describe('against another LiveScore-compatible server', () => {
  // `livescore` plays the other server (a second Gatehouse with its own IdP); `gh` is its client.
  let livescore: TestGatehouse;
  let gh: TestGatehouse;
  const clock = new TestClock();
  before(async () => {
    const { server, url } = await boundServer();
    livescore = await startGatehouse({ GATEHOUSE_SOAP_REDIRECT_URIS: `${url}/external/callback` });
    gh = await startGatehouse(
      {
        GATEHOUSE_PUBLIC_URL: url,
        GATEHOUSE_SOAP_URL: `${livescore.url}/Session`,
        GATEHOUSE_SESSION_MAX: '600',
      },
      { clock: clock.read, server },
    );
  });
  after(async () => {
    await gh.stop();
    await livescore.stop();
  });

  test('the same flow signs in at that server: the session holds its IdentityToken, home names the way in and the workspace', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gh, browser, 'alice', `${gh.url}/external/login`, '/external/callback');
    const home = await browser.navigate(callback);

    assert.equal(home.url, `${gh.url}/`);
    assert.match(home.body, /id="user-via">via external login</);
    assert.match(home.body, new RegExp(`id="user-workspace">${guid.source}<`));
    const record = (await sessionRecord(gh, browser))!;
    assert.equal(record.grantId, undefined, 'no grant here');
    const remoteGrant = await livescore.gh.deps.grants.resolveHandle(identityTokenOf(gh, record));
    assert.equal(remoteGrant?.sub, 'alice');
    assert.equal(remoteGrant?.workspaceId, record.external!.workspaceId);
    assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), []);
    assert.equal(await userStatus(gh, browser), 401, 'no local grant, so no claims and no /api');
  });

  test("sign-out calls Logout at that server and continues to its IdP through a page, which the form's CSP would otherwise block", async () => {
    const browser = new CookieBrowser();
    const home = await externalSignIn(gh, browser);
    const identityToken = identityTokenOf(gh, await sessionRecord(gh, browser));

    const page = await browser.submitForm(home.url, home.body, {});
    assert.match(page.url, new RegExp(`^${gh.url}/external/signed-out\\?id=[\\w-]{43}$`));
    const refresh = page.response.headers.get('refresh') ?? '';
    const signOutUrl = new URL(refresh.replace(/^0; url=/, ''));
    assert.equal(signOutUrl.origin + signOutUrl.pathname, `${livescore.issuer}/session/end`);
    assert.ok(
      page.body.includes(`href="${signOutUrl.href.replace(/&/g, '&amp;')}"`),
      'a link for browsers that ignore Refresh',
    );
    assert.equal(
      await livescore.gh.deps.grants.resolveHandle(identityToken),
      undefined,
      'Logout ended the grant there',
    );
    assert.equal(await sessionRecord(gh, browser), undefined);

    const replay = await browser.request(page.url);
    assert.equal(replay.headers.get('location'), '/', 'the continuation page works once');
  });

  test('a session signed in at that server still ends after the maximum session lifetime', async () => {
    const browser = new CookieBrowser();
    await externalSignIn(gh, browser);
    clock.advance(599_000);
    assert.match((await browser.navigate(`${gh.url}/`)).body, /id="user-via">via external login</);
    clock.advance(2_000);
    const page = await browser.navigate(`${gh.url}/`);
    assert.match(page.body, /href="\/external\/login"/, 'the login page again');
    assert.equal(await sessionRecord(gh, browser), undefined);
  });

  test('when that server is unreachable, /external/login says so and sign-out still ends the local session', async () => {
    const browser = new CookieBrowser();
    const home = await externalSignIn(gh, browser);
    await livescore.stop();

    const page = await browser.submitForm(home.url, home.body, {});
    assert.match(page.url, new RegExp(`^${gh.url}/external/signed-out`));
    assert.match(
      page.response.headers.get('refresh') ?? '',
      new RegExp(`url=${livescore.issuer}/session/end`),
      'the sign-out URL kept from ExternalLogin',
    );
    assert.equal(await sessionRecord(gh, browser), undefined);
    assert.ok(gh.logs.some((line) => line.includes('external Logout failed')));

    const login = await browser.navigate(`${gh.url}/external/login`);
    assert.equal(login.response.status, 503);
    assert.match(login.body, /The external login server is unreachable/);
  });
});
