import type { SessionData } from 'express-session';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError, unauthenticated } from '../errors.ts';
import { observed } from '../observability/observability.ts';
import type { Grant, GrantStore } from '../grants/grant-store.ts';
import type { Caller, CallerRequest } from '../gate/caller.ts';

export type { BrowserSession, Caller, CallerRequest } from '../gate/caller.ts';
import type { RateLimits } from '../http/rate-limits.ts';
import { authenticateApiToken } from '../grants/api-token-auth.ts';
import { apiTokenPrefix, type ApiTokenStore } from '../grants/api-token-store.ts';

/** The browser session's idle and absolute limits in milliseconds (`config.session`). */
export type SessionLimits = Pick<Config['session'], 'idleMs' | 'maxMs'>;

// Rewriting the session on every request would cost a store write per API call; the idle
// timeout only needs `lastSeenAt` to within this much, and never more coarsely than a quarter
// of the idle limit: with a 20 s limit, a 15 s step would end a session used every 12 s.
const lastSeenResolutionMs = 15_000;

/** How stale `lastSeenAt` may be before a request (or a socket's traffic) rewrites it. */
export function lastSeenStepMs(limits: SessionLimits): number {
  return Math.min(lastSeenResolutionMs, limits.idleMs / 4);
}

/** What {@link findCaller} needs; built once per app. */
export interface CallerDeps {
  grants: GrantStore;
  clock: Clock;
  limits: SessionLimits;
  rateLimits?: RateLimits;
  apiTokens?: ApiTokenStore;
}

/**
 * Finds the grant this request reaches through its session cookie, or through an
 * `Authorization: Bearer` handle (a SOAP IdentityToken, or a `gh_` API token). An idle or too-old
 * session is ended here (grant deleted, session destroyed) and the request goes on as
 * anonymous; so is a session whose grant has ended elsewhere (logout, back-channel logout).
 * Every credential that reaches nothing counts against the failed-credential limit; an unknown
 * or revoked API token is refused outright (401), not treated as anonymous.
 *
 * The one rule for "who is calling": the Express pages (loadCaller) and the `/api` fast path
 * both call it.
 */
export async function findCaller(request: CallerRequest, deps: CallerDeps): Promise<Caller> {
  const { req, res } = request;
  const handle = bearerHandle(req.headers.authorization);
  if (handle?.startsWith(apiTokenPrefix) && deps.apiTokens) {
    try {
      const { grant, token } = await authenticateApiToken(
        deps.apiTokens,
        deps.grants,
        { method: req.method ?? 'GET', path: request.path },
        res,
        handle,
      );
      return { grant, credential: 'bearer', apiToken: token };
    } catch (error) {
      if (error instanceof AppError && error.code === 'invalid_token')
        await deps.rateLimits?.failedCredential(request.clientAddress(), 'api_token');
      throw error;
    }
  }
  if (handle !== undefined) {
    // A bearer handle is the request's explicit credential: one that reaches no grant leaves
    // the request anonymous instead of falling back to the cookie. An empty or malformed
    // header is no guess at a handle and is not counted.
    const grant = handle === '' ? undefined : await deps.grants.resolveHandle(handle);
    if (grant) return { grant, credential: 'bearer' };
    if (handle !== '') await deps.rateLimits?.failedCredential(request.clientAddress(), 'bearer_handle');
    return {};
  }
  const session = await request.session();
  const data = session.data;
  if (session.cookie !== undefined && !data?.createdAt) {
    // Every stored session has createdAt: without it the cookie reached none (guessed,
    // forged, or left from a session that ended). Cleared, so a browser's stale cookie counts once.
    if (deps.rateLimits) {
      session.clearCookie();
      await deps.rateLimits.failedCredential(request.clientAddress(), 'session_cookie');
    }
    return {};
  }
  if (!data) return {};
  const now = deps.clock();
  const idle = now - (data.lastSeenAt ?? 0) > deps.limits.idleMs;
  const tooOld = now - (data.createdAt ?? 0) > deps.limits.maxMs;
  if (data.external && !data.grantId) {
    // Signed in at another LiveScore-compatible server: no local grant, but it still ends
    // after the idle and maximum lifetimes.
    if (idle || tooOld) {
      await session.end();
      observed().sessionEnd(idle ? 'idle' : 'absolute');
    } else if (now - (data.lastSeenAt ?? 0) > lastSeenStepMs(deps.limits)) await session.seen(now);
    return {};
  }
  if (!data.grantId) return {};
  const grant = idle || tooOld ? undefined : await deps.grants.get(data.grantId);
  if (!grant) {
    // Ended without revoking its refresh token: this request may be the callback of a new
    // sign-in in the same IdP session, and revoking could end the IdP grant its code belongs to.
    if (idle || tooOld) {
      await deps.grants.end(data.grantId);
      observed().sessionEnd(idle ? 'idle' : 'absolute');
    }
    await session.end();
    return {};
  }
  if (now - (data.lastSeenAt ?? 0) > lastSeenStepMs(deps.limits)) await session.seen(now);
  await deps.grants.markUsed(grant);
  return { grant, credential: 'cookie' };
}

/**
 * The handle in `Authorization: Bearer <handle>`: undefined without a Bearer header, `''` when
 * the header is malformed (the request is then anonymous, not cookie-authenticated).
 */
export function bearerHandle(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer(?:\s+(.*))?$/i.exec(header.trim());
  if (!match) return undefined;
  const handle = match[1]?.trim() ?? '';
  return /^[A-Za-z0-9\-._~+/]{1,512}=*$/.test(handle) ? handle : '';
}

/** When this browser session ends if nothing else ends it first. */
export function sessionEndsAt(
  caller: Pick<Caller, 'credential'>,
  session: SessionData | undefined,
  grant: Grant,
  limits: SessionLimits,
): number {
  if (caller.credential !== 'cookie' || !session?.lastSeenAt) return grant.expiresAt;
  return Math.min(grant.expiresAt, (session.createdAt ?? 0) + limits.maxMs, session.lastSeenAt + limits.idleMs);
}

/** 401 for a route that needs a signed-in caller. */
export function requireSignedIn(caller: Pick<Caller, 'grant'>): Grant {
  if (!caller.grant) throw unauthenticated();
  return caller.grant;
}
