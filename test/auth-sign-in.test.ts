import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieBrowser, callbackUrlFor, signIn, startGatehouse, type TestGatehouse } from './helpers/harness.ts';
import { hashHandle } from '../server/random.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

/** Starts a sign-in and returns the IdP URL Gatehouse redirected to (not followed). */
async function startLogin(gatehouse: TestGatehouse, browser: CookieBrowser, returnTo?: string): Promise<URL> {
  const query = returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
  const response = await browser.request(`${gatehouse.url}/auth/login${query}`);
  assert.equal(response.status, 302);
  return new URL(response.headers.get('location')!);
}

/** The grant ids in the store: a failed callback must not add one. */
async function grantCount(gatehouse: TestGatehouse, sub = 'alice'): Promise<number> {
  return (await gatehouse.gh.deps.grants.idsBySub(sub)).length;
}

describe('sign-in with the authorization-code flow', () => {
  const gatehouse = gatehouseForSuite();

  test('login redirects to the IdP with code flow, PKCE S256, state, nonce and the exact redirect URI', async () => {
    const location = await startLogin(gatehouse, new CookieBrowser());
    assert.equal(location.origin + location.pathname, `${gatehouse.issuer}/auth`);
    const p = location.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge')!, /^[\w-]{43}$/);
    assert.match(p.get('state')!, /^[\w-]{43}$/);
    assert.match(p.get('nonce')!, /^[\w-]{43}$/);
    assert.equal(p.get('redirect_uri'), `${gatehouse.url}/auth/callback`);
    assert.equal(p.get('client_id'), 'gatehouse');
    assert.equal(p.get('scope'), 'openid profile email offline_access');
  });

  test('a full sign-in lands on returnTo with an opaque HttpOnly Lax session cookie', async () => {
    const browser = new CookieBrowser();
    const page = await signIn(gatehouse, browser, 'alice', '/somewhere?x=1');
    assert.equal(page.url, `${gatehouse.url}/somewhere?x=1`);
    const setCookie = browser.seen.flatMap((r) => r.headers.getSetCookie()).find((c) => c.startsWith('gatehouse='));
    assert.ok(setCookie, 'a session cookie was set');
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.match(setCookie, /Path=\//);
    assert.doesNotMatch(setCookie, /Domain=/i);
    // A JWT's shape, not /eyJ/: a random session id holds "eyJ" now and then.
    assert.doesNotMatch(setCookie, /eyJ[\w-]+\.eyJ/, 'the cookie holds no JWT');
    const home = await browser.navigate(`${gatehouse.url}/`);
    assert.match(home.body, /Alice Liddell/);
    assert.match(home.body, /alice@example\.org/);
  });

  test('/auth/user answers the claims and session times, and never a token', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const response = await browser.request(`${gatehouse.url}/auth/user`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = (await response.json()) as Record<string, any>;
    assert.equal(body.sub, 'alice');
    assert.equal(body.name, 'Alice Liddell');
    assert.equal(body.email, 'alice@example.org');
    assert.equal(body.claims.preferred_username, 'alice');
    assert.equal(body.session.via, 'oidc');
    assert.ok(Date.parse(body.session.expiresAt) > Date.parse(body.session.createdAt));
    assert.equal(body.logoutUrl, '/auth/logout');
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ|access_token|refresh_token|id_token|nonce/);

    const grantId = (await gatehouse.gh.deps.grants.idsBySub('alice')).at(-1)!;
    const tokens = gatehouse.gh.deps.grants.tokens((await gatehouse.gh.deps.grants.get(grantId))!);
    for (const token of [tokens.accessToken, tokens.refreshToken, tokens.idToken]) {
      assert.ok(token);
      for (const seen of browser.seen) {
        assert.ok(!seen.body.includes(token), `no token in the body of ${seen.url}`);
        assert.ok(![...seen.headers.values()].some((v) => v.includes(token)), `no token in the headers of ${seen.url}`);
      }
      assert.ok(!gatehouse.logs.some((line) => line.includes(token)), 'no token in a log line');
    }
  });

  test('tokens are encrypted at rest in the store', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const grantId = (await gatehouse.gh.deps.grants.idsBySub('alice')).at(-1)!;
    const raw = (await gatehouse.gh.deps.store.get(`grant:${grantId}`))!;
    const tokens = gatehouse.gh.deps.grants.tokens((await gatehouse.gh.deps.grants.get(grantId))!);
    // The tokens themselves, not /eyJ/: random ciphertext in base64 holds "eyJ" now and then.
    for (const token of [tokens.accessToken, tokens.idToken, tokens.refreshToken]) {
      assert.ok(token);
      assert.ok(!raw.includes(token), 'no token in the stored grant');
    }
    assert.doesNotMatch(raw, /eyJ[\w-]+\.eyJ[\w-]+\./, 'no JWT in the stored grant');
  });

  test('anonymous /auth/user is a 401 JSON answer with a login URL, not a redirect', async () => {
    const response = await new CookieBrowser().request(`${gatehouse.url}/auth/user`);
    assert.equal(response.status, 401);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.error, 'unauthenticated');
    assert.equal(body.loginUrl, '/auth/login');
  });

  test('every sign-in issues a new session id, so a known session id is never promoted', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const before = browser.cookie('localhost', 'gatehouse');
    assert.ok(before);
    // Signed in at the IdP already: the second sign-in completes without the form.
    const again = await signIn(gatehouse, browser);
    assert.equal(again.url, `${gatehouse.url}/`);
    const after = browser.cookie('localhost', 'gatehouse');
    assert.ok(after && after !== before);
    const stale = await fetch(`${gatehouse.url}/auth/user`, { headers: { cookie: `gatehouse=${before}` } });
    assert.equal(stale.status, 401, 'the old session id no longer works');
  });

  test('signing in again in the same browser ends the grant it replaces', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'bob');
    const [first] = await gatehouse.gh.deps.grants.idsBySub('bob');
    await signIn(gatehouse, browser, 'bob');
    const ids = await gatehouse.gh.deps.grants.idsBySub('bob');
    assert.equal(ids.length, 1, 'one sign-in, one grant');
    assert.notEqual(ids[0], first);
    assert.equal(
      await gatehouse.gh.deps.grants.get(first!),
      undefined,
      'the replaced grant is gone, not left with a live refresh token',
    );
    await gatehouse.gh.deps.grants.end(ids[0]!);
  });

  test('the sign-in that replaces a grant of the same IdP session keeps working tokens', async () => {
    // oidc-provider revokes every token of an IdP grant with one of its refresh tokens (Keycloak
    // the client session): revoking the replaced grant's token would end the new one's too.
    const { grants, idp } = gatehouse.gh.deps;
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'bob');
    await signIn(gatehouse, browser, 'bob');
    const [current] = await grants.idsBySub('bob');
    const refreshed = await idp.refreshTokenGrant(grants.tokens((await grants.get(current!))!));
    assert.ok(refreshed.accessToken, 'the new grant still refreshes');
    const user = await browser.request(`${gatehouse.url}/auth/user`);
    assert.equal(user.status, 200);
    await grants.end(current!);
  });

  for (const hostile of [
    '//evil.example',
    'https://evil.example',
    '/.//evil.example/x',
    '/\\evil.example',
    '/\\/evil.example',
    'javascript:alert(1)',
    ' //evil.example',
    '/\tevil',
  ]) {
    test(`returnTo ${JSON.stringify(hostile)} falls back to /`, async () => {
      const page = await signIn(gatehouse, new CookieBrowser(), 'alice', hostile);
      assert.equal(page.url, `${gatehouse.url}/`);
    });
  }

  test('an encoded CRLF in returnTo stays encoded and injects no header', async () => {
    const browser = new CookieBrowser();
    const page = await signIn(gatehouse, browser, 'alice', '/%0d%0aSet-Cookie:x=y');
    assert.equal(new URL(page.url).origin, gatehouse.url);
    assert.equal(browser.cookie('localhost', 'x'), undefined);
  });

  test('callback with a replayed state is refused and creates no second session', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gatehouse, browser);
    const first = await browser.request(callback);
    assert.equal(first.status, 302);
    const before = await grantCount(gatehouse);
    const second = await browser.navigate(callback);
    assert.equal(second.response.status, 400);
    assert.match(second.body, /unknown_state/);
    assert.equal(await grantCount(gatehouse), before);
  });

  test('a replayed callback carrying a copy of the spent transaction cookie creates no session', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gatehouse, browser);
    const copied = browser.cookieHeader(new URL(callback));
    assert.match(copied, /gatehouse-login-/);
    const first = await browser.request(callback);
    assert.equal(first.status, 302);
    assert.doesNotMatch(browser.cookieHeader(new URL(callback)), /gatehouse-login-/, 'the callback cleared it');
    const before = await grantCount(gatehouse);
    // An attacker who saw both the callback URL and the cookie sends them again.
    const replayed = await fetch(callback, { redirect: 'manual', headers: { cookie: copied, accept: 'text/html' } });
    assert.equal(replayed.status, 400);
    assert.match(await replayed.text(), /unknown_state|invalid_grant/);
    assert.equal(replayed.headers.getSetCookie().filter((c) => c.startsWith('gatehouse=')).length, 0);
    assert.equal(await grantCount(gatehouse), before);
  });

  test('a login transaction cookie that was altered, or moved to another state, is refused', async () => {
    const browser = new CookieBrowser();
    const tabs = [await startLogin(gatehouse, browser), await startLogin(gatehouse, browser)];
    const sealed = browser
      .cookieHeader(new URL(gatehouse.url))
      .split('; ')
      .filter((c) => c.startsWith('gatehouse-login-'))
      .map((c) => c.split('=') as [string, string]);
    assert.equal(sealed.length, 2);
    const [[nameA, valueA], [nameB]] = sealed as [[string, string], [string, string]];
    const stateOf = (name: string) =>
      tabs.map((tab) => tab.searchParams.get('state')!).find((state) => name.endsWith(hashHandle(state).slice(0, 22)))!;
    const flipped = `${valueA.slice(0, -2)}${valueA.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const [state, cookie] of [
      [stateOf(nameA), `${nameA}=${flipped}`],
      // Tab A's sealed value under tab B's name: sealed for its own name, it does not open there.
      [stateOf(nameB), `${nameB}=${valueA}`],
    ]) {
      const page = await fetch(`${gatehouse.url}/auth/callback?code=x&state=${state}`, {
        redirect: 'manual',
        headers: { cookie: cookie!, accept: 'text/html' },
      });
      assert.equal(page.status, 400);
      assert.match(await page.text(), /unknown_state/);
    }
  });

  test('callback without a transaction (unknown state) is a 400 page, and sets no session cookie', async () => {
    const browser = new CookieBrowser();
    const page = await browser.navigate(`${gatehouse.url}/auth/callback?code=abc&state=never-issued`);
    assert.equal(page.response.status, 400);
    assert.match(page.response.headers.get('content-type')!, /text\/html/);
    assert.match(page.body, /unknown_state/);
    assert.match(page.body, /request id/);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
  });

  test('callback without a state is a 400 page naming the problem', async () => {
    const page = await new CookieBrowser().navigate(`${gatehouse.url}/auth/callback?code=abc`);
    assert.equal(page.response.status, 400);
    assert.match(page.body, /missing_state/);
  });

  test('an error answer from the IdP is a 400 page, and the transaction is gone', async () => {
    const browser = new CookieBrowser();
    const location = await startLogin(gatehouse, browser);
    const state = location.searchParams.get('state')!;
    const iss = encodeURIComponent(gatehouse.issuer);
    const denied = await browser.navigate(
      `${gatehouse.url}/auth/callback?error=access_denied&state=${state}&iss=${iss}`,
    );
    assert.equal(denied.response.status, 400);
    assert.match(denied.body, /id="error-code">idp_error</);
    assert.match(denied.body, /access_denied/);
    const again = await browser.navigate(`${gatehouse.url}/auth/callback?code=x&state=${state}`);
    assert.match(again.body, /unknown_state/);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
  });

  test("an error answer without the IdP's iss (RFC 9207) is idp_error_untrusted, and the transaction is gone", async () => {
    for (const iss of ['', `&iss=${encodeURIComponent('https://other-idp.example')}`]) {
      const browser = new CookieBrowser();
      const location = await startLogin(gatehouse, browser);
      const state = location.searchParams.get('state')!;
      const denied = await browser.navigate(`${gatehouse.url}/auth/callback?error=access_denied&state=${state}${iss}`);
      assert.equal(denied.response.status, 400);
      assert.match(denied.body, /id="error-code">idp_error_untrusted</);
      const again = await browser.navigate(`${gatehouse.url}/auth/callback?code=x&state=${state}`);
      assert.match(again.body, /unknown_state/);
    }
  });

  test('a callback from another browser than the one that started the sign-in is refused', async () => {
    const victim = new CookieBrowser();
    const callback = await callbackUrlFor(gatehouse, victim);
    const before = await grantCount(gatehouse);
    const attacker = new CookieBrowser();
    const page = await attacker.navigate(callback);
    assert.equal(page.response.status, 400);
    // The transaction travels in the victim's cookie: the attacker's browser has none for this state.
    assert.match(page.body, /unknown_state/);
    assert.equal(await grantCount(gatehouse), before);
    assert.equal(attacker.cookie('localhost', 'gatehouse'), undefined);
  });

  test('a code that fails at the token endpoint is a 400 page and creates no grant', async () => {
    const browser = new CookieBrowser();
    const callback = new URL(await callbackUrlFor(gatehouse, browser));
    callback.searchParams.set('code', 'forged-code');
    const before = await grantCount(gatehouse);
    const page = await browser.navigate(callback.href);
    assert.equal(page.response.status, 400);
    assert.match(page.body, /invalid_grant|token_exchange_failed/);
    assert.equal(await grantCount(gatehouse), before);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
  });

  test("a code exchanged with another transaction's PKCE verifier and nonce is refused", async () => {
    const browser = new CookieBrowser();
    const callback = new URL(await callbackUrlFor(gatehouse, browser));
    // A second sign-in in another tab: its state opens a transaction with another verifier.
    const other = await startLogin(gatehouse, browser);
    callback.searchParams.set('state', other.searchParams.get('state')!);
    const page = await browser.navigate(callback.href);
    assert.equal(page.response.status, 400);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
  });

  test('two tabs can sign in at once in one browser', async () => {
    const browser = new CookieBrowser();
    const tab1 = await startLogin(gatehouse, browser, '/one');
    const tab2 = await startLogin(gatehouse, browser, '/two');
    const callback2 = await callbackUrlFor(gatehouse, browser, 'alice', tab2.href);
    const callback1 = await callbackUrlFor(gatehouse, browser, 'alice', tab1.href);
    const done2 = await browser.request(callback2);
    const done1 = await browser.request(callback1);
    assert.equal(done2.headers.get('location'), '/two');
    assert.equal(done1.headers.get('location'), '/one');
  });
});

describe('sign-in transactions expire', () => {
  test('a callback more than 10 minutes after the login started is refused', async () => {
    const { TestClock } = await import('./helpers/harness.ts');
    const clock = new TestClock();
    const gatehouse = await startGatehouse({}, { clock: clock.read });
    try {
      const browser = new CookieBrowser();
      const callback = await callbackUrlFor(gatehouse, browser);
      clock.advance(10 * 60 * 1000 + 1);
      const page = await browser.navigate(callback);
      assert.equal(page.response.status, 400);
      assert.match(page.body, /unknown_state/);
    } finally {
      await gatehouse.stop();
    }
  });
});

describe('https deployments', () => {
  test('with an https public URL the cookies are Secure and use the __Host- prefix', async () => {
    const gatehouse = await startGatehouse({ GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example' });
    try {
      // Behind a TLS-terminating proxy on loopback: the proxy says the request came over https.
      const response = await fetch(`http://localhost:${gatehouse.gh.config.port}/auth/login`, {
        redirect: 'manual',
        headers: { 'x-forwarded-proto': 'https' },
      });
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith('__Host-gatehouse-login-'));
      assert.ok(cookie, 'the login transaction cookie has the __Host- prefix');
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);
      assert.match(cookie, /Max-Age=600/);
      assert.match(cookie, /Secure/);
      assert.match(cookie, /Path=\//);
      assert.doesNotMatch(cookie, /Domain=/i);
      assert.equal(
        new URL(response.headers.get('location')!).searchParams.get('redirect_uri'),
        'https://gatehouse.example/auth/callback',
      );
    } finally {
      await gatehouse.stop();
    }
  });
});
