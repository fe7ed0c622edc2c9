import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  checkIdToken,
  idTokenFailure,
  keySelectionFailed,
  type OriginalIdToken,
} from '../server/idp/check-id-token.ts';
import { callbackUrlFor, CookieBrowser, startGatehouse, type TestGatehouse } from './helpers/harness.ts';
import { forgeIdTokens, type IdTokenForgery, idTokenRefusals } from './helpers/id-token-forger.ts';
import { aliceGrant, type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';
import { callSoap, decodeBase64, fault, text } from './helpers/soap.ts';

const now = () => Math.floor(Date.now() / 1000);
const day = 86_400;

/** No log line holds any of `tokens`, nor anything shaped like a JWT. */
function assertNoTokenLogged(logs: string[], tokens: string[]): void {
  for (const line of logs) {
    assert.doesNotMatch(line, /eyJ[\w-]+\.[\w-]+\./, 'no JWT in a log line');
    for (const token of tokens) assert.ok(!line.includes(token), 'no token in a log line');
  }
}

describe('sign-in refuses id_tokens that break the rules, with a 400 page, no session and one log line', () => {
  let gh: TestGatehouse;
  let forgery: IdTokenForgery | undefined;
  before(async () => {
    gh = await startGatehouse();
  });
  afterEach(() => {
    forgery?.restore();
    forgery = undefined;
  });
  after(() => gh.stop());

  async function refusedSignIn(reason: string): Promise<void> {
    const logged = gh.logs.length;
    const browser = new CookieBrowser();
    const page = await browser.navigate(await callbackUrlFor(gh, browser));
    assert.equal(page.response.status, 400);
    assert.match(page.response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.body, /id_token_refused/);
    assert.equal(browser.cookie('localhost', 'gatehouse'), undefined, 'no session cookie');
    assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), [], 'no grant');
    const refusals = idTokenRefusals(gh.logs.slice(logged));
    assert.equal(refusals.length, 1, 'one log line per refusal');
    assert.equal(refusals[0]!.reason, reason);
    assert.equal(refusals[0]!.issuer, gh.issuer);
    assert.equal(refusals[0]!.entry, 'sign-in');
    assert.equal(typeof refusals[0]!.requestId, 'string');
    assertNoTokenLogged(gh.logs, forgery?.issued ?? []);
  }

  test('an id_token issued a day in the future is refused as id_token_iat_in_future', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.iat = now() + day;
    });
    await refusedSignIn('id_token_iat_in_future');
  });

  test('an id_token issued a week ago (and not yet expired) is refused as id_token_iat_too_old', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.iat = now() - 7 * day;
    });
    await refusedSignIn('id_token_iat_too_old');
  });

  test('an id_token with an empty sub is refused as id_token_sub_invalid', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.sub = '';
    });
    await refusedSignIn('id_token_sub_invalid');
  });

  test('an id_token with a sub of 256 characters is refused as id_token_sub_invalid', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.sub = 'a'.repeat(256);
    });
    await refusedSignIn('id_token_sub_invalid');
  });

  test('an id_token signed HS256 with the client secret is refused as id_token_alg_not_allowed', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, () => {}, {
      by: 'secret',
      alg: 'HS256',
      secret: gh.gh.config.oidc.clientSecret!,
    });
    await refusedSignIn('id_token_alg_not_allowed');
  });

  test('an id_token whose signature does not match its claims is refused as id_token_signature', async () => {
    forgery = forgeIdTokens(
      gh.gh.devIdp!,
      (claims) => {
        claims.email = 'mallory@example.org';
      },
      { by: 'corrupt' },
    );
    await refusedSignIn('id_token_signature');
  });

  test('an iat 30 s ahead, within the 60 s default clock tolerance, signs in', async () => {
    forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.iat = now() + 30;
    });
    const browser = new CookieBrowser();
    const page = await browser.navigate(await callbackUrlFor(gh, browser));
    assert.equal(page.response.status, 200);
    const [id] = await gh.gh.deps.grants.idsBySub('alice');
    assert.ok(id);
    await gh.gh.deps.grants.end(id);
  });
});

