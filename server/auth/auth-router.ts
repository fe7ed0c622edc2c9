import express, { type Request, type Response, Router } from 'express';
import type { AppDeps, AppExtensions } from '../deps.ts';

export type { AuthorizationCompletion } from '../deps.ts';
import { AppError } from '../errors.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import { clearSessionCookie } from '../http/cookies.ts';
import { noStore } from '../http/no-store.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { randomHandle } from '../random.ts';
import { destroySession } from '../session/session-lifecycle.ts';
import { startBrowserSession } from '../session/start-browser-session.ts';
import { Authorizations } from './authorization.ts';
import { hasCsrfProof } from './csrf.ts';
import { safeReturnTo } from './return-to.ts';
import { observed } from '../observability/observability.ts';

export { cookieNames } from '../http/cookies.ts';
export { maxPendingLoginsPerBrowser } from './authorization.ts';

/**
 * `/auth`: login, callback, logout (`/auth/user` is {@link userRouter}). Each handler reads top-down as the protocol's
 * steps; every failure leaves no session, no cookie and no transaction behind.
 */
export function authRouter(
  deps: AppDeps,
  extensions: Pick<AppExtensions, 'signOutExternal' | 'authorizationPurposes'> = {},
): Router {
  const { config, grants, idp, logger, clock, limits: rateLimits } = deps;
  const authorizations = new Authorizations(deps);
  const limits = config.session;
  const router = Router();
  // Sign-in redirects, the user's claims, sign-out: nothing here may be cached.
  router.use(noStore);

  router.get('/login', rateLimits.start('auth_login'), async (req, res) => {
    const returnTo = safeReturnTo(req.query.returnTo);
    const url = await authorizations.start(req, res, { returnTo, scope: config.oidc.scopes });
    res.redirect(302, url);
  });

  router.get('/callback', async (req, res) => {
    observed().signInAttempt('oidc');
    const { signIn, transaction } = await authorizations.complete(req, res);
    if (transaction.purpose) {
      const complete = extensions.authorizationPurposes?.[transaction.purpose.kind];
      if (!complete)
        throw new AppError('unknown_purpose', 'This sign-in was started for something this Gatehouse does not offer.');
      return complete(req, res, signIn, transaction.purpose.data);
    }

    const grant = await grants.create({
      ...signIn,
      via: 'oidc',
      maxLifetimeMs: limits.maxMs,
      ...(req.get('user-agent') ? { userAgent: req.get('user-agent')! } : {}),
    });
    // (A remote external sign-in this replaces is simply forgotten: its server ends its
    // IdentityToken at its own session lifetime.)
    await startBrowserSession(req, { grants, idp, clock }, { grant });
    logger.info('signed in', { sub: grant.sub, via: 'oidc' });
    res.redirect(302, transaction.returnTo);
  });

  router.post('/logout', express.urlencoded({ extended: false, limit: '2kb' }), async (req, res) => {
    if (!hasCsrfProof(req)) {
      throw new AppError('csrf_proof_missing', "Sign out from Gatehouse's own page, or send the header X-CSRF: 1.");
    }
    const endSessionUrl = await endBrowserSession(req, res);
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
      observed().signOut();
    }
    await destroySession(req);
    clearSessionCookie(res, config.secureCookies);
    if (external) return externalSignOutUrl;
    if (!grant) return undefined;
    return idp.endSessionUrl({ idTokenHint, postLogoutRedirectUri: `${config.publicUrl}/`, state: randomHandle(16) });
  }

  return router;
}
