import type { Request, RequestHandler, Response } from 'express';
import type { Grant } from '../grants/grant-store.ts';
import { clearSessionCookie, readCookie } from '../http/cookies.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { destroySession } from '../session/session-lifecycle.ts';
import { apiTokenPrefix } from '../tokens/api-token-store.ts';
import {
  type BrowserSession,
  bearerHandle,
  type CallerDeps,
  findCaller,
  requireSignedIn,
  type SessionLimits,
  sessionEndsAt,
} from './find-caller.ts';

export type { SessionLimits } from './find-caller.ts';

/** The session cookie's name and whether it is `Secure`, for clearing it. */
export interface SessionCookie {
  name: string;
  secure: boolean;
}

/**
 * {@link findCaller} as Express middleware, over the session express-session loaded: sets
 * `req.grant`, `req.credential` and `req.apiToken`. An API token's refusals are JSON whatever
 * the path (a script is calling).
 */
export function loadCaller(deps: CallerDeps, sessionCookie: SessionCookie): RequestHandler {
  return async (req, res, next) => {
    try {
      const caller = await findCaller(
        {
          req,
          res,
          path: req.path,
          clientAddress: () => clientAddress(req),
          session: () => expressSession(req, res, sessionCookie),
        },
        deps,
      );
      if (caller.grant) req.grant = caller.grant;
      if (caller.credential) req.credential = caller.credential;
      if (caller.apiToken) req.apiToken = caller.apiToken;
    } catch (error) {
      if (bearerHandle(req.headers.authorization)?.startsWith(apiTokenPrefix)) res.locals.errorFormat = 'json';
      throw error;
    }
    next();
  };
}

/** The session express-session loaded, as {@link findCaller} reads it. */
function expressSession(req: Request, res: Response, cookie: SessionCookie): BrowserSession {
  return {
    cookie: readCookie(req, cookie.name),
    data: req.session?.createdAt ? req.session : undefined,
    end: () => destroySession(req),
    // express-session writes the changed record when the response goes out.
    seen: (now) => {
      req.session.lastSeenAt = now;
    },
    clearCookie: () => clearSessionCookie(res, cookie.secure),
  };
}

/** When this browser session ends if nothing else ends it first. */
export function sessionExpiresAt(req: Request, grant: Grant, limits: SessionLimits): number {
  return sessionEndsAt(req, req.session, grant, limits);
}

/** The grant the request reaches; an anonymous request is refused with 401 `unauthenticated` (API-style routes never redirect). */
export function requireCaller(req: Request): Grant {
  return requireSignedIn(req);
}

/** {@link requireCaller} as middleware, for routers that guard a whole route. */
export const requireGrant: RequestHandler = (req, _res, next) => {
  requireCaller(req);
  next();
};
