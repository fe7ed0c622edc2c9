import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { storeUnavailable } from '../server/errors.ts';
import {
  CookieBrowser,
  signIn,
  signOutAtIdp,
  startGatehouse,
  type TestGatehouse,
  isSignedIn,
} from './helpers/harness.ts';

const event = 'http://schemas.openid.net/event/backchannel-logout';

// A second application at the same IdP, signed in to in the same browser.
const otherApp = {
  client_id: 'other-app',
  client_secret: 'other-app-secret-that-is-long-enough-0123456789',
  redirect_uris: ['http://localhost:9/other/callback'],
  post_logout_redirect_uris: ['http://localhost:9/other/'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
} as const;

let gatehouse: TestGatehouse;
let idpKey: CryptoKey;

before(async () => {
  gatehouse = await startGatehouse(
    {},
    {
      devIdp: {
        extraClients: [
          {
            ...otherApp,
            redirect_uris: [...otherApp.redirect_uris],
            post_logout_redirect_uris: [...otherApp.post_logout_redirect_uris],
            grant_types: [...otherApp.grant_types],
            response_types: [...otherApp.response_types],
          },
        ],
      },
    },
  );
  idpKey = (await importJWK(gatehouse.gh.devIdp!.signingJwk, 'RS256')) as CryptoKey;
});
after(() => gatehouse?.stop());

/** A browser signed in to Gatehouse, with the grant and IdP session (`sid`) it got. */
async function signedIn(username = 'alice'): Promise<{ browser: CookieBrowser; grantId: string; sid: string }> {
  const { grants } = gatehouse.gh.deps;
  const before = new Set(await grants.idsBySub(username));
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, username);
  const grantId = (await grants.idsBySub(username)).find((id) => !before.has(id));
  assert.ok(grantId, 'the sign-in made a grant');
  const grant = await grants.get(grantId);
  assert.ok(grant?.sid, 'the id_token carried a sid');
  return { browser, grantId, sid: grant.sid };
}

interface SignOptions {
  key?: CryptoKey | Uint8Array;
  alg?: string;
  kid?: string;
  /** The `typ` header; null leaves it out. */
  typ?: string | null;
}

/**
 * A logout token as the IdP would send it: every claim right unless `claims` overrides it
 * (a claim set to undefined is left out), signed with the IdP's own key unless told otherwise.
 */
async function logoutToken(claims: Record<string, unknown>, options: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({
      iss: gatehouse.issuer,
      aud: 'gatehouse',
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      events: { [event]: {} },
      ...claims,
    }).filter(([, value]) => value !== undefined),
  );
  return new SignJWT(payload)
    .setProtectedHeader({
      alg: options.alg ?? 'RS256',
      kid: options.kid ?? 'dev-idp-rs256',
      ...(options.typ === null ? {} : { typ: options.typ ?? 'logout+jwt' }),
    })
    .sign(options.key ?? idpKey);
}

