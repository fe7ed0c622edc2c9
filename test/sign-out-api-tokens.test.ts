import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApiToken, withToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn, signOutAtIdp } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

describe('signing out says what stays', () => {
  const gatehouse = gatehouseForSuite();

  /** Bob (his own user, so other tests' tokens do not count) signed in, with `tokens` API tokens. */
  async function bobWithTokens(
    tokens: number,
  ): Promise<{ browser: CookieBrowser; secrets: string[]; home: string; tokenGrants: string[] }> {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'bob');
    // Whatever an earlier test left: each test counts its own tokens.
    const { tokens: left } = (await (await browser.request(`${gatehouse.url}/auth/tokens`)).json()) as {
      tokens: Array<{ id: string }>;
    };
    for (const { id } of left)
      await browser.request(`${gatehouse.url}/auth/tokens/${id}`, { method: 'DELETE', headers: { 'x-csrf': '1' } });
    const before = await gatehouse.gh.deps.grants.idsBySub('bob');
    const secrets: string[] = [];
    for (let i = 0; i < tokens; i++)
      secrets.push((await createApiToken(gatehouse, browser, { name: `pipeline ${i}` })).secret);
    const home = await browser.navigate(`${gatehouse.url}/`);
    const tokenGrants = (await gatehouse.gh.deps.grants.idsBySub('bob')).filter((id) => !before.includes(id));
    return { browser, secrets, home: home.body, tokenGrants };
  }

  /** Presses the home page's sign-out button `id`, and confirms at the IdP; returns the page reached. */
  async function signOutWith(browser: CookieBrowser, home: string, id: 'sign-out' | 'sign-out-revoke') {
    const form = [...home.matchAll(/<form method="post" action="\/auth\/logout"[\s\S]*?<\/form>/g)]
      .map((match) => match[0])
      .find((html) => html.includes(`id="${id}"`));
    assert.ok(form, `the home page has the ${id} button`);
    const fields: Record<string, string> = {};
    for (const input of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
      fields[input[1]!] = input[2]!;
    const posted = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    assert.equal(posted.status, 302);
    const back = await signOutAtIdp(browser, new URL(posted.headers.get('location')!, gatehouse.url).href);
    // The IdP returns to the post-logout redirect URI, `/?state=…`; from there as a browser goes.
    return browser.navigate(new URL(back.headers.get('location')!, gatehouse.url).href);
  }

  test('the home page says how many API tokens stay active after sign-out, links to /tokens and offers to revoke them', async () => {
    const { home } = await bobWithTokens(2);
    assert.match(home, /id="tokens-stay">2 API tokens stay active after you sign out/);
    assert.match(home, /<a href="\/tokens">Manage API tokens<\/a>/);
    assert.match(home, /id="sign-out-revoke">Sign out and revoke my API tokens</);
  });

  test('without API tokens the home page has only the plain Sign out', async () => {
    const browser = new CookieBrowser();
    const home = await signIn(gatehouse, browser, 'alice');
    assert.match(home.body, /id="sign-out"/);
    assert.doesNotMatch(home.body, /tokens-stay|sign-out-revoke/);
  });

  test('Sign out ends on a page that says so at a clean URL, repeats the count, and the tokens keep working', async () => {
    const { browser, secrets, home } = await bobWithTokens(1);
    const page = await signOutWith(browser, home, 'sign-out');
    assert.equal(page.url, `${gatehouse.url}/auth/signed-out`, 'no ?state=… left in the address bar');
    assert.equal(page.response.status, 200);
    assert.match(page.body, /id="signed-out">You are signed out/);
    assert.match(page.body, /id="tokens-remain"><strong>1 API token<\/strong> stays active/);
    assert.equal((await withToken(`${gatehouse.url}/auth/user`, secrets[0]!)).status, 200);
    assert.equal((await browser.request(`${gatehouse.url}/auth/user`)).status, 401);
  });

  test('"Sign out and revoke my API tokens" ends every token and its grant at the IdP too', async () => {
    const { browser, secrets, home, tokenGrants } = await bobWithTokens(2);
    const idp = gatehouse.gh.deps.idp;
    const revoke = idp.revoke.bind(idp);
    const revoked: string[] = [];
    idp.revoke = async (token, hint) => {
      revoked.push(token);
      return revoke(token, hint);
    };
    let page: Awaited<ReturnType<typeof signOutWith>>;
    try {
      page = await signOutWith(browser, home, 'sign-out-revoke');
    } finally {
      idp.revoke = revoke;
    }
    assert.equal(page.url, `${gatehouse.url}/auth/signed-out`);
    assert.match(page.body, /id="tokens-revoked">Your 2 API tokens were revoked too/);
    assert.doesNotMatch(page.body, /tokens-remain/);
    for (const secret of secrets) {
      const refused = await withToken(`${gatehouse.url}/auth/user`, secret);
      assert.deepEqual([refused.status, refused.json.error], [401, 'invalid_token']);
    }
    const left = await gatehouse.gh.deps.grants.idsBySub('bob');
    assert.equal(tokenGrants.length, 2);
    assert.deepEqual(
      left.filter((id) => tokenGrants.includes(id)),
      [],
      "the tokens' grants ended",
    );
    // Each token's offline grant was revoked at the IdP (and the browser's own, as any sign-out does).
    assert.ok(revoked.length >= 3, `refresh tokens revoked at the IdP: ${revoked.length}`);
    for (const token of revoked) assert.equal(await gatehouse.gh.devIdp!.provider.RefreshToken.find(token), undefined);
  });
});