describe('the configured id_token algorithm and clock tolerance', () => {
  test('GATEHOUSE_OIDC_ID_TOKEN_ALG=ES256 refuses the RS256 id_tokens the IdP signs', async () => {
    const gh = await startGatehouse({ GATEHOUSE_OIDC_ID_TOKEN_ALG: 'ES256' });
    try {
      const browser = new CookieBrowser();
      const page = await browser.navigate(await callbackUrlFor(gh, browser));
      assert.equal(page.response.status, 400);
      assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), []);
      assert.deepEqual(
        idTokenRefusals(gh.logs).map((line) => line.reason),
        ['id_token_alg_not_allowed'],
      );
    } finally {
      await gh.stop();
    }
  });

  test('GATEHOUSE_CLOCK_TOLERANCE=0 refuses an iat 30 s ahead', async () => {
    const gh = await startGatehouse({ GATEHOUSE_CLOCK_TOLERANCE: '0' });
    const forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.iat = now() + 30;
    });
    try {
      const browser = new CookieBrowser();
      const page = await browser.navigate(await callbackUrlFor(gh, browser));
      assert.equal(page.response.status, 400);
      assert.deepEqual(
        idTokenRefusals(gh.logs).map((line) => line.reason),
        ['id_token_iat_in_future'],
      );
    } finally {
      forgery.restore();
      await gh.stop();
    }
  });
});

describe('the SOAP ExternalLogin applies the same id_token rules', () => {
  test('an id_token issued a day in the future gets a Client fault, no grant and a log line', async () => {
    const gh = await startGatehouse();
    const forgery = forgeIdTokens(gh.gh.devIdp!, (claims) => {
      claims.iat = now() + day;
    });
    try {
      const started = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [
        ['RequestURL', `${gh.url}/external/callback`],
      ]);
      const contextId = text(started.body, 'ContextID');
      const redirectUrl = decodeBase64(text(started.body, 'RedirectURL'));
      const back = new URL(await callbackUrlFor(gh, new CookieBrowser(), 'alice', redirectUrl, '/external/callback'));
      const answer = await callSoap(gh.url, 'ExternalLogin', [
        ['Code', back.searchParams.get('code')!],
        ['State', back.searchParams.get('state')!],
        ['ContextID', contextId],
      ]);
      assert.equal(answer.status, 500, answer.body);
      assert.equal(fault(answer).faultcode, 'Client');
      assert.deepEqual(await gh.gh.deps.grants.idsBySub('alice'), []);
      const refusals = idTokenRefusals(gh.logs);
      assert.deepEqual(
        refusals.map((line) => [line.reason, line.entry, line.issuer]),
        [['id_token_iat_in_future', 'sign-in', gh.issuer]],
      );
      assertNoTokenLogged(gh.logs, forgery.issued);
    } finally {
      forgery.restore();
      await gh.stop();
    }
  });
});

