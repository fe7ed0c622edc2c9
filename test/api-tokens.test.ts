import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT, importJWK } from 'jose';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createApiToken, withToken } from './helpers/api-tokens.ts';
import {
  CookieBrowser,
  isSignedIn,
  signIn,
  signOutAtIdp,
  startGatehouse,
  TestClock,
  type TestGatehouse,
} from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

const clock = new TestClock();
const gatehouse = gatehouseForSuite({}, { clock: clock.read });

/** Why the R example cannot run here; CI installs R with httr2 and must not skip it. */
function rSkipReason(): string | false {
  if (spawnSync('Rscript', ['-e', 'library(httr2); library(jsonlite)'], { stdio: 'ignore' }).status === 0) return false;
  const reason = 'needs R with httr2 and jsonlite (apt-get install r-base-core r-cran-httr2 r-cran-jsonlite)';
  if (process.env.CI === 'true') throw new Error(`The R example cannot run: ${reason}. CI must not skip it.`);
  return reason;
}

async function signedInBrowser(username = 'alice'): Promise<CookieBrowser> {
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, username);
  return browser;
}

function tokenRequests(grantType: string): number {
  return gatehouse.gh.devIdp!.stats.tokenRequests[grantType] ?? 0;
}

async function listTokens(browser: CookieBrowser): Promise<any[]> {
  const response = await browser.request(`${gatehouse.url}/auth/tokens`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { tokens: any[] }).tokens;
}

