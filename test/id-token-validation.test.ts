import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieBrowser, callbackUrlFor, type TestGatehouse } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

type Issue = (this: unknown, options?: { use?: string }) => Promise<string>;

/**
 * Makes the embedded IdP hand out id_tokens rewritten by `rewrite`, keeping the original
 * signature: what an attacker who can alter the token in transit, or a misbehaving IdP, sends.
 */
function tamperIdTokens(gatehouse: TestGatehouse, rewrite: (claims: Record<string, unknown>) => void): () => void {
  const prototype = gatehouse.gh.devIdp!.provider.IdToken.prototype as unknown as { issue: Issue };
  const original = prototype.issue;
  prototype.issue = async function (options) {
    const jwt = await original.call(this, options);
    if (options?.use !== 'idtoken') return jwt;
    const [header, payload, signature] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    rewrite(claims);
    return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  };
  return () => {
    prototype.issue = original;
  };
}

describe('id_token validation', () => {
  const gatehouse = gatehouseForSuite();

  test('an id_token whose signature does not match its claims is refused and creates no session', async () => {
    const restore = tamperIdTokens(gatehouse, (claims) => {
      claims.email = 'mallory@example.org';
    });
    try {
      const browser = new CookieBrowser();
      const page = await browser.navigate(await callbackUrlFor(gatehouse, browser));
      assert.equal(page.response.status, 400);
      assert.match(page.body, /id_token_refused/);
      assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
      assert.deepEqual(await gatehouse.gh.deps.grants.idsBySub('alice'), []);
    } finally {
      restore();
    }
  });

  test('a valid sign-in still works once the IdP behaves', async () => {
    const browser = new CookieBrowser();
    const page = await browser.navigate(await callbackUrlFor(gatehouse, browser));
    assert.equal(page.response.status, 200);
    assert.equal((await gatehouse.gh.deps.grants.idsBySub('alice')).length, 1);
  });
});