describe('a refresh whose id_token breaks the rules ends the grant (OpenID Connect Core §12.2)', () => {
  let f: ProxyFixture | undefined;
  let forgery: IdTokenForgery | undefined;
  afterEach(async () => {
    forgery?.restore();
    forgery = undefined;
    await f?.stop();
    f = undefined;
  });

  /** Refreshes alice's expired token through /api and checks that nothing of the answer was used. */
  async function refusedRefresh(fixture: ProxyFixture, reason: string): Promise<void> {
    const { grants } = fixture.gatehouse.gh.deps;
    const grant = (await aliceGrant(fixture))!;
    const arrivals = fixture.echo.arrivals;
    const logged = fixture.gatehouse.logs.length;
    const issuedAccessTokens: string[] = [];
    const events = fixture.gatehouse.gh.devIdp!.provider as unknown as {
      on(event: string, listener: (ctx: { body?: { access_token?: string } }) => void): void;
    };
    events.on('grant.success', (ctx) => {
      if (ctx.body?.access_token) issuedAccessTokens.push(ctx.body.access_token);
    });

    fixture.clock.advance(10 * 60_000);
    const { response, json } = await fixture.call('/api/echo/items');
    assert.equal(response.status, 401);
    assert.equal(json.error, 'session_expired');
    assert.equal(await grants.get(grant.id), undefined, 'the grant is gone');
    assert.equal(fixture.echo.arrivals, arrivals, 'nothing reached the upstream');
    assert.equal(issuedAccessTokens.length, 1, 'the IdP did issue a new access token');
    assert.ok(!fixture.echo.tokens.includes(issuedAccessTokens[0]!), 'the new access token never reached the upstream');
    assert.equal((await fixture.call('/auth/user')).response.status, 401);

    const refusals = idTokenRefusals(fixture.gatehouse.logs.slice(logged));
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]!.reason, reason);
    assert.equal(refusals[0]!.entry, 'refresh');
    assert.equal(refusals[0]!.issuer, fixture.gatehouse.issuer);
    assert.equal(typeof refusals[0]!.requestId, 'string');
    assertNoTokenLogged(fixture.gatehouse.logs, [...(forgery?.issued ?? []), ...issuedAccessTokens]);
  }

  test('a refreshed id_token naming another user is refused as refresh_sub_mismatch: 401 session_expired, grant gone, new token unused', async () => {
    f = await startProxyFixture();
    forgery = forgeIdTokens(f.gatehouse.gh.devIdp!, (claims) => {
      claims.sub = 'bob';
    });
    await refusedRefresh(f, 'refresh_sub_mismatch');
  });

  test('a refreshed id_token with another nonce is refused as refresh_nonce_mismatch', async () => {
    f = await startProxyFixture();
    forgery = forgeIdTokens(f.gatehouse.gh.devIdp!, (claims) => {
      claims.nonce = 'another-nonce';
    });
    await refusedRefresh(f, 'refresh_nonce_mismatch');
  });

  test('a refreshed id_token with a broken signature is refused as refresh_id_token_signature', async () => {
    f = await startProxyFixture();
    forgery = forgeIdTokens(
      f.gatehouse.gh.devIdp!,
      (claims) => {
        claims.name = 'Mallory';
      },
      { by: 'corrupt' },
    );
    await refusedRefresh(f, 'refresh_id_token_signature');
  });

  test('a refreshed id_token issued a day in the future is refused as id_token_iat_in_future', async () => {
    f = await startProxyFixture();
    forgery = forgeIdTokens(f.gatehouse.gh.devIdp!, (claims) => {
      claims.iat = now() + day;
    });
    await refusedRefresh(f, 'id_token_iat_in_future');
  });

  test('an honest refreshed id_token is accepted and the call goes through with the new access token', async () => {
    f = await startProxyFixture();
    const { grants } = f.gatehouse.gh.deps;
    const before = grants.tokens((await aliceGrant(f))!).accessToken;
    f.clock.advance(10 * 60_000);
    assert.equal((await f.call('/api/echo/items')).response.status, 200);
    const refreshed = grants.tokens((await aliceGrant(f))!).accessToken;
    assert.notEqual(refreshed, before);
    assert.equal(f.echo.requests.at(-1)!.token, refreshed);
    assert.deepEqual(idTokenRefusals(f.gatehouse.logs), []);
  });
});

describe("a refresh whose id_token is signed by a key not in openid-client's JWKS", () => {
  test('is a 503 idp_unavailable that keeps the grant and the session, not a forged id_token', async () => {
    const f = await startProxyFixture();
    // The IdP's own key and a valid signature, under a key id the JWKS does not list: what a
    // client sees right after the IdP rotates its keys.
    const forgery = forgeIdTokens(f.gatehouse.gh.devIdp!, () => {}, { by: 'idp', kid: 'rotated-in-a-moment-ago' });
    try {
      const grant = (await aliceGrant(f))!;
      const logged = f.gatehouse.logs.length;
      f.clock.advance(10 * 60_000);
      const { response, json } = await f.call('/api/echo/items');
      assert.equal(response.status, 503);
      assert.equal(json.error, 'idp_unavailable');
      assert.ok(await f.gatehouse.gh.deps.grants.get(grant.id), 'the grant is kept');
      const lines = f.gatehouse.logs.slice(logged).map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(idTokenRefusals(f.gatehouse.logs.slice(logged)), []);
      assert.ok(lines.some((line) => line.event === 'id_token_key_not_found' && line.entry === 'refresh'));
      assert.ok(!lines.some((line) => String(line.msg).startsWith('grant ended')));
      forgery.restore();
      assert.equal((await f.call('/auth/user')).response.status, 200, 'the session goes on');
    } finally {
      forgery.restore();
      await f.stop();
    }
  });
});

