import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieBrowser, callbackUrlFor, signIn } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

describe('sign-out', () => {
  const gatehouse = gatehouseForSuite();

  async function signedIn(): Promise<{ browser: CookieBrowser; csrf: string; grantId: string }> {
    const browser = new CookieBrowser();
    const home = await signIn(gatehouse, browser);
    const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1]!;
    const grantId = (await gatehouse.gh.deps.grants.idsBySub('alice')).at(-1)!;
    return { browser, csrf, grantId };
  }

  async function stillSignedIn(browser: CookieBrowser): Promise<boolean> {
    return (await browser.request(`${gatehouse.url}/auth/user`)).status === 200;
  }

  test('a cross-site POST is refused as cross_site_request and changes nothing', async () => {
    const { browser, grantId } = await signedIn();
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: '',
    });
    assert.equal(response.status, 403);
    assert.match(await response.text(), /cross_site_request/);
    assert.ok(await stillSignedIn(browser));
    assert.ok(await gatehouse.gh.deps.grants.get(grantId));
  });

  test('a same-origin sign-out form says Origin: null (Referrer-Policy: no-referrer) and Sec-Fetch-Site: same-origin, as Chromium sends it, and is accepted', async () => {
    const { browser, csrf, grantId } = await signedIn();
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'null',
        'sec-fetch-site': 'same-origin',
      },
      body: `csrf=${csrf}`,
    });
    assert.equal(response.status, 302, 'on to the IdP end-session endpoint');
    assert.equal(await gatehouse.gh.deps.grants.get(grantId), undefined);
  });

  test('Sec-Fetch-Site decides over Origin: cross-site or same-site is refused even with Origin: null or a matching Origin', async () => {
    for (const [site, origin] of [
      ['cross-site', 'null'],
      ['same-site', new URL(gatehouse.url).origin],
    ] as const) {
      const { browser, csrf, grantId } = await signedIn();
      const response = await browser.request(`${gatehouse.url}/auth/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': site },
        body: `csrf=${csrf}`,
      });
      assert.equal(response.status, 403, site);
      assert.match(await response.text(), /cross_site_request/);
      assert.ok(await gatehouse.gh.deps.grants.get(grantId));
    }
  });

  test('a POST without CSRF proof is refused and changes nothing', async () => {
    const { browser, grantId } = await signedIn();
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    assert.equal(response.status, 403);
    assert.match(await response.text(), /csrf_proof_missing/);
    assert.ok(await stillSignedIn(browser));
    assert.ok(await gatehouse.gh.deps.grants.get(grantId));
  });

  test('a form POST with a wrong CSRF token is refused', async () => {
    const { browser, csrf } = await signedIn();
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf.slice(0, -1)}${csrf.endsWith('x') ? 'y' : 'x'}`,
    });
    assert.equal(response.status, 403);
    assert.ok(await stillSignedIn(browser));
  });

  test("another session's CSRF token does not work", async () => {
    const victim = await signedIn();
    const attacker = await signedIn();
    const response = await victim.browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${attacker.csrf}`,
    });
    assert.equal(response.status, 403);
    assert.ok(await stillSignedIn(victim.browser));
  });

  test('sign-out from the home page ends the grant, revokes the refresh token and goes to the IdP end-session endpoint', async () => {
    const { browser, csrf, grantId } = await signedIn();
    const grant = (await gatehouse.gh.deps.grants.get(grantId))!;
    const tokens = gatehouse.gh.deps.grants.tokens(grant);
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf}`,
    });
    assert.equal(response.status, 302);
    const location = new URL(response.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, `${gatehouse.issuer}/session/end`);
    assert.equal(location.searchParams.get('id_token_hint'), tokens.idToken);
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${gatehouse.url}/`);
    assert.ok(location.searchParams.get('state'));
    const cleared = response.headers.getSetCookie().find((c) => c.startsWith('gatehouse='));
    assert.match(cleared!, /Expires=Thu, 01 Jan 1970/);

    assert.equal(await gatehouse.gh.deps.grants.get(grantId), undefined);
    assert.equal(
      await fetch(`${gatehouse.url}/auth/user`, { headers: { cookie: `gatehouse=${encodeURIComponent('x')}` } }).then(
        (r) => r.status,
      ),
      401,
    );

    // The IdP no longer accepts the refresh token.
    const refresh = await fetch(`${gatehouse.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`gatehouse:${gatehouse.gh.config.oidc.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken! }).toString(),
    });
    assert.equal(refresh.status, 400);
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
  });

  test('a script signs out with the X-CSRF header', async () => {
    const { browser } = await signedIn();
    const response = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(response.status, 302);
    assert.ok(!(await stillSignedIn(browser)));
  });

  test('sign-out ends the IdP session too: signing in again shows the IdP login form', async () => {
    const { browser, csrf } = await signedIn();
    const atIdp = await browser.navigate(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf}`,
    });
    // The IdP's logout page submits its form by script; submit it as the browser would.
    assert.ok(atIdp.url.startsWith(gatehouse.issuer));
    const back = await browser.submitForm(atIdp.url, atIdp.body, { logout: 'yes' });
    // Back at the post-logout redirect URI (`/?state=…`), and on to the signed-out page.
    assert.equal(back.url, `${gatehouse.url}/auth/signed-out`);
    assert.match(back.body, /You are signed out/);

    const again = await browser.navigate(`${gatehouse.url}/auth/login`);
    assert.ok(again.url.startsWith(`${gatehouse.issuer}/interaction/`), 'the IdP asks for credentials again');
    assert.match(again.body, /name="password"/);
  });

  test('a signed-out session cookie no longer reaches anything', async () => {
    const { browser } = await signedIn();
    const cookie = browser.cookieHeader(new URL(gatehouse.url));
    await browser.request(`${gatehouse.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    const replayed = await fetch(`${gatehouse.url}/auth/user`, { headers: { cookie } });
    assert.equal(replayed.status, 401);
  });

  test('signing out when not signed in just goes home', async () => {
    const response = await fetch(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
      redirect: 'manual',
    });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/');
  });

  test('an unused callback URL of a signed-out user cannot sign anybody in again', async () => {
    const browser = new CookieBrowser();
    const callback = await callbackUrlFor(gatehouse, browser);
    await browser.request(callback);
    await browser.request(`${gatehouse.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    const replay = await browser.request(callback);
    assert.equal(replay.status, 400);
    assert.ok(!(await stillSignedIn(browser)));
  });
});
