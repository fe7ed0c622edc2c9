import type { Request, RequestHandler } from 'express';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError, unauthenticated } from '../errors.ts';
import type { Grant, GrantStore } from '../grants/grant-store.ts';
import { clearSessionCookie, readCookie } from '../http/cookies.ts';
import { clientAddress, type RateLimits } from '../http/rate-limits.ts';
import { destroySession } from '../session/session-lifecycle.ts';
import { authenticateApiToken } from '../tokens/api-token-auth.ts';
import { apiTokenPrefix, type ApiTokenStore } from '../tokens/api-token-store.ts';
import { observed } from '../observability/observability.ts';

/** The browser session's idle and absolute limits in milliseconds (`config.session`). */
export type SessionLimits = Pick<Config['session'], 'idleMs' | 'maxMs'>;

// Rewriting the session on every request would cost a store write per API call; the idle
// timeout only needs `lastSeenAt` to within this much, and never more coarsely than a quarter
// of the idle limit: with a 20 s limit, a 15 s step would end a session used every 12 s.
const lastSeenResolutionMs = 15_000;

function lastSeenStepMs(limits: SessionLimits): number {
  return Math.min(lastSeenResolutionMs, limits.idleMs / 4);
}

/** How {@link loadCaller} reports credentials to the failed-credential limit. */
export interface CredentialGuard {
  limits: RateLimits;
  /** The session cookie's name and how it is cleared. */
  sessionCookie: { name: string; secure: boolean };
}

/**
 * Finds the grant this request reaches through its session cookie, or through an
 * `Authorization: Bearer` handle (a SOAP IdentityToken, or a `gh_` API token). An idle or too-old
 * session is ended here (grant deleted, session destroyed) and the request goes on as
 * anonymous; so is a session whose grant has ended elsewhere (logout, back-channel logout).
 */
export function loadCaller(
  grants: GrantStore,
  clock: Clock,
  limits: SessionLimits,
  guard?: CredentialGuard,
  apiTokens?: ApiTokenStore,
): RequestHandler {
  return async (req, res, next) => {
    const handle = bearerHandle(req);
    if (handle?.startsWith(apiTokenPrefix) && apiTokens) {
      // A Gatehouse API token: refused outright (401/403) rather than treated as anonymous.
      try {
        req.grant = await authenticateApiToken(apiTokens, grants, req, res, handle);
      } catch (error) {
        if (error instanceof AppError && error.code === 'invalid_token')
          await guard?.limits.failedCredential(clientAddress(req), 'api_token');
        throw error;
      }
      req.credential = 'bearer';
      return next();
    }
    if (handle !== undefined) {
      // A bearer handle is the request's explicit credential: one that reaches no grant leaves
      // the request anonymous instead of falling back to the cookie. An empty or malformed
      // header is no guess at a handle and is not counted.
      const grant = handle === '' ? undefined : await grants.resolveHandle(handle);
      if (grant) {
        req.grant = grant;
        req.credential = 'bearer';
      } else if (handle !== '') {
        await guard?.limits.failedCredential(clientAddress(req), 'bearer_handle');
      }
      return next();
    }
    if (guard && readCookie(req, guard.sessionCookie.name) !== undefined && !req.session?.createdAt) {
      // Every stored session has createdAt: without it the cookie reached none (guessed,
      // forged, or left from a session that ended). Cleared, so a browser's stale cookie counts once.
      clearSessionCookie(res, guard.sessionCookie.secure);
      await guard.limits.failedCredential(clientAddress(req), 'session_cookie');
      return next();
    }
    const session = req.session;
    if (session?.external && !session.grantId) {
      return keepExternalSession(req, clock(), limits, next);
    }
    if (!session?.grantId) return next();
    const now = clock();
    const idle = now - (session.lastSeenAt ?? 0) > limits.idleMs;
    const tooOld = now - (session.createdAt ?? 0) > limits.maxMs;
    const grant = idle || tooOld ? undefined : await grants.get(session.grantId);
    if (!grant) {
      // Ended without revoking its refresh token: this request may be the callback of a new
      // sign-in in the same IdP session, and revoking could end the IdP grant its code belongs to.
      if (idle || tooOld) await grants.end(session.grantId);
      if (idle || tooOld) observed().sessionEnd(idle ? 'idle' : 'absolute');
      await destroySession(req);
      return next();
    }
    if (now - (session.lastSeenAt ?? 0) > lastSeenStepMs(limits)) session.lastSeenAt = now;
    await grants.markUsed(grant);
    req.grant = grant;
    req.credential = 'cookie';
    next();
  };
}

/**
 * The handle in `Authorization: Bearer <handle>`: undefined without a Bearer header, `''` when
 * the header is malformed (the request is then anonymous, not cookie-authenticated).
 */
function bearerHandle(req: Request): string | undefined {
  const header = req.get('authorization');
  const match = header === undefined ? null : /^Bearer(?:\s+(.*))?$/i.exec(header.trim());
  if (!match) return undefined;
  const handle = match[1]?.trim() ?? '';
  return /^[A-Za-z0-9\-._~+/]{1,512}=*$/.test(handle) ? handle : '';
}

/**
 * A session signed in at another LiveScore-compatible server has no local grant; it still
 * ends after the idle and maximum lifetimes.
 */
async function keepExternalSession(req: Request, now: number, limits: SessionLimits, next: () => void): Promise<void> {
  const session = req.session;
  if (now - (session.lastSeenAt ?? 0) > limits.idleMs || now - (session.createdAt ?? 0) > limits.maxMs) {
    await destroySession(req);
  } else if (now - (session.lastSeenAt ?? 0) > lastSeenStepMs(limits)) {
    session.lastSeenAt = now;
  }
  next();
}

/** When this browser session ends if nothing else ends it first. */
export function sessionExpiresAt(req: Request, grant: Grant, limits: SessionLimits): number {
  const session = req.session;
  if (req.credential !== 'cookie' || !session?.lastSeenAt) return grant.expiresAt;
  return Math.min(grant.expiresAt, (session.createdAt ?? 0) + limits.maxMs, session.lastSeenAt + limits.idleMs);
}

/** The grant the request reaches; an anonymous request is refused with 401 `unauthenticated` (API-style routes never redirect). */
export function requireCaller(req: Request): Grant {
  if (!req.grant) throw unauthenticated();
  return req.grant;
}

/** {@link requireCaller} as middleware, for routers that guard a whole route. */
export const requireGrant: RequestHandler = (req, _res, next) => {
  requireCaller(req);
  next();
};