describe('checkIdToken', () => {
  const rules = { clientId: 'gatehouse', clockToleranceSeconds: 60 };
  const t = 1_800_000_000;
  const good = { iss: 'https://idp.example', sub: 'alice', aud: 'gatehouse', iat: t, nonce: 'n-1', auth_time: t - 100 };
  const original: OriginalIdToken = { iss: 'https://idp.example', sub: 'alice', nonce: 'n-1', auth_time: t - 100 };

  test('accepts an id_token within the window, and refuses one outside it on either side', () => {
    assert.equal(checkIdToken(good, t, rules), undefined);
    assert.equal(checkIdToken({ ...good, iat: t + 60 }, t, rules), undefined);
    assert.equal(checkIdToken({ ...good, iat: t + 61 }, t, rules), 'id_token_iat_in_future');
    assert.equal(checkIdToken({ ...good, iat: t - 660 }, t, rules), undefined);
    assert.equal(checkIdToken({ ...good, iat: t - 661 }, t, rules), 'id_token_iat_too_old');
  });

  test('refuses a sub that is not a string of 1 to 255 characters', () => {
    assert.equal(checkIdToken({ ...good, sub: 'a'.repeat(255) }, t, rules), undefined);
    for (const sub of ['', 'a'.repeat(256), 42, undefined])
      assert.equal(checkIdToken({ ...good, sub }, t, rules), 'id_token_sub_invalid');
  });

  test('at a refresh, refuses each difference from the sign-in', () => {
    assert.equal(checkIdToken(good, t, rules, original), undefined);
    assert.equal(checkIdToken({ ...good, nonce: undefined, auth_time: undefined }, t, rules, original), undefined);
    assert.equal(checkIdToken({ ...good, iss: 'https://other.example' }, t, rules, original), 'refresh_iss_mismatch');
    assert.equal(checkIdToken({ ...good, sub: 'bob' }, t, rules, original), 'refresh_sub_mismatch');
    assert.equal(checkIdToken({ ...good, aud: ['someone-else'] }, t, rules, original), 'refresh_aud_mismatch');
    assert.equal(checkIdToken({ ...good, nonce: 'n-2' }, t, rules, original), 'refresh_nonce_mismatch');
    assert.equal(checkIdToken({ ...good, auth_time: t }, t, rules, original), 'refresh_auth_time_changed');
  });

  test('names the openid-client check that refused an id_token, per entry', () => {
    const wrapped = (message: string) => new Error('invalid response encountered', { cause: new Error(message) });
    assert.equal(
      idTokenFailure(wrapped('unexpected JWT "alg" header parameter'), 'sign-in'),
      'id_token_alg_not_allowed',
    );
    assert.equal(idTokenFailure(wrapped('JWT signature verification failed'), 'refresh'), 'refresh_id_token_signature');
    assert.equal(
      idTokenFailure(wrapped('unexpected JWT "iss" (issuer) claim value'), 'refresh'),
      'refresh_iss_mismatch',
    );
    assert.equal(
      idTokenFailure(wrapped('unexpected JWT "aud" (audience) claim value'), 'refresh'),
      'refresh_aud_mismatch',
    );
    assert.equal(idTokenFailure(new TypeError('fetch failed'), 'refresh'), undefined);
  });

  test("does not take a failure to pick the IdP's key, or a JWT the IdP did not send as an id_token, for a refused id_token", () => {
    const oauth = (message: string, code: string) =>
      new Error('invalid response encountered', { cause: Object.assign(new Error(message), { code }) });
    for (const message of [
      'error when selecting a JWT verification key, no applicable keys found',
      'error when selecting a JWT verification key, multiple applicable keys found, a "kid" JWT Header Parameter is required',
    ]) {
      const error = oauth(message, 'OAUTH_KEY_SELECTION_FAILED');
      assert.equal(keySelectionFailed(error), true);
      assert.equal(idTokenFailure(error, 'refresh'), undefined, message);
    }
    assert.equal(keySelectionFailed(oauth('JWT signature verification failed', 'OAUTH_INVALID_RESPONSE')), false);
    assert.equal(
      idTokenFailure(oauth('JWT signature verification failed', 'OAUTH_INVALID_RESPONSE'), 'refresh'),
      'refresh_id_token_signature',
    );
    assert.equal(idTokenFailure(oauth('Invalid JWT', 'OAUTH_INVALID_RESPONSE'), 'refresh'), 'id_token_invalid');
    // Mentions a JWT, but is not a check of one that failed.
    assert.equal(idTokenFailure(new Error('JWT support is not configured'), 'refresh'), undefined);
  });
});