describe('API tokens', () => {
  test("a token created on /tokens gets a grant of its own through the IdP, reaches /api/renku with the user's access token, and is no session (not listed, not endable as one)", async () => {
    const browser = await signedInBrowser();
    const codeExchanges = tokenRequests('authorization_code');
    const { secret, page } = await createApiToken(gatehouse, browser, { name: 'laptop script' });
    assert.match(secret, /^gh_[A-Za-z0-9_-]{43,}$/);
    assert.equal(
      tokenRequests('authorization_code'),
      codeExchanges + 1,
      "one code exchange, for the token's own grant",
    );
    assert.match(page, /id="snippet-curl"/);
    assert.match(page, /id="snippet-python"/);
    assert.match(page, /id="snippet-r"/);
    assert.doesNotMatch(
      page,
      /id="session-bound"/,
      'the dev IdP grants offline_access, so the token outlives the IdP session',
    );

    const user = await withToken(`${gatehouse.url}/api/renku/user`, secret);
    assert.equal(user.status, 200);
    assert.equal(user.json.username, 'alice');

    const me = await withToken(`${gatehouse.url}/auth/user`, secret);
    assert.equal(me.status, 200);
    assert.equal(me.json.sub, 'alice');
    assert.equal(me.json.name, 'Alice Liddell', 'the profile claims of the session that created it');

    // Its grant is not one of the user's sessions.
    const sessions = (await (await browser.request(`${gatehouse.url}/auth/sessions`)).json()) as {
      sessions: unknown[];
    };
    assert.equal(sessions.sessions.length, 1);
    const [listed] = await listTokens(browser);
    assert.equal(listed.name, 'laptop script');
    assert.equal(listed.upstreams, 'all');
    assert.equal(listed.readOnly, false);
    assert.equal(listed.offline, true);
    assert.equal(JSON.stringify(await listTokens(browser)).includes(secret), false, 'the list never holds the secret');
    const tokensPage = await browser.navigate(`${gatehouse.url}/tokens`);
    assert.equal(tokensPage.body.includes(secret), false, 'the page never shows it again');
    const home = await browser.navigate(`${gatehouse.url}/`);
    assert.match(home.body, /href="\/tokens">API tokens \(1\)</);

    // Nor can it be ended as one.
    const record = JSON.parse((await gatehouse.gh.deps.store.get(`apitoken:${listed.id}`))!);
    const tokenGrant = (await gatehouse.gh.deps.grants.get(record.grantId))!;
    assert.equal(tokenGrant.purpose, 'api_token');
    assert.ok(tokenGrant.originalIdToken?.nonce, "its refreshed id_tokens are held to its own sign-in's nonce");
    const asSession = await browser.request(`${gatehouse.url}/auth/sessions/${record.grantId}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(asSession.status, 404);
    assert.equal((await withToken(`${gatehouse.url}/auth/user`, secret)).status, 200);
  });

  test('a token outside its upstreams or methods gets 403 token_scope saying what it may do', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, {
      name: 'renku reader',
      upstreams: ['renku'],
      read_only: true,
    });
    assert.equal((await withToken(`${gatehouse.url}/api/renku/user`, secret)).status, 200);

    const other = await withToken(`${gatehouse.url}/api/dataverse/api/search?q=wheat`, secret);
    assert.equal(other.status, 403);
    assert.equal(other.json.error, 'token_scope');
    assert.deepEqual([other.json.upstreams, other.json.readOnly], [['renku'], true]);

    const write = await withToken(`${gatehouse.url}/api/renku/data_connectors/global`, secret, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(write.status, 403);
    assert.equal(write.json.error, 'token_scope');
    assert.match(write.json.message, /read-only/);
  });

  test('a token never manages tokens or sessions: 403 token_scope on /auth/tokens, /auth/sessions, /auth/logout and /tokens', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser);
    const [token] = await listTokens(browser);
    for (const [method, path] of [
      ['GET', '/auth/tokens'],
      ['DELETE', `/auth/tokens/${token.id}`],
      ['GET', '/auth/sessions'],
      ['POST', '/auth/logout'],
      ['GET', '/tokens'],
    ] as const) {
      const response = await withToken(`${gatehouse.url}${path}`, secret, { method, headers: { 'x-csrf': '1' } });
      assert.equal(response.status, 403, `${method} ${path}`);
      assert.equal(response.json.error, 'token_scope', `${method} ${path}`);
    }
    assert.equal((await withToken(`${gatehouse.url}/auth/user`, secret)).status, 200, 'and it still works');
  });

  test('the list shows when a token was last used, to within a minute', async () => {
    const browser = await signedInBrowser('bob');
    const { secret } = await createApiToken(gatehouse, browser, { name: 'used later' });
    const before = (await listTokens(browser)).find((t) => t.name === 'used later');
    assert.equal(before.lastUsedAt, null, 'never used yet: not its creation time');
    const row = (await browser.navigate(`${gatehouse.url}/tokens`)).body
      .split('data-token-id')
      .find((li) => li.includes('used later'));
    assert.match(row!, /<span class="token-last-used">never used<\/span>/);
    clock.advance(2 * 60_000);
    await withToken(`${gatehouse.url}/auth/user`, secret);
    const after = (await listTokens(browser)).find((t) => t.name === 'used later');
    assert.equal(after.lastUsedAt, new Date(clock.now).toISOString());
  });

  test('an unknown token gets 401 invalid_token with a Bearer challenge', async () => {
    const response = await withToken(`${gatehouse.url}/api/renku/user`, `gh_${'A'.repeat(43)}`);
    assert.equal(response.status, 401);
    assert.equal(response.json.error, 'invalid_token');
    assert.equal(response.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  });

  test("DELETE /auth/tokens/:id revokes the token and its refresh token at the IdP; another user's id is 404", async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'to revoke' });
    const token = (await listTokens(browser)).find((t) => t.name === 'to revoke');
    const grantId = (await gatehouse.gh.deps.store.get(`apitoken:${token.id}`))!;
    const refreshToken = gatehouse.gh.deps.grants.tokens(
      (await gatehouse.gh.deps.grants.get(JSON.parse(grantId).grantId))!,
    ).refreshToken!;

    const bob = await signedInBrowser('bob');
    const notYours = await bob.request(`${gatehouse.url}/auth/tokens/${token.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(notYours.status, 404);
    const noCsrf = await browser.request(`${gatehouse.url}/auth/tokens/${token.id}`, { method: 'DELETE' });
    assert.equal(noCsrf.status, 403);
    assert.equal((await withToken(`${gatehouse.url}/auth/user`, secret)).status, 200, 'refusals change nothing');

    const revoked = await browser.request(`${gatehouse.url}/auth/tokens/${token.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(revoked.status, 204);
    const after = await withToken(`${gatehouse.url}/api/renku/user`, secret);
    assert.equal(after.status, 401);
    assert.equal(after.json.error, 'invalid_token');
    const found = await gatehouse.gh.devIdp!.provider.RefreshToken.find(refreshToken);
    assert.equal(found, undefined, 'the IdP no longer knows its refresh token');
    assert.equal(
      (await listTokens(browser)).some((t) => t.id === token.id),
      false,
    );
  });

  test('the token keeps working after the browser signs out at Gatehouse and the IdP, and across a forced access-token refresh', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser);
    const home = await browser.navigate(`${gatehouse.url}/`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1]!;
    const logout = await browser.request(`${gatehouse.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf }).toString(),
    });
    assert.equal(logout.status, 302);
    const backchannel = gatehouse.gh.devIdp!.stats.backchannelLogouts;
    await signOutAtIdp(browser, logout.headers.get('location')!);
    assert.equal(
      gatehouse.gh.devIdp!.stats.backchannelLogouts,
      backchannel + 1,
      "the IdP sent a back-channel logout for the session's sid",
    );
    assert.equal((await browser.request(`${gatehouse.url}/auth/user`)).status, 401, 'the browser is signed out');

    assert.equal((await withToken(`${gatehouse.url}/api/renku/user`, secret)).status, 200);
    const refreshes = tokenRequests('refresh_token');
    clock.advance(10 * 60_000);
    const refreshed = await withToken(`${gatehouse.url}/api/renku/user`, secret);
    assert.equal(refreshed.status, 200);
    assert.equal(tokenRequests('refresh_token'), refreshes + 1, 'its own refresh token was used');
  });

  test("when the IdP refuses the token's refresh, the token answers 401 session_expired pointing at /tokens", async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'doomed' });
    const token = (await listTokens(browser)).find((t) => t.name === 'doomed');
    const record = JSON.parse((await gatehouse.gh.deps.store.get(`apitoken:${token.id}`))!);
    const grant = (await gatehouse.gh.deps.grants.get(record.grantId))!;
    await gatehouse.gh.deps.idp.revoke(gatehouse.gh.deps.grants.tokens(grant).refreshToken!, 'refresh_token');
    clock.advance(10 * 60_000);
    const refused = await withToken(`${gatehouse.url}/api/renku/user`, secret);
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error, 'session_expired');
    assert.equal(refused.json.tokensUrl, '/tokens');
    const again = await withToken(`${gatehouse.url}/auth/user`, secret);
    assert.equal(again.json.error, 'session_expired');
  });

  test("a back-channel logout by sub ends the user's tokens; one by sid leaves offline tokens alone", async () => {
    const browser = await signedInBrowser('bob');
    const { secret } = await createApiToken(gatehouse, browser, { name: 'bob script' });
    const session = (
      (await (await browser.request(`${gatehouse.url}/auth/sessions`)).json()) as { sessions: Array<{ id: string }> }
    ).sessions[0]!;
    const sid = (await gatehouse.gh.deps.grants.get(session.id))!.sid!;
    const deliver = async (claims: Record<string, unknown>): Promise<number> => {
      const jwk = gatehouse.gh.devIdp!.signingJwk;
      const logoutToken = await new SignJWT({
        ...claims,
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        jti: randomUUID(),
      })
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'logout+jwt' })
        .setIssuer(gatehouse.issuer)
        .setAudience('gatehouse')
        // Gatehouse checks iat against its (test) clock, which earlier tests moved on.
        .setIssuedAt(Math.floor(clock.now / 1000))
        .setExpirationTime(Math.floor(clock.now / 1000) + 120)
        .sign(await importJWK(jwk, 'RS256'));
      return (
        await fetch(`${gatehouse.url}/auth/backchannel-logout`, {
          method: 'POST',
          body: new URLSearchParams({ logout_token: logoutToken }),
        })
      ).status;
    };
    assert.equal(await isSignedIn(gatehouse, browser), true);
    assert.equal(await deliver({ sid, sub: 'bob' }), 200);
    assert.equal(await isSignedIn(gatehouse, browser), false, 'by sid: the browser session of that sid is ended');
    assert.equal(
      (await withToken(`${gatehouse.url}/auth/user`, secret)).status,
      200,
      'by sid: the offline token outlives the IdP session',
    );
    assert.equal(await deliver({ sub: 'bob' }), 200);
    const ended = await withToken(`${gatehouse.url}/auth/user`, secret);
    assert.equal(ended.status, 401);
    assert.equal(ended.json.error, 'session_expired');
  });

  test("creating a token needs a signed-in browser and the page's CSRF token, and validates its fields", async () => {
    const anonymous = await fetch(`${gatehouse.url}/tokens`, { redirect: 'manual' });
    assert.equal(anonymous.status, 302);
    assert.equal(anonymous.headers.get('location'), '/auth/login?returnTo=%2Ftokens');
    const browser = await signedInBrowser();
    const post = (body: Record<string, string>) =>
      browser.request(`${gatehouse.url}/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(body).toString(),
      });
    assert.equal((await post({ name: 'x' })).status, 403, 'no CSRF token');
    const csrf = /name="csrf" value="([^"]+)"/.exec((await browser.navigate(`${gatehouse.url}/tokens`)).body)![1]!;
    for (const [body, field] of [
      [{ csrf, name: '' }, 'name'],
      [{ csrf, name: 'x'.repeat(65) }, 'name'],
      [{ csrf, name: 'ok', expires_in_days: '91' }, 'expires_in_days'],
      [{ csrf, name: 'ok', upstreams: 'nope' }, 'upstreams'],
    ] as const) {
      const response = await post(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(((await response.json()) as { field: string }).field, field);
    }
  });

  test('docs/examples/call_api.py and call_api.sh reach the API with GATEHOUSE_TOKEN and explain a refusal', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'examples' });
    for (const [file, command] of [
      ['call_api.py', 'python3'],
      ['call_api.sh', 'sh'],
    ] as const) {
      const ok = await runExample(file, command, secret);
      assert.equal(ok.status, 0, `${file}: ${ok.stderr}`);
      assert.equal(JSON.parse(ok.stdout).username, 'alice', file);
      const refused = await runExample(file, command, `gh_${'B'.repeat(43)}`);
      assert.notEqual(refused.status, 0, file);
      assert.match(`${refused.stdout}${refused.stderr}`, /invalid_token/, file);
    }
  });

  test('docs/examples/call_api.R reaches the API with GATEHOUSE_TOKEN and explains a refusal', {
    skip: rSkipReason(),
  }, async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'R example' });
    const ok = await runExample('call_api.R', 'Rscript', secret);
    assert.equal(ok.status, 0, ok.stderr);
    // str() of the parsed answer.
    assert.match(ok.stdout, /\$ username\s*: chr "alice"/);
    const refused = await runExample('call_api.R', 'Rscript', `gh_${'B'.repeat(43)}`);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /token is unknown, revoked or expired/);
  });

  /** Runs an example script against this Gatehouse; asynchronously, since Gatehouse answers from this process. */
  function runExample(
    file: string,
    command: string,
    token: string,
  ): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        command,
        [fileURLToPath(new URL(`../docs/examples/${file}`, import.meta.url)), 'renku/user'],
        {
          env: { PATH: process.env.PATH, GATEHOUSE_URL: gatehouse.url, GATEHOUSE_TOKEN: token },
          timeout: 30_000,
        },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) || 1 : 0, stdout, stderr }),
      );
    });
  }

  test('no log line holds a token secret or an IdP token', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'logged?' });
    await withToken(`${gatehouse.url}/api/renku/user`, secret);
    await withToken(`${gatehouse.url}/api/renku/user`, `${secret}x`);
    const token = (await listTokens(browser)).find((t) => t.name === 'logged?');
    const record = JSON.parse((await gatehouse.gh.deps.store.get(`apitoken:${token.id}`))!);
    const idpTokens = gatehouse.gh.deps.grants.tokens((await gatehouse.gh.deps.grants.get(record.grantId))!);
    const logs = gatehouse.logs.join('\n');
    assert.equal(logs.includes(secret), false);
    assert.equal(logs.includes(secret.slice(3)), false);
    for (const [kind, value] of [
      ['access token', idpTokens.accessToken],
      ['refresh token', idpTokens.refreshToken],
      ['id_token', idpTokens.idToken],
    ] as const) {
      assert.ok(value, `the token's grant holds an ${kind}`);
      assert.equal(logs.includes(value), false, `its ${kind} is in no log line`);
    }
    assert.doesNotMatch(logs, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, 'no JWT of any kind is in a log line');
    assert.match(logs, /api token created/);
  });
});

