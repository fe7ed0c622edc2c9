import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { callbackUrlFor, CookieBrowser, signIn, TestClock, type TestGatehouse } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { callSoap, decodeBase64, fault, shape, text, texts } from './helpers/soap.ts';

/** Seed step 2: a login context for this Gatehouse's own callback. */
async function startLogin(gh: TestGatehouse): Promise<{ contextId: string; redirectUrl: string }> {
  const answer = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [['RequestURL', `${gh.url}/external/callback`]]);
  assert.equal(answer.status, 200, answer.body);
  return { contextId: text(answer.body, 'ContextID'), redirectUrl: decodeBase64(text(answer.body, 'RedirectURL')) };
}

/** Seed steps 4–5: the user signs in at the IdP, which sends code and state to the RequestURL. */
async function codeAndState(
  gh: TestGatehouse,
  redirectUrl: string,
  username = 'alice',
): Promise<{ code: string; state: string }> {
  const back = new URL(await callbackUrlFor(gh, new CookieBrowser(), username, redirectUrl, '/external/callback'));
  return { code: back.searchParams.get('code')!, state: back.searchParams.get('state')! };
}

function externalLogin(gh: TestGatehouse, input: { code: string; state: string; contextId: string }) {
  return callSoap(gh.url, 'ExternalLogin', [
    ['Code', input.code],
    ['State', input.state],
    ['ContextID', input.contextId],
  ]);
}

async function signedInWithSoap(
  gh: TestGatehouse,
  username = 'alice',
): Promise<{ identityToken: string; answer: string }> {
  const { contextId, redirectUrl } = await startLogin(gh);
  const answer = await externalLogin(gh, { ...(await codeAndState(gh, redirectUrl, username)), contextId });
  assert.equal(answer.status, 200, answer.body);
  return { identityToken: text(answer.body, 'IdentityToken'), answer: answer.body };
}

function authUser(gh: TestGatehouse, identityToken: string): Promise<Response> {
  return fetch(`${gh.url}/auth/user`, { headers: { authorization: `Bearer ${identityToken}` } });
}

function grantCount(gh: TestGatehouse, sub = 'alice'): Promise<number> {
  return gh.gh.deps.grants.idsBySub(sub).then((ids) => ids.length);
}

function codeExchanges(gh: TestGatehouse): number {
  return gh.gh.devIdp!.stats.tokenRequests.authorization_code ?? 0;
}

