// Each security step Gatehouse takes in more than one place is one function; these tests pin
// each of them down on its own, with a real express-session and store where a session is involved.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import express, { type Request, type RequestHandler } from 'express';
import session from 'express-session';
import request from 'supertest';
import '../server/http/express-types.ts';
import '../server/session/session-data.ts';
import { idpErrorAtCallback } from '../server/auth/callback-errors.ts';
import { requireCaller, requireGrant } from '../server/auth/load-caller.ts';
import { constantTimeEqual } from '../server/constant-time.ts';
import type { ErrorCode } from '../server/error-codes.ts';
import { AppError } from '../server/errors.ts';
import type { Grant } from '../server/grants/grant-store.ts';
import { GrantStore } from '../server/grants/grant-store.ts';
import { clearSessionCookie, contextCookie, cookieNames, cookieOptions } from '../server/http/cookies.ts';
import { noStore } from '../server/http/no-store.ts';
import { exchangeFailure } from '../server/idp/exchange-failure.ts';
import type { IdpAdapter } from '../server/idp/idp-adapter.ts';
import { hashHandle } from '../server/random.ts';
import { SessionStoreAdapter } from '../server/session/session-store.ts';
import { type BrowserSignIn, startBrowserSession } from '../server/session/start-browser-session.ts';
import { MemoryStore } from '../server/store/memory-store.ts';

const secret = 'a-test-secret-that-is-long-enough-1234';

describe('startBrowserSession', () => {
  /** What the next request to the test app does: the sign-in to start, the grant the earlier session had. */
  interface Scenario {
    signIn: BrowserSignIn;
    earlierGrantId?: string;
  }

  /** An app with the real session middleware: `/before` makes a signed-in session, `/sign-in` starts a new one. */
  function sessionApp(scenario: Scenario) {
    const store = new MemoryStore();
    const grants = new GrantStore(store, secret, () => 1_000);
    // The grants in these tests hold no refresh token, so nothing is revoked at the IdP.
    const idp = {
      revoke: () => {
        throw new Error('nothing should be revoked');
      },
    } as unknown as IdpAdapter;
    const app = express();
    app.use(
      session({
        name: 'gatehouse',
        secret,
        store: new SessionStoreAdapter(store, () => 60_000),
        resave: false,
        saveUninitialized: false,
      }),
    );
    app.get('/before', (req, res) => {
      req.session.csrfToken = 'old-csrf-token';
      req.session.createdAt = 1;
      if (scenario.earlierGrantId) req.session.grantId = scenario.earlierGrantId;
      res.json({ sessionId: req.sessionID });
    });
    app.get('/sign-in', async (req, res) => {
      await startBrowserSession(req, { grants, idp, clock: () => 5_000 }, scenario.signIn);
      res.json({ sessionId: req.sessionID, session: req.session });
    });
    return { app, store, grants };
  }

  const newGrant = {
    sub: 'alice',
    via: 'oidc' as const,
    claims: {},
    tokens: { accessToken: 'at' },
    maxLifetimeMs: 3_600_000,
  };

  test('starting a browser session always issues a new session id and a new CSRF token', async () => {
    const scenario: Scenario = { signIn: {} };
    const { app, store, grants } = sessionApp(scenario);
    const grant = await grants.create(newGrant);
    scenario.signIn = { grant };
    const browser = request.agent(app);
    const before = (await browser.get('/before')).body as { sessionId: string };
    const after = (await browser.get('/sign-in')).body as { sessionId: string; session: Record<string, unknown> };

    assert.notEqual(after.sessionId, before.sessionId);
    assert.equal(
      await store.get(`session:${hashHandle(before.sessionId)}`),
      undefined,
      'the old session record is gone',
    );
    assert.equal(typeof after.session.csrfToken, 'string');
    assert.notEqual(after.session.csrfToken, 'old-csrf-token');
    assert.ok((after.session.csrfToken as string).length >= 32);
    assert.equal(after.session.grantId, grant.id);
    assert.equal(after.session.createdAt, 5_000);
    assert.equal(after.session.lastSeenAt, 5_000);
    const saved = JSON.parse((await store.get(`session:${hashHandle(after.sessionId)}`))!) as Record<string, unknown>;
    assert.equal(saved.csrfToken, after.session.csrfToken, 'the new session is saved before the response');
  });

  test('starting a browser session ends the grant of the sign-in it replaces, not the new one', async () => {
    const scenario: Scenario = { signIn: {} };
    const { app, grants } = sessionApp(scenario);
    const replaced = await grants.create(newGrant);
    const grant = await grants.create(newGrant);
    Object.assign(scenario, { earlierGrantId: replaced.id, signIn: { grant } });
    const browser = request.agent(app);
    await browser.get('/before');
    await browser.get('/sign-in');
    assert.equal(await grants.get(replaced.id), undefined);
    assert.ok(await grants.get(grant.id));
  });

  test('an external sign-in keeps its fields and reaches no grant when it has none', async () => {
    const { app } = sessionApp({ signIn: { external: { workspaceId: 'ws-1', sealedCredentials: 'sealed' } } });
    const after = (await request(app).get('/sign-in')).body as { session: Record<string, unknown> };
    assert.deepEqual(after.session.external, { workspaceId: 'ws-1', sealedCredentials: 'sealed' });
    assert.equal(after.session.grantId, undefined);
    assert.equal(typeof after.session.csrfToken, 'string');
  });
});