describe('API tokens where the IdP grants no offline access', () => {
  let sessionBound: TestGatehouse;
  before(async () => {
    sessionBound = await startGatehouse({ GATEHOUSE_API_TOKEN_SCOPES: 'openid' });
  });
  after(() => sessionBound.stop());

  test("the token still works, the pages say it ends with the IdP session, and a logout by that session's sid ends it", async () => {
    const browser = new CookieBrowser();
    await signIn(sessionBound, browser);
    const { secret, page } = await createApiToken(sessionBound, browser);
    assert.match(page, /id="session-bound"/);
    assert.match((await browser.navigate(`${sessionBound.url}/tokens`)).body, /class="token-session-bound"/);
    assert.equal((await withToken(`${sessionBound.url}/api/renku/user`, secret)).status, 200);
    const [listed] = (
      (await (await browser.request(`${sessionBound.url}/auth/tokens`)).json()) as {
        tokens: Array<{ offline: boolean }>;
      }
    ).tokens;
    assert.equal(listed!.offline, false);

    const home = await browser.navigate(`${sessionBound.url}/`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1]!;
    const logout = await browser.request(`${sessionBound.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf }).toString(),
    });
    await signOutAtIdp(browser, logout.headers.get('location')!);
    const ended = await withToken(`${sessionBound.url}/auth/user`, secret);
    assert.equal(ended.status, 401);
    assert.equal(ended.json.error, 'session_expired');
  });
});

describe('API tokens and device sign-in under the rate limits', () => {
  let limited: TestGatehouse;
  before(async () => {
    limited = await startGatehouse({
      GATEHOUSE_RATE_LIMIT_LOGIN: '2/60',
      GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '2/300',
    });
  });
  after(() => limited.stop());

  test('POST /auth/device/code counts as a sign-in start: the third from one address in a minute gets 429 with Retry-After', async () => {
    const start = () =>
      fetch(`${limited.url}/auth/device/code`, { method: 'POST', body: new URLSearchParams({ client_name: 'cli' }) });
    assert.equal((await start()).status, 200);
    assert.equal((await start()).status, 200);
    const refused = await start();
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(((await refused.json()) as { error: string }).error, 'rate_limited');
  });

  test('unknown gh_ tokens count as failed credentials: past the limit the address is refused with 429', async () => {
    for (let i = 0; i < 2; i++)
      assert.equal((await withToken(`${limited.url}/auth/user`, `gh_${String(i).repeat(43)}`)).status, 401);
    const refused = await withToken(`${limited.url}/auth/user`, `gh_${'9'.repeat(43)}`);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error, 'rate_limited');
  });
});
