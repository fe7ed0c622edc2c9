import type { Request, RequestHandler } from 'express';
import type { Grant } from '../grants/grant-store.ts';
import { requireSignedIn, type SessionLimits, sessionEndsAt } from './find-caller.ts';

export type { SessionLimits } from './find-caller.ts';

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
