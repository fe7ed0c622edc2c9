import { type Request, Router } from 'express';
import type { AppDeps } from '../deps.ts';
import type { ErrorCode } from '../error-codes.ts';
import { AppError } from '../errors.ts';
import type { TokenCipher } from '../grants/token-cipher.ts';
import { idpErrorAtCallback } from '../auth/callback-errors.ts';
import { contextCookie, cookieOptions, readCookie } from '../http/cookies.ts';
import { noStore } from '../http/no-store.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { startBrowserSession } from '../session/start-browser-session.ts';
import { contextTtlMs } from '../soap/session-service.ts';
import type { SoapClient } from '../soap/soap-client.ts';
import { sealExternalCredentials } from './external-credentials.ts';
import { signOutStashKey } from './external-sign-out.ts';
import { observed } from '../observability/observability.ts';

export { contextCookie } from '../http/cookies.ts';

/**
 * `/external`: the browser side of seed 002's flow, as a SOAP client of the configured Session
 * service. `/login` asks for the IdP URL and keeps the ContextID in a cookie; `/callback`
 * trades code, state and ContextID for an IdentityToken that stays in the server-side session.
 */
export function externalRouter(deps: AppDeps, soap: SoapClient, cipher: TokenCipher): Router {
  const { config, grants, idp, store, logger, clock, limits: rateLimits } = deps;
  const requestUrl = `${config.publicUrl}/external/callback`;
  const cookie = contextCookie(config.secureCookies);
  const contextCookieOptions = cookieOptions(config.secureCookies, cookie.path);
  const router = Router();
  router.use(noStore);

  router.get('/login', rateLimits.start('external_login'), async (req, res) => {
    const info = await soap.sessionServerInfo(clientAddress(req));
    if (!info.externalAuth)
      throw new AppError('external_auth_disabled', 'External login is turned off on the login server.');
    const { redirectUrl, contextId } = await soap.getExternalLoginRedirectURL(requestUrl, clientAddress(req));
    res.cookie(cookie.name, contextId, { ...contextCookieOptions, maxAge: contextTtlMs });
    res.redirect(302, redirectUrl);
  });

  router.get('/callback', async (req, res) => {
    observed().signInAttempt('external');
    // The context works once, whatever happens next: the browser forgets it now.
    const contextId = readCookie(req, cookie.name);
    res.clearCookie(cookie.name, contextCookieOptions);
    if (!contextId)
      throw callbackError(
        'external_context_missing',
        'This sign-in expired or was started in another browser; start again.',
      );
    const refused = idpErrorAtCallback(req, idp);
    if (refused) throw refused;
    const code = queryString(req, 'code');
    const state = queryString(req, 'state');
    if (!code || !state) throw callbackError('missing_code', 'The sign-in response has no code or state.');

    const login = await soap.externalLogin({ code, state, contextId }, clientAddress(req));
    // When the Session service is this Gatehouse the IdentityToken reaches a grant here, and the
    // cookie session uses it too (home page, /auth/user, /api).
    const grant = await grants.resolveHandle(login.identityToken);
    await startBrowserSession(
      req,
      { grants, idp, clock },
      {
        ...(grant ? { grant } : {}),
        external: {
          workspaceId: login.workspaceId,
          sealedCredentials: sealExternalCredentials(cipher, {
            identityToken: login.identityToken,
            signOutUrl: login.signOutUrl ?? '',
          }),
        },
      },
    );
    logger.info('signed in', { via: 'external', workspaceId: login.workspaceId, localGrant: grant !== undefined });
    res.redirect(302, '/');
  });

  // Sign-out continues here when the IdP is on an origin the sign-out form may not redirect to.
  router.get('/signed-out', async (req, res) => {
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

function callbackError(code: ErrorCode, message: string): AppError {
  return new AppError(code, message);
}