function deliver(token: string | undefined): Promise<Response> {
  return fetch(`${gatehouse.url}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: token === undefined ? '' : new URLSearchParams({ logout_token: token }).toString(),
  });
}

function unsignedToken(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'logout+jwt' })}.${part(claims)}.`;
}

describe('back-channel logout with a valid logout_token', () => {
  test("a valid logout_token for the session's sid ends it: 200, no-store, and the browser is signed out", async () => {
    const victim = await signedIn();
    assert.equal(await isSignedIn(gatehouse, victim.browser), true);
    const token = await logoutToken({ sid: victim.sid, sub: 'alice' });
    const response = await deliver(token);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(await gatehouse.gh.deps.grants.get(victim.grantId), undefined, 'the grant is gone');
    assert.equal(await isSignedIn(gatehouse, victim.browser), false);
    assert.ok(!gatehouse.logs.some((line) => line.includes(token)), 'the logout_token never reaches the log');
  });

  test("a logout the store failed to carry out is a 503, and the IdP's retry of the same token then ends the session", async () => {
    const victim = await signedIn();
    const token = await logoutToken({ sid: victim.sid });
    const store = gatehouse.gh.deps.store;
    const take = store.take.bind(store);
    // The store goes away just as the grant is being ended (as RedisStore reports an outage).
    store.take = async () => {
      throw storeUnavailable(new Error('connection lost'));
    };
    const failed = await deliver(token).finally(() => {
      store.take = take;
    });
    assert.equal(failed.status, 503);
    assert.equal(await isSignedIn(gatehouse, victim.browser), true, 'nothing ended yet');
    const retried = await deliver(token);
    assert.equal(retried.status, 200, 'the retry is not refused as a replay');
    assert.equal(await isSignedIn(gatehouse, victim.browser), false);
  });

  const accepted: Array<{ name: string; claims?: Record<string, unknown>; options?: SignOptions }> = [
    { name: 'a typ of JWT', options: { typ: 'JWT' } },
    { name: 'a typ of application/logout+jwt', options: { typ: 'application/logout+jwt' } },
    { name: 'no typ header', options: { typ: null } },
    { name: 'aud as an array holding only the client', claims: { aud: ['gatehouse'] } },
    // IdPs that predate the final spec (Glewlwyd 2.7) send no exp: iat's max age bounds the token.
    { name: 'no exp, issued within the max age', claims: { exp: undefined, iat: Math.floor(Date.now() / 1000) - 240 } },
  ];
  for (const { name, claims = {}, options = {} } of accepted) {
    test(`a logout_token with ${name} is accepted and ends the session`, async () => {
      const victim = await signedIn();
      const response = await deliver(await logoutToken({ sid: victim.sid, ...claims }, options));
      assert.equal(response.status, 200);
      assert.equal(await isSignedIn(gatehouse, victim.browser), false);
    });
  }

  test("a logout_token with only sub ends every grant of that user and no one else's", async () => {
    const [first, second, bob] = [await signedIn('alice'), await signedIn('alice'), await signedIn('bob')];
    const response = await deliver(await logoutToken({ sub: 'alice' }));
    assert.equal(response.status, 200);
    assert.equal(await isSignedIn(gatehouse, first.browser), false);
    assert.equal(await isSignedIn(gatehouse, second.browser), false);
    assert.equal(await isSignedIn(gatehouse, bob.browser), true);
  });

  test('a logout_token whose sid belongs to another user ends nothing', async () => {
    const alice = await signedIn('alice');
    const response = await deliver(await logoutToken({ sid: alice.sid, sub: 'bob' }));
    assert.equal(response.status, 200);
    assert.equal(await isSignedIn(gatehouse, alice.browser), true);
  });

  test('an unknown sid gets 200 and ends nothing', async () => {
    const alice = await signedIn('alice');
    const response = await deliver(await logoutToken({ sid: 'no-such-session', sub: 'alice' }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(await isSignedIn(gatehouse, alice.browser), true);
  });

  test('signing out at the embedded IdP from another application ends the Gatehouse session', async () => {
    const { browser } = await signedIn('alice');
    const issuer = gatehouse.issuer;

    // Sign in to the other application at the IdP, in the same browser (the IdP session is reused).
    const authorize = new URL(`${issuer}/auth`);
    authorize.search = new URLSearchParams({
      client_id: otherApp.client_id,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: otherApp.redirect_uris[0],
      state: randomUUID(),
      code_challenge: createHash('sha256')
        .update('a-code-verifier-of-enough-length-0123456789abcdef')
        .digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    let location = authorize.href;
    for (let hop = 0; !location.startsWith(otherApp.redirect_uris[0]); hop++) {
      assert.ok(hop < 10, 'the IdP sends the browser back to the other application');
      const response = await browser.request(location);
      const next = response.headers.get('location');
      assert.ok(next, `the IdP redirects (got ${response.status} at ${location})`);
      location = new URL(next, location).href;
    }
    assert.match(location, /[?&]code=/);

    // RP-initiated logout from the other application; the user chooses to leave the IdP entirely.
    const backchannelBefore = gatehouse.gh.devIdp!.stats.backchannelLogouts;
    const endSession = `${issuer}/session/end?${new URLSearchParams({ client_id: otherApp.client_id, post_logout_redirect_uri: otherApp.post_logout_redirect_uris[0] })}`;
    const confirmed = await signOutAtIdp(browser, endSession);
    assert.ok(
      confirmed.headers.get('location')?.startsWith(otherApp.post_logout_redirect_uris[0]),
      'the IdP signed the user out',
    );

    assert.equal(
      gatehouse.gh.devIdp!.stats.backchannelLogouts,
      backchannelBefore + 1,
      'the IdP delivered a logout_token to Gatehouse',
    );
    assert.equal(await isSignedIn(gatehouse, browser), false);
  });
});

describe('back-channel logout with an invalid logout_token', () => {
  const cases: Array<{ name: string; reason: string; token: (sid: string) => Promise<string | undefined> }> = [
    { name: 'a request without a logout_token', reason: 'logout_token_missing', token: async () => undefined },
    { name: 'a logout_token that is not a JWT', reason: 'malformed', token: async () => 'not-a-jwt' },
    {
      name: "a logout_token signed by a foreign key under the IdP's key id",
      reason: 'signature_invalid',
      token: async (sid) => logoutToken({ sid }, { key: (await generateKeyPair('RS256')).privateKey }),
    },
    {
      name: 'an unsigned logout_token (alg none)',
      reason: 'signature_invalid',
      token: async (sid) =>
        unsignedToken({
          iss: gatehouse.issuer,
          aud: 'gatehouse',
          iat: Math.floor(Date.now() / 1000),
          jti: randomUUID(),
          events: { [event]: {} },
          sid,
        }),
    },
    {
      name: 'a logout_token signed with the client secret (HS256)',
      reason: 'signature_invalid',
      token: async (sid) =>
        logoutToken({ sid }, { alg: 'HS256', key: new TextEncoder().encode(gatehouse.gh.config.oidc.clientSecret!) }),
    },
    {
      name: 'a logout_token with a wrong iss',
      reason: 'iss_invalid',
      token: (sid) => logoutToken({ sid, iss: 'http://127.0.0.1:1' }),
    },
    {
      name: 'a logout_token with a wrong aud',
      reason: 'aud_invalid',
      token: (sid) => logoutToken({ sid, aud: 'other-app' }),
    },
    {
      name: 'a logout_token whose aud names another audience besides the client',
      reason: 'aud_untrusted',
      token: (sid) => logoutToken({ sid, aud: ['gatehouse', 'other-app'] }),
    },
    {
      name: 'a logout_token typed as an access token (at+jwt)',
      reason: 'typ_invalid',
      token: (sid) => logoutToken({ sid }, { typ: 'at+jwt' }),
    },
    {
      name: 'a logout_token typed as a security event token (secevent+jwt)',
      reason: 'typ_invalid',
      token: (sid) => logoutToken({ sid }, { typ: 'secevent+jwt' }),
    },
    {
      name: 'a logout_token without events',
      reason: 'events_invalid',
      token: (sid) => logoutToken({ sid, events: undefined }),
    },
    {
      name: 'a logout_token whose events lack the back-channel logout member',
      reason: 'events_invalid',
      token: (sid) => logoutToken({ sid, events: { 'http://schemas.openid.net/event/other': {} } }),
    },
    {
      name: 'a logout_token whose events member is not an object',
      reason: 'events_invalid',
      token: (sid) => logoutToken({ sid, events: { [event]: 'yes' } }),
    },
    {
      name: 'a logout_token with a nonce',
      reason: 'nonce_present',
      token: (sid) => logoutToken({ sid, nonce: 'n-0S6_WzA2Mj' }),
    },
    { name: 'a logout_token with neither sid nor sub', reason: 'sid_and_sub_missing', token: () => logoutToken({}) },
    {
      name: 'a logout_token with an empty sid',
      reason: 'sid_or_sub_invalid',
      token: () => logoutToken({ sid: '', sub: 'alice' }),
    },
    { name: 'a logout_token without iat', reason: 'iat_invalid', token: (sid) => logoutToken({ sid, iat: undefined }) },
    {
      name: 'a logout_token issued too long ago',
      reason: 'iat_invalid',
      token: (sid) => logoutToken({ sid, iat: Math.floor(Date.now() / 1000) - 600, exp: undefined }),
    },
    {
      name: 'a logout_token issued in the future',
      reason: 'iat_invalid',
      token: (sid) => logoutToken({ sid, iat: Math.floor(Date.now() / 1000) + 600, exp: undefined }),
    },
    {
      name: 'an expired logout_token',
      reason: 'expired',
      token: (sid) =>
        logoutToken({ sid, iat: Math.floor(Date.now() / 1000) - 200, exp: Math.floor(Date.now() / 1000) - 60 }),
    },
    { name: 'a logout_token without jti', reason: 'jti_invalid', token: (sid) => logoutToken({ sid, jti: undefined }) },
    {
      name: 'a logout_token whose jti was delivered before',
      reason: 'jti_replayed',
      token: async (sid) => {
        const jti = randomUUID();
        const first = await deliver(await logoutToken({ sid: 'another-session', jti }));
        assert.equal(first.status, 200, 'the first delivery of this jti is accepted');
        return logoutToken({ sid, jti });
      },
    },
  ];

  for (const { name, reason, token } of cases) {
    test(`${name} gets 400 (${reason}) and ends nothing`, async () => {
      const victim = await signedIn();
      const response = await deliver(await token(victim.sid));
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body.error, 'invalid_request');
      assert.equal(body.reason, reason);
      assert.ok(await gatehouse.gh.deps.grants.get(victim.grantId), 'the grant is still there');
      assert.equal(await isSignedIn(gatehouse, victim.browser), true);
    });
  }
});
