import express, { type Request, type Response, Router } from 'express';
import type { AppDeps, AppExtensions } from '../app.ts';
import { AppError } from '../errors.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import { readCookie } from '../http/cookies.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { hashHandle, randomHandle } from '../random.ts';
import { boundPending } from '../store/bound-pending.ts';
import { destroySession, regenerateSession, saveSession } from '../session/session-lifecycle.ts';
import { hasCsrfProof } from './csrf.ts';
import { requireGrant, sessionExpiresAt } from './load-caller.ts';
import { safeReturnTo } from './return-to.ts';

/** A login in progress, kept server-side under the hash of its `state`. */
interface LoginTransaction {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  /** SHA-256 of the browser-binding cookie: the callback must come from the same browser. */
  browser: string;
}

const transactionTtlMs = 10 * 60 * 1000;

/** Sign-ins one browser may have pending at once (tabs, retries); starting more ends the oldest. */
export const maxPendingLoginsPerBrowser = 10;

/** Names of Gatehouse's cookies; `__Host-` when served over https. */
export function cookieNames(secure: boolean): { session: string; login: string } {
  return secure
    ? { session: '__Host-gatehouse', login: '__Host-gatehouse-login' }
    : { session: 'gatehouse', login: 'gatehouse-login' };
}

/**
 * `/auth`: login, callback, user, logout. Each handler reads top-down as the protocol's
 * steps; every failure leaves no session, no cookie and no transaction behind.
 */
export function authRouter(deps: AppDeps, extensions: Pick<AppExtensions, 'signOutExternal'> = {}): Router {
  const { config, store, grants, idp, logger, clock, limits: rateLimits } = deps;
  const names = cookieNames(config.secureCookies);
  const redirectUri = `${config.publicUrl}/auth/callback`;
  const limits = { idleMs: config.session.idleSeconds * 1000, maxMs: config.session.maxSeconds * 1000 };
  const router = Router();

  router.get('/login', rateLimits.start('auth_login'), async (req, res) => {
    const returnTo = safeReturnTo(req.query.returnTo);
    const request = await idp.authorizationRequest(redirectUri, config.oidc.scopes);
    // One binding cookie per browser, shared by its tabs, so several sign-ins can run at once.
    const existing = readCookie(req, names.login);
    const browser = typeof existing === 'string' && /^[\w-]{43}$/.test(existing) ? existing : randomHandle();
    const transaction: LoginTransaction = {
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo,
      browser: hashHandle(browser),
    };
    const key = `tx:${hashHandle(request.state)}`;
    await store.set(key, JSON.stringify(transaction), transactionTtlMs);
    await boundPending(store, `txb:${transaction.browser}`, key, { max: maxPendingLoginsPerBrowser, ttlMs: transactionTtlMs, now: clock() });
    res.cookie(names.login, browser, {
      httpOnly: true,
      // Lax, not Strict: the IdP's redirect back is a cross-site navigation.
      sameSite: 'lax',
      secure: config.secureCookies,
      path: '/',
      maxAge: transactionTtlMs,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, request.url);
  });

  router.get('/callback', async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    if (!state) throw callbackError('missing_state', 'The sign-in response has no state.');
    // Taken, not read: a state works once, also when this callback fails.
    const raw = await store.take(`tx:${hashHandle(state)}`);
    if (raw === undefined) throw callbackError('unknown_state', 'This sign-in link was already used or has expired.');
    const transaction = JSON.parse(raw) as LoginTransaction;
    const browser = readCookie(req, names.login);
    if (typeof browser !== 'string' || hashHandle(browser) !== transaction.browser) {
      throw callbackError('browser_mismatch', 'This sign-in was started in another browser.');
    }
    if (typeof req.query.error === 'string') {
      const code = req.query.error.replace(/[^a-z_]/g, '').slice(0, 40);
      throw callbackError('idp_error', `The identity provider refused the sign-in (${code}).`);
    }

    const callbackUrl = new URL(redirectUri);
    callbackUrl.search = new URL(req.originalUrl, 'http://placeholder').search;
    let signIn;
    try {
      signIn = await idp.authorizationCodeGrant(callbackUrl, { ...transaction, state });
    } catch (error) {
      if (error instanceof AppError && error.status >= 500) throw error;
      const code = error instanceof AppError ? error.code : 'token_exchange_failed';
      throw callbackError(code, 'The sign-in could not be completed.', error);
    }

    const grant = await grants.create({
      ...signIn,
      via: 'oidc',
      maxLifetimeMs: limits.maxMs,
      ...(req.get('user-agent') ? { userAgent: req.get('user-agent')! } : {}),
    });
    // Signing in again in the same browser replaces its sign-in: the old grant would otherwise
    // stay alive, unreachable, with a working refresh token. (A remote external sign-in's
    // IdentityToken is simply forgotten: its server ends it at its own session lifetime.)
    if (req.session?.grantId) await signOutGrant(grants, idp, req.session.grantId, grant);
    await regenerateSession(req);
    const now = clock();
    req.session.grantId = grant.id;
    req.session.csrfToken = randomHandle(24);
    req.session.createdAt = now;
    req.session.lastSeenAt = now;
    await saveSession(req);
    logger.info('signed in', { sub: grant.sub, via: 'oidc' });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, transaction.returnTo);
  });

  router.get('/user', requireGrant, (req, res) => {
    const grant = req.grant!;
    const claims = grant.claims;
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      sub: grant.sub,
      name: claims.name ?? claims.preferred_username ?? null,
      email: claims.email ?? null,
      claims,
      session: {
        via: grant.via,
        createdAt: new Date(grant.createdAt).toISOString(),
        expiresAt: new Date(sessionExpiresAt(req, grant, limits)).toISOString(),
      },
      logoutUrl: '/auth/logout',
    });
  });

  router.post('/logout', express.urlencoded({ extended: false, limit: '2kb' }), async (req, res) => {
    if (!hasCsrfProof(req)) {
      throw new AppError(403, 'csrf_proof_missing', 'Sign out from Gatehouse\'s own page, or send the header X-CSRF: 1.');
    }
    const endSessionUrl = await endBrowserSession(req, res);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, endSessionUrl ?? '/');
  });

  /** Ends the grant and the session, and returns the IdP's end-session URL for the browser. */
  async function endBrowserSession(req: Request, res: Response): Promise<string | undefined> {
    const grant = req.grant;
    // An external sign-in ends at its SOAP server (Logout), which names the IdP sign-out URL and,
    // when that server is this Gatehouse, has already ended the grant below.
    const external = req.session?.external;
    const externalSignOutUrl = external ? await extensions.signOutExternal?.(external, clientAddress(req)) : undefined;
    let idTokenHint: string | undefined;
    if (grant) {
      // The ended record's id_token: a refresh on another instance may have replaced it.
      const ended = await signOutGrant(grants, idp, grant.id);
      idTokenHint = grants.tokens(ended ?? grant).idToken;
      logger.info('signed out', { sub: grant.sub });
    }
    await destroySession(req);
    res.clearCookie(names.session, { path: '/', httpOnly: true, sameSite: 'lax', secure: config.secureCookies });
    if (external) return externalSignOutUrl;
    if (!grant) return undefined;
    return idp.endSessionUrl({ idTokenHint, postLogoutRedirectUri: `${config.publicUrl}/`, state: randomHandle(16) });
  }

  return router;
}

function callbackError(code: string, message: string, cause?: unknown): AppError {
  return new AppError(400, code, message, { cause });
}
