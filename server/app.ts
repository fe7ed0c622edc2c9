import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import express, { type Express, type Router } from 'express';
import './http/express-types.ts';
import './session/session-data.ts';
import { authRouter } from './auth/auth-router.ts';
import { backchannelLogout } from './auth/backchannel-logout.ts';
import { sessionsRouter } from './auth/sessions-router.ts';
import { userRouter } from './auth/user-router.ts';
import type { AppDeps, AppExtensions } from './deps.ts';
import { AppError } from './errors.ts';
import { errorHandler } from './error-handler.ts';
import { healthRouter } from './health.ts';
import { homePage } from './home-page.ts';
import { declaredErrorFormat, errorFormat } from './http/error-format.ts';
import { noStore } from './http/no-store.ts';
import { admittedOnly, expressGate } from './gate/express-gate.ts';
import type { Gate } from './gate/gate.ts';
import { trustProxy } from './http/trust-proxy.ts';
import { sessionMiddleware } from './session/session-middleware.ts';

export type { AppDeps, AppExtensions } from './deps.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Builds the Express app: the gate (request id, security headers, client address, request
 * rules, caller, policy: `gate/`) in front of every route, then the routers, nothing else.
 */
export function createApp(deps: AppDeps, extensions: AppExtensions, gate: Gate): Express {
  const { config, logger, limits: rateLimits } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('views', `${root}views`);
  app.engine('ejs', ejs.renderFile);
  app.set('view engine', 'ejs');
  // Compiled templates are kept in every environment, not only under NODE_ENV=production:
  // compiling them per page cost a sign-in about a tenth of its CPU, and Gatehouse's templates
  // change only with a new release (a restart).
  app.set('view cache', true);
  // Only the proxies named in GATEHOUSE_TRUST_PROXY may say who the client is and whether it
  // used https: X-Forwarded-For feeds the rate limits and the upstream's X-Forwarded-For,
  // X-Forwarded-Proto the Secure session cookie.
  app.set('trust proxy', trustProxy(config.trustProxy));

  // Routers built here, mounted below; their declared error forms apply from the start.
  const backchannel = backchannelLogout(deps);
  const user = userRouter(deps);
  const sessions = sessionsRouter(deps);
  const own: Array<[string, Router]> = [
    ['/auth/backchannel-logout', backchannel],
    ['/auth/user', user],
    ['/auth/sessions', sessions],
  ];
  // Each JSON (or SOAP) router declares its error form (answersIn). It is set here, before the
  // gate, so a refusal on the router's paths (the store away, a rate limit, a locked-out
  // credential, a cross-site write) answers in that form too, whatever `Accept` says.
  for (const [path, handler] of [...own, ...(extensions.sessionless ?? []), ...(extensions.routers ?? [])]) {
    const format = declaredErrorFormat(handler);
    if (format) app.use(path, errorFormat(format));
  }

  // Every route below is reached only through the gate, and only once it admitted the request.
  app.use(expressGate(gate, sessionMiddleware(deps)));
  app.use(admittedOnly(logger));

  app.use('/public', express.static(`${root}public`, { index: false, maxAge: '1h' }));
  app.use(healthRouter(deps));
  for (const [path, handler] of extensions.sessionless ?? []) app.use(path, handler);
  // Server-to-server from the IdP: no browser session, no CSRF check (the token is signed).
  app.post('/auth/backchannel-logout', rateLimits.start('backchannel_logout', 'backchannel_logout'));
  app.use('/auth/backchannel-logout', backchannel);

  app.get('/', noStore, homePage(deps, extensions));
  app.use('/auth', authRouter(deps, extensions));
  app.use('/auth/user', user);
  app.use('/auth/sessions', sessions);
  for (const [path, handler] of extensions.routers ?? []) app.use(path, handler);

  app.use((req, _res, next) => next(new AppError('not_found', `Nothing is at ${req.method} ${req.path}.`)));
  app.use(errorHandler(logger, extensions.renderFault));
  return app;
}