describe('the SOAP external login without a browser', () => {
  const gh = gatehouseForSuite();

  test('the whole seed flow signs alice in and answers the seed-shaped ExternalLoginResponse', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const { code, state } = await codeAndState(gh, redirectUrl);
    const answer = await externalLogin(gh, { code, state, contextId });

    assert.equal(answer.status, 200, answer.body);
    const seedResponse = readFileSync(
      new URL('./fixtures/seed-002/external-login.response.xml', import.meta.url),
      'utf8',
    );
    assert.deepEqual(shape(answer.body), shape(seedResponse));
    assert.match(text(answer.body, 'IdentityToken'), /^[\w-]{43}$/, '256 random bits, base64url');
    const workspaceId = text(answer.body, 'SWS_WSID');
    assert.match(workspaceId, /^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/);
    assert.deepEqual(
      ['SoapTransform', 'Code', 'State', 'ContextID'].map((name) => texts(answer.body, name)),
      [['no'], [code], [state], [contextId]],
    );

    const signOut = new URL(decodeBase64(text(answer.body, 'SignOutURL')));
    assert.equal(signOut.origin + signOut.pathname, `${gh.issuer}/session/end`);
    assert.equal(signOut.searchParams.get('post_logout_redirect_uri'), `${gh.url}/`);
    assert.match(signOut.searchParams.get('id_token_hint') ?? '', /^eyJ/);

    const logs = gh.logs.join('\n');
    for (const secret of [text(answer.body, 'IdentityToken'), code, signOut.searchParams.get('id_token_hint')!]) {
      assert.ok(!logs.includes(secret), 'no token, code or id_token in the log');
    }

    const grants = gh.gh.deps.grants;
    const [grantId] = await grants.idsBySub('alice');
    const grant = await grants.get(grantId!);
    assert.equal(grant?.via, 'external');
    assert.equal(grant?.workspaceId, workspaceId, 'SWS_WSID is kept with the grant');
  });

  test('the IdentityToken reaches GET /auth/user as a bearer credential and the answer holds no token', async () => {
    const { identityToken } = await signedInWithSoap(gh);
    const response = await authUser(gh, identityToken);
    assert.equal(response.status, 200);
    const body = await response.text();
    const user = JSON.parse(body) as { sub: string; session: { via: string } };
    assert.equal(user.sub, 'alice');
    assert.equal(user.session.via, 'external');
    assert.ok(!body.includes(identityToken));
    assert.doesNotMatch(body, /eyJ[\w-]+\.[\w-]+\./, 'no JWT in the answer');
  });

  test('the IdentityToken reaches /api without a CSRF header, the upstream gets an access token and never the IdentityToken, and Logout ends it', async () => {
    const { identityToken } = await signedInWithSoap(gh, 'bob');
    const api = () => fetch(`${gh.url}/api/renku/user`, { headers: { authorization: `Bearer ${identityToken}` } });
    const response = await api();
    assert.equal(response.status, 200);
    const body = await response.text();
    assert.match(body, /bob/);
    assert.ok(!body.includes(identityToken));
    const logout = await callSoap(gh.url, 'Logout', [['IdentityToken', identityToken]]);
    assert.equal(logout.status, 200);
    const after = await api();
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as { error: string }).error, 'unauthenticated');
  });

  test('a bearer header that reaches no grant leaves the request anonymous, even with a signed-in session cookie', async () => {
    const browser = new CookieBrowser();
    await signIn(gh, browser);
    const cookie = browser.cookieHeader(new URL(gh.url));
    assert.equal((await fetch(`${gh.url}/auth/user`, { headers: { cookie } })).status, 200);
    for (const authorization of ['Bearer made-up-token', 'Bearer', 'Bearer not a token']) {
      const response = await fetch(`${gh.url}/auth/user`, { headers: { cookie, authorization } });
      assert.equal(response.status, 401, authorization);
      assert.equal(((await response.json()) as { error: string }).error, 'unauthenticated');
    }
  });

  test('a replayed ContextID gets the Invalid context ID fault and creates no second grant', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const input = { ...(await codeAndState(gh, redirectUrl)), contextId };
    assert.equal((await externalLogin(gh, input)).status, 200);
    const grantsBefore = await grantCount(gh);
    const exchangesBefore = codeExchanges(gh);

    const replay = await externalLogin(gh, input);
    assert.equal(replay.status, 500);
    assert.deepEqual(fault(replay), { faultcode: 'Client', faultstring: `Invalid context ID: ${contextId}` });
    assert.equal(await grantCount(gh), grantsBefore);
    assert.equal(codeExchanges(gh), exchangesBefore, 'the code is not sent to the IdP again');
  });

  test('a wrong State gets a Client fault, spends the context and sends nothing to the IdP', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const { code, state } = await codeAndState(gh, redirectUrl);
    const grantsBefore = await grantCount(gh);
    const exchangesBefore = codeExchanges(gh);

    const wrong = await externalLogin(gh, { code, state: `${state}x`, contextId });
    assert.deepEqual(fault(wrong), { faultcode: 'Client', faultstring: 'State does not belong to this context.' });
    const retry = await externalLogin(gh, { code, state, contextId });
    assert.deepEqual(fault(retry), { faultcode: 'Client', faultstring: `Invalid context ID: ${contextId}` });
    assert.equal(await grantCount(gh), grantsBefore);
    assert.equal(codeExchanges(gh), exchangesBefore);
  });

  test('10 concurrent ExternalLogin calls with one ContextID yield exactly one IdentityToken', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const input = { ...(await codeAndState(gh, redirectUrl)), contextId };
    const grantsBefore = await grantCount(gh);
    const exchangesBefore = codeExchanges(gh);

    const answers = await Promise.all(Array.from({ length: 10 }, () => externalLogin(gh, input)));
    const tokens = answers.filter((a) => a.status === 200).map((a) => text(a.body, 'IdentityToken'));
    assert.equal(tokens.length, 1);
    for (const refused of answers.filter((a) => a.status !== 200)) {
      assert.deepEqual(fault(refused), { faultcode: 'Client', faultstring: `Invalid context ID: ${contextId}` });
    }
    assert.equal(await grantCount(gh), grantsBefore + 1);
    assert.equal(codeExchanges(gh), exchangesBefore + 1);
  });

  test('ContextID is matched without regard to case, as GUIDs are', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const answer = await externalLogin(gh, {
      ...(await codeAndState(gh, redirectUrl)),
      contextId: contextId.toLowerCase(),
    });
    assert.equal(answer.status, 200, answer.body);
  });

  for (const contextId of ['not-a-guid', '{29CF73D1-44AD-4BBD-A0E5}']) {
    test(`a ContextID ${JSON.stringify(contextId)} gets the seed's Client fault "Invalid context ID: …"`, async () => {
      const answer = await externalLogin(gh, { code: 'c', state: 's', contextId });
      assert.deepEqual(fault(answer), { faultcode: 'Client', faultstring: `Invalid context ID: ${contextId}` });
    });
  }

  for (const params of [
    [
      ['Code', 'c'],
      ['State', 's'],
    ],
    [
      ['Code', 'c'],
      ['State', 's'],
      ['ContextID', ''],
    ],
  ] as Array<Array<[string, string]>>) {
    test(`an ExternalLogin ${params.length === 2 ? 'without' : 'with an empty'} ContextID gets the seed's Client fault "Invalid context ID:"`, async () => {
      const answer = await callSoap(gh.url, 'ExternalLogin', params);
      assert.deepEqual(fault(answer), { faultcode: 'Client', faultstring: 'Invalid context ID:' });
    });
  }

  test('a code the IdP refuses gets a Client fault that names no IdP internals, and the context is spent', async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const state = new URL(redirectUrl).searchParams.get('state')!;
    const answer = await externalLogin(gh, { code: 'made-up-code', state, contextId });
    assert.deepEqual(fault(answer), {
      faultcode: 'Client',
      faultstring: 'The identity provider did not accept the code.',
    });
    const retry = await externalLogin(gh, { code: 'made-up-code', state, contextId });
    assert.equal(fault(retry).faultstring, `Invalid context ID: ${contextId}`);
  });

  test('Logout ends the grant: the IdentityToken is refused afterwards and Logout answers the IdP sign-out URL', async () => {
    const { identityToken } = await signedInWithSoap(gh);
    assert.equal((await authUser(gh, identityToken)).status, 200);
    const grantsBefore = await grantCount(gh);

    const answer = await callSoap(gh.url, 'Logout', [['IdentityToken', identityToken]]);
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(
      shape(answer.body).map((line) => line.replace(/ xmlns:.*$/, '')),
      [
        'SOAP-ENV:Envelope',
        'SOAP-ENV:Envelope/SOAP-ENV:Body',
        'SOAP-ENV:Envelope/SOAP-ENV:Body/m:LogoutResponse',
        'SOAP-ENV:Envelope/SOAP-ENV:Body/m:LogoutResponse/SignOutURL',
        'SOAP-ENV:Envelope/SOAP-ENV:Body/m:LogoutResponse/XMLDATA',
        'SOAP-ENV:Envelope/SOAP-ENV:Body/m:LogoutResponse/XMLDATA/Variables',
        'SOAP-ENV:Envelope/SOAP-ENV:Body/m:LogoutResponse/XMLDATA/Variables/SoapTransform',
      ],
    );
    assert.ok(!answer.body.includes(identityToken), 'the IdentityToken is not echoed');
    const signOut = new URL(decodeBase64(text(answer.body, 'SignOutURL')));
    assert.equal(signOut.origin + signOut.pathname, `${gh.issuer}/session/end`);
    assert.match(signOut.searchParams.get('id_token_hint') ?? '', /^eyJ/);

    assert.equal((await authUser(gh, identityToken)).status, 401);
    assert.equal(await grantCount(gh), grantsBefore - 1);
    const again = await callSoap(gh.url, 'Logout', [['IdentityToken', identityToken]]);
    assert.deepEqual(fault(again), { faultcode: 'Client', faultstring: 'Invalid or ended IdentityToken.' });
  });

  test('an IdentityToken is refused once its grant ends any other way', async () => {
    const { identityToken } = await signedInWithSoap(gh);
    const grant = await gh.gh.deps.grants.resolveHandle(identityToken);
    await gh.gh.deps.grants.end(grant!.id);
    assert.equal((await authUser(gh, identityToken)).status, 401);
  });
});

