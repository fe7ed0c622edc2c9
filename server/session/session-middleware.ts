import type { RequestHandler } from 'express';
import session from 'express-session';
import type { AppDeps } from '../deps.ts';
import { storeUnavailable } from '../errors.ts';
import { cookieNames, cookieOptions } from '../http/cookies.ts';
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
    secret: config.session.secret,
    store: sessionStore,
    resave: false,
    saveUninitialized: false,
    // Unset: express-session asks `trust proxy` whether the request came over https.
    cookie: cookieOptions(config.secureCookies),
  });
  // express-session reports store failures through next(err): make them 503s, not 500s.
  return (req, res, next) => middleware(req, res, (err?: unknown) => next(err ? storeUnavailable(err) : undefined));
}

/**
 * The session records in the app's store. The record lives until the session's absolute end,
 * not just its idle limit: findCaller must still find an idle session to delete its grant.
 */
export function sessionStoreFor(deps: Pick<AppDeps, 'config' | 'store' | 'clock'>): SessionStoreAdapter {
  const { config, store, clock } = deps;
  const limits = config.session;
  return new SessionStoreAdapter(store, (data) =>
    data.createdAt === undefined ? limits.idleMs : Math.max(1000, data.createdAt + limits.maxMs - clock()),
  );
}
