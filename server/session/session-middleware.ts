import type { RequestHandler } from 'express';
import session, { type SessionData } from 'express-session';
import type { AppDeps } from '../deps.ts';
import { storeUnavailable } from '../errors.ts';
import { cookieNames, cookieOptions, readCookie } from '../http/cookies.ts';
import { resignSessionCookie, verifySessionCookie } from './session-cookie.ts';
import { SessionStoreAdapter } from './session-store.ts';

/**
 * The browser session: express-session over the app's `Store` (the id hashed before it is
 * a key), with Gatehouse's cookie name and options. A store failure is a 503
 * `store_unavailable`, not a 500.
 */
export function sessionMiddleware(deps: Pick<AppDeps, 'config' | 'store' | 'clock'>): RequestHandler {
  const { config } = deps;
  const sessionStore = sessionStoreFor(deps);
  const middleware = session({
    name: cookieNames(config.secureCookies).session,
    // Newest first: it signs; every one verifies (secret rotation).
    secret: [...config.session.secrets],
    store: sessionStore,
    resave: false,
    saveUninitialized: false,
    // Unset: express-session asks `trust proxy` whether the request came over https.
    cookie: cookieOptions(config.secureCookies),
  });
  const name = cookieNames(config.secureCookies).session;
  // express-session reports store failures through next(err): make them 503s, not 500s.
  return (req, res, next) =>
    middleware(req, res, (err?: unknown) => {
      if (err) return next(storeUnavailable(err));
      // express-session verifies with every secret but re-signs only a changed session: a
      // browser whose cookie an older secret signed gets it re-signed here, once.
      if (req.session && config.session.secrets.length > 1) {
        const verified = verifySessionCookie(readCookie(req, name), config.session.secrets);
        if (verified && !verified.current && verified.id === req.sessionID)
          resignSessionCookie(res, name, verified.id, config.session.secrets, config.secureCookies);
      }
      next();
    });
}

/**
 * The session records in the app's store. The record lives until the session's absolute end,
 * not just its idle limit: findCaller must still find an idle session to delete its grant.
 */
export function sessionStoreFor(deps: Pick<AppDeps, 'config' | 'store' | 'clock'>): SessionStoreAdapter {
  const { config, store, clock } = deps;
  return new SessionStoreAdapter(store, (data) => sessionRecordTtlMs(data, config.session, clock()));
}

/** How long a session record lives: until the session's absolute end (its idle limit before it starts). */
export function sessionRecordTtlMs(data: SessionData, limits: { idleMs: number; maxMs: number }, now: number): number {
  return data.createdAt === undefined ? limits.idleMs : Math.max(1000, data.createdAt + limits.maxMs - now);
}