describe('ContextID lifetime', () => {
  const clock = new TestClock();
  const gh = gatehouseForSuite({}, { clock: clock.read });

  test('a ContextID works for 15 minutes and gets the Invalid context ID fault after that', async () => {
    const early = await startLogin(gh);
    const late = await startLogin(gh);
    const earlyInput = { ...(await codeAndState(gh, early.redirectUrl)), contextId: early.contextId };
    const lateInput = { ...(await codeAndState(gh, late.redirectUrl)), contextId: late.contextId };

    clock.advance(15 * 60 * 1000 - 1000);
    assert.equal((await externalLogin(gh, earlyInput)).status, 200, 'still valid just before 15 minutes');
    clock.advance(2000);
    const expired = await externalLogin(gh, lateInput);
    assert.deepEqual(fault(expired), { faultcode: 'Client', faultstring: `Invalid context ID: ${late.contextId}` });
  });
});

describe('when the IdP cannot be reached', () => {
  const gh = gatehouseForSuite();

  test("ExternalLogin answers the seed's Server fault, Unknown exception, and nothing of the cause", async () => {
    const { contextId, redirectUrl } = await startLogin(gh);
    const { code, state } = await codeAndState(gh, redirectUrl);
    await gh.gh.devIdp!.close();

    const answer = await externalLogin(gh, { code, state, contextId });
    assert.equal(answer.status, 500);
    const seedFault = readFileSync(
      new URL('./fixtures/seed-002/session-server-info.fault.xml', import.meta.url),
      'utf8',
    );
    assert.equal(answer.body, seedFault.replace(/\n\n/g, '\n'));
    assert.ok(
      gh.logs.some((line) => line.includes('"code":"idp_unavailable"')),
      'the log has the cause',
    );
  });
});