/** Just enough of a request for the functions that read only the query, headers, body and session. */
function fakeRequest(parts: {
  query?: Record<string, unknown>;
  headers?: Record<string, string>;
  body?: unknown;
  session?: Record<string, unknown>;
  grant?: Grant;
}): Request {
  const headers = Object.fromEntries(
    Object.entries(parts.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return {
    query: parts.query ?? {},
    body: parts.body,
    session: parts.session,
    grant: parts.grant,
    headers,
    get: (name: string) => headers[name.toLowerCase()],
  } as unknown as Request;
}

describe('idpErrorAtCallback', () => {
  const issuer = 'https://idp.example';
  const silentIdp = { issuer, sendsIssInAuthorizationResponse: false };
  const rfc9207Idp = { issuer, sendsIssInAuthorizationResponse: true };

  test('a callback without ?error= is no refusal', () => {
    assert.equal(idpErrorAtCallback(fakeRequest({ query: { code: 'c', state: 's' } }), rfc9207Idp), undefined);
  });

  test('an IdP that names itself (RFC 9207) must name itself in an error too: a wrong or missing iss is idp_error_untrusted', () => {
    for (const query of [{ error: 'access_denied' }, { error: 'access_denied', iss: 'https://other.example' }]) {
      const error = idpErrorAtCallback(fakeRequest({ query }), rfc9207Idp);
      assert.equal(error?.code, 'idp_error_untrusted', JSON.stringify(query));
      assert.equal(error?.status, 400);
    }
    assert.equal(
      idpErrorAtCallback(fakeRequest({ query: { error: 'access_denied', iss: issuer } }), rfc9207Idp)?.code,
      'idp_error',
    );
    // An IdP that does not say it sends iss is judged as before.
    assert.equal(idpErrorAtCallback(fakeRequest({ query: { error: 'access_denied' } }), silentIdp)?.code, 'idp_error');
  });

  test("the IdP's ?error= becomes a 400 idp_error naming only the letters and underscores of its code", () => {
    const error = idpErrorAtCallback(
      fakeRequest({ query: { error: 'access_denied<script>alert(1)</script>' } }),
      silentIdp,
    );
    assert.ok(error instanceof AppError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'idp_error');
    assert.equal(error.message, 'The identity provider refused the sign-in (access_deniedscriptalertscript).');
  });

  test('a repeated ?error= (an array) is ignored like any malformed parameter', () => {
    assert.equal(idpErrorAtCallback(fakeRequest({ query: { error: ['a', 'b'] } }), rfc9207Idp), undefined);
  });
});

describe('exchangeFailure', () => {
  const refuse = (code: ErrorCode, cause: unknown) => new AppError(code, 'refused', { cause });

  test('an IdP outage (5xx) stays what it is, so the caller may try again', () => {
    const outage = new AppError('idp_unavailable', 'away');
    assert.equal(exchangeFailure(outage, refuse), outage);
  });

  test("an IdP refusal becomes the caller's 400 with the adapter's code", () => {
    const refusal = new AppError('invalid_grant', 'no');
    const error = exchangeFailure(refusal, refuse);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_grant');
    assert.equal(error.cause, refusal);
  });

  test('anything that is not an AppError is a token_exchange_failed', () => {
    const error = exchangeFailure(new TypeError('boom'), refuse);
    assert.equal(error.code, 'token_exchange_failed');
    assert.equal(error.status, 400);
  });
});

describe('cookies', () => {
  test('over https the cookies are __Host- cookies; over http they are plain', () => {
    assert.deepEqual(cookieNames(true), { session: '__Host-gatehouse', login: '__Host-gatehouse-login' });
    assert.deepEqual(cookieNames(false), { session: 'gatehouse', login: 'gatehouse-login' });
    assert.deepEqual(contextCookie(true), { name: '__Host-ContextID', path: '/' });
    assert.deepEqual(contextCookie(false), { name: 'ContextID', path: '/external' });
  });

  test('every cookie is HttpOnly and SameSite=Lax, Secure exactly over https', () => {
    assert.deepEqual(cookieOptions(true), { httpOnly: true, sameSite: 'lax', secure: true, path: '/' });
    assert.deepEqual(cookieOptions(false, '/external'), {
      httpOnly: true,
      sameSite: 'lax',
      secure: false,
      path: '/external',
    });
  });

  test('clearing the session cookie expires it with the attributes it was set with', async () => {
    const app = express();
    app.get('/', (_req, res) => {
      clearSessionCookie(res, true);
      res.end();
    });
    const cookie = (await request(app).get('/')).headers['set-cookie'] as unknown as string[];
    assert.equal(cookie.length, 1);
    assert.match(
      cookie[0]!,
      /^__Host-gatehouse=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/,
    );
  });
});

describe('the grant guard', () => {
  const grant = { id: 'g', sub: 'alice' } as Grant;

  test("requireCaller answers the request's grant and refuses an anonymous one with 401 unauthenticated", () => {
    assert.equal(requireCaller(fakeRequest({ grant })), grant);
    assert.throws(
      () => requireCaller(fakeRequest({})),
      (error: unknown) =>
        error instanceof AppError &&
        error.status === 401 &&
        error.code === 'unauthenticated' &&
        error.details.loginUrl === '/auth/login',
    );
  });

  test('requireGrant lets a signed-in request through and refuses an anonymous one', () => {
    const outcome = (req: Request): unknown => {
      let passed: unknown = 'not called';
      try {
        (requireGrant as RequestHandler)(req, {} as never, (error?: unknown) => {
          passed = error;
        });
      } catch (error) {
        passed = error;
      }
      return passed;
    };
    assert.equal(outcome(fakeRequest({ grant })), undefined);
    const refused = outcome(fakeRequest({}));
    assert.ok(refused instanceof AppError && refused.code === 'unauthenticated');
  });
});

describe('constantTimeEqual', () => {
  test('equal strings are equal, any difference (also in length or a multibyte character) is not', () => {
    assert.equal(constantTimeEqual('state-value', 'state-value'), true);
    assert.equal(constantTimeEqual('state-value', 'state-valuE'), false);
    assert.equal(constantTimeEqual('state-value', 'state-value-'), false);
    assert.equal(constantTimeEqual('é', 'e\u0301'), false);
    assert.equal(constantTimeEqual('', ''), true);
  });
});

describe('noStore', () => {
  test('every answer of a route it guards says Cache-Control: no-store, redirects too', async () => {
    const app = express();
    app.get('/page', noStore, (_req, res) => {
      res.send('hello');
    });
    app.get('/away', noStore, (_req, res) => {
      res.redirect(302, '/page');
    });
    app.get('/other', (_req, res) => {
      res.send('cacheable');
    });
    assert.equal((await request(app).get('/page')).headers['cache-control'], 'no-store');
    assert.equal((await request(app).get('/away')).headers['cache-control'], 'no-store');
    assert.equal((await request(app).get('/other')).headers['cache-control'], undefined);
  });
});
