import { type CookieOptions, type Request, Router } from 'express';
import type { AppDeps } from '../app.ts';
import { AppError } from '../errors.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import type { TokenCipher } from '../grants/token-cipher.ts';
import { readCookie } from '../http/cookies.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { randomHandle } from '../random.ts';
import { regenerateSession, saveSession } from '../session/session-lifecycle.ts';
import { contextTtlMs } from '../soap/session-service.ts';
import type { SoapClient } from '../soap/soap-client.ts';
import { sealExternalCredentials } from './external-credentials.ts';
import { signOutStashKey } from './external-sign-out.ts';

/**
 * The cookie that carries the ContextID from GetExternalLoginRedirectURL to the callback (seed
 * step 3). Over https it is `__Host-ContextID`: browsers keep a `__Host-` cookie only when it is
 * `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant one for the
 * callback to pick up. A plain `ContextID` is then never read.
 */
export function contextCookie(secure: boolean): { name: string; path: string } {
  return secure ? { name: '__Host-ContextID', path: '/' } : { name: 'ContextID', path: '/external' };
}

/**
 * `/external`: the browser side of seed 002's flow, as a SOAP client of the configured Session
 * service. `/login` asks for the IdP URL and keeps the ContextID in a cookie; `/callback`
 * trades code, state and ContextID for an IdentityToken that stays in the server-side session.
 */
export function externalRouter(deps: AppDeps, soap: SoapClient, cipher: TokenCipher): Router {
  const { config, grants, idp, store, logger, clock, limits: rateLimits } = deps;
  const requestUrl = `${config.publicUrl}/external/callback`;
  const cookie = contextCookie(config.secureCookies);
  const cookieOptions: CookieOptions = {
    httpOnly: true,
    // Lax, not Strict: the IdP's redirect back is a cross-site navigation.
    sameSite: 'lax',
    secure: config.secureCookies,
    path: cookie.path,
  };
  const router = Router();

  router.get('/login', rateLimits.start('external_login'), async (req, res) => {
    const info = await soap.sessionServerInfo(clientAddress(req));
    if (!info.externalAuth) throw new AppError(403, 'external_auth_disabled', 'External login is turned off on the login server.');
    const { redirectUrl, contextId } = await soap.getExternalLoginRedirectURL(requestUrl, clientAddress(req));
    res.cookie(cookie.name, contextId, { ...cookieOptions, maxAge: contextTtlMs });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, redirectUrl);
  });

  router.get('/callback', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    // The context works once, whatever happens next: the browser forgets it now.
    const contextId = readCookie(req, cookie.name);
    res.clearCookie(cookie.name, cookieOptions);
    if (!contextId) throw callbackError('external_context_missing', 'This sign-in expired or was started in another browser; start again.');
    if (typeof req.query.error === 'string') {
      const code = req.query.error.replace(/[^a-z_]/g, '').slice(0, 40);
      throw callbackError('idp_error', `The identity provider refused the sign-in (${code}).`);
    }
    const code = queryString(req, 'code');
    const state = queryString(req, 'state');
    if (!code || !state) throw callbackError('missing_code', 'The sign-in response has no code or state.');

    const login = await soap.externalLogin({ code, state, contextId }, clientAddress(req));
    // When the Session service is this Gatehouse the IdentityToken reaches a grant here, and the
    // cookie session uses it too (home page, /auth/user, /api).
    const grant = await grants.resolveHandle(login.identityToken);
    // Signing in again in the same browser replaces its sign-in (see /auth/callback).
    if (req.session?.grantId) await signOutGrant(grants, idp, req.session.grantId, grant);
    await regenerateSession(req);
    const now = clock();
    req.session.external = {
      workspaceId: login.workspaceId,
      sealedCredentials: sealExternalCredentials(cipher, { identityToken: login.identityToken, signOutUrl: login.signOutUrl ?? '' }),
    };
    if (grant) req.session.grantId = grant.id;
    req.session.csrfToken = randomHandle(24);
    req.session.createdAt = now;
    req.session.lastSeenAt = now;
    await saveSession(req);
    logger.info('signed in', { via: 'external', workspaceId: login.workspaceId, localGrant: grant !== undefined });
    res.redirect(302, '/');
  });

  // Sign-out continues here when the IdP is on an origin the sign-out form may not redirect to.
  router.get('/signed-out', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const id = queryString(req, 'id');
    const signOutUrl = id ? await store.take(signOutStashKey(id)) : undefined;
    if (!signOutUrl) return res.redirect(302, '/');
    // A refresh is a new navigation, not part of the form submission that CSP form-action guards.
    res.setHeader('Refresh', `0; url=${signOutUrl}`);
    res.render('external-signed-out', { signOutUrl, host: new URL(signOutUrl).host });
  });

  return router;
}

function queryString(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}

function callbackError(code: string, message: string): AppError {
  return new AppError(400, code, message);
}
