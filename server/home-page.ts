import type { RequestHandler } from 'express';
import { listSessions } from './auth/list-sessions.ts';
import { sessionExpiresAt } from './auth/load-caller.ts';
import { readSignedOut } from './auth/signed-out.ts';
import type { AppDeps, AppExtensions } from './deps.ts';
import { activeApiTokenCount } from './grants/revoke-api-token.ts';
import { readableTime } from './readable-time.ts';

/**
 * `GET /`: the signed-in user's page (who, how, until when, their sessions and the features'
 * links), or the login page (or straight to the external login with BypassLoginPage).
 */
export function homePage(
  deps: Pick<AppDeps, 'config' | 'grants' | 'idp'>,
  extensions: Pick<AppExtensions, 'bypassLoginPage' | 'externalLogin' | 'homeLinks' | 'homeLinksFor' | 'apiTokens'>,
): RequestHandler {
  const { grants, idp } = deps;
  const limits = deps.config.session;
  return async (req, res) => {
    const grant = req.grant;
    const external = req.session?.external;
    if (!grant && external) {
      // Signed in at another LiveScore-compatible server: Gatehouse holds only its IdentityToken,
      // no grant and no claims, so the page names the way in and the workspace.
      const { createdAt = 0, lastSeenAt = 0, csrfToken = '' } = req.session;
      return res.render('home', {
        user: {
          name: 'Not shared by the external login server',
          email: '',
          viaLabel: 'via external login',
          workspaceId: external.workspaceId,
          expiresAt: new Date(Math.min(createdAt + limits.maxMs, lastSeenAt + limits.idleMs)).toISOString(),
          ...sessionEnds(createdAt + limits.maxMs, limits.idleMs),
        },
        readableTime,
        sessions: [],
        csrfToken,
        links: [],
        apiTokensActive: 0,
      });
    }
    if (!grant) {
      // The IdP's post-logout redirect (`/?state=…`): on to the page that says what stays, and
      // the state leaves the address bar.
      if (typeof req.query.state === 'string')
        return res.redirect(302, readSignedOut(req, deps.config.secureCookies) ? '/auth/signed-out' : '/');
      if (extensions.bypassLoginPage) return res.redirect(302, '/external/login');
      return res.render('login', {
        idpName: idpDisplayName(idp.issuer),
        externalLogin: extensions.externalLogin ?? false,
      });
    }
    const claims = grant.claims;
    res.render('home', {
      user: {
        name: claims.name ?? claims.preferred_username ?? grant.sub,
        email: claims.email ?? '',
        viaLabel: grant.via === 'external' ? 'via external login' : 'via OpenID Connect',
        workspaceId: req.session?.external?.workspaceId,
        expiresAt: new Date(sessionExpiresAt(req, grant, limits)).toISOString(),
        // The idle deadline moves with every request: say the rule, and the date only for the hard limit.
        ...sessionEnds(
          Math.min(grant.expiresAt, (req.session?.createdAt ?? grant.createdAt) + limits.maxMs),
          limits.idleMs,
        ),
      },
      readableTime,
      sessions: await listSessions(grants, grant),
      csrfToken: req.session?.csrfToken ?? '',
      apiTokensActive: extensions.apiTokens ? await activeApiTokenCount(extensions.apiTokens, grant.sub) : 0,
      links: [
        ...(extensions.homeLinks ?? []),
        ...(await Promise.all((extensions.homeLinksFor ?? []).map((linkFor) => linkFor(grant)))),
      ],
    });
  };
}

/** "Session ends after 30 min without activity, at the latest <date>", as the home page says it. */
function sessionEnds(latestEndAt: number, idleMs: number): { idleLabel: string; latestEndAt: string } {
  const minutes = Math.round(idleMs / 60_000);
  const idleLabel = minutes >= 120 && minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`;
  return { idleLabel, latestEndAt: new Date(latestEndAt).toISOString() };
}

function idpDisplayName(issuer: string): string {
  return new URL(issuer).host;
}
