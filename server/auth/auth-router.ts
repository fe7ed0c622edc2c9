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
import { safeReturnTo } from './return-to.ts';
import { observed } from '../observability/observability.ts';
import { activeApiTokenCount, revokeApiTokensOf } from '../grants/revoke-api-token.ts';
import { readSignedOut, writeSignedOut } from './signed-out.ts';

export { cookieNames } from '../http/cookies.ts';
export { maxPendingLoginsPerBrowser } from './authorization.ts';

/**
 * `/auth`: login, callback, logout (`/auth/user` is {@link userRouter}). Each handler reads top-down as the protocol's
 * steps; every failure leaves no session, no cookie and no transaction behind.
 */
export function authRouter(
  deps: AppDeps,
  extensions: Pick<AppExtensions, 'signOutExternal' | 'authorizationPurposes' | 'apiTokens'> = {},
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

  // The gate asked for the form's token or X-CSRF: 1 (a page form POST, gate/policy.ts).
  router.post('/logout', express.urlencoded({ extended: false, limit: '2kb' }), async (req, res) => {
    // API tokens have grants of their own, so a pipeline outlives the browser's sign-out: the
    // user is told how many stay, or ends them too with "Sign out and revoke my API tokens".
    const tokens = { remaining: 0, revoked: 0 };
    const { apiTokens } = extensions;
    if (req.grant && apiTokens) {
      if ((req.body as Record<string, unknown> | undefined)?.revoke_api_tokens === '1')
        tokens.revoked = await revokeApiTokensOf(deps, apiTokens, req.grant.sub);
      else tokens.remaining = await activeApiTokenCount(apiTokens, req.grant.sub);
    }
    const signedIn = req.grant !== undefined || req.session?.external !== undefined;
    const endSessionUrl = await endBrowserSession(req, res);
    if (signedIn) writeSignedOut(res, config.secureCookies, tokens);
    res.redirect(302, endSessionUrl ?? (signedIn ? '/auth/signed-out' : '/'));
  });

  // Where a sign-out ends: the IdP's post-logout redirect lands on `/?state=…`, which sends
  // the browser here, so the address bar is clean and the page says what stays.
  router.get('/signed-out', (req, res) => {
    if (req.grant || req.session?.external) return res.redirect(302, '/');
    res.render('signed-out', { tokens: readSignedOut(req, config.secureCookies) });
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
