import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import session, { type SessionData } from 'express-session';
import helmet from 'helmet';
import './http/express-types.ts';
import './session/session-data.ts';
import { type AuthorizationCompletion, authRouter } from './auth/auth-router.ts';
import { backchannelLogout } from './auth/backchannel-logout.ts';
import { listSessions } from './auth/list-sessions.ts';
import { loadCaller, sessionExpiresAt } from './auth/load-caller.ts';
import { sessionsRouter } from './auth/sessions-router.ts';
import { userRouter } from './auth/user-router.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { AppError, storeUnavailable } from './errors.ts';
import { errorHandler, type FaultRenderer } from './error-handler.ts';
import type { Grant, GrantStore } from './grants/grant-store.ts';
import { cookieNames, cookieOptions } from './http/cookies.ts';
import { declaredErrorFormat, errorFormat } from './http/error-format.ts';
import { noStore } from './http/no-store.ts';
import type { RateLimits } from './http/rate-limits.ts';
import { requestLogging } from './http/request-context.ts';
import { warnUntrustedForwarding } from './http/untrusted-forwarding.ts';
import type { IdpAdapter } from './idp/idp-adapter.ts';
import type { Logger } from './log.ts';
import { SessionStoreAdapter } from './session/session-store.ts';
import type { Store } from './store/store.ts';
import type { ApiTokenStore } from './tokens/api-token-store.ts';

/** Everything the routes need, built once by `start()` (or by a test). */
export interface AppDeps {
  config: Config;
  store: Store;
  grants: GrantStore;
  idp: IdpAdapter;
  logger: Logger;
  clock: Clock;
  /** Rate limits on anonymous state-creating calls and failed credentials. */
  limits: RateLimits;
}

/** Routers mounted by feature modules, kept out of createApp's signature churn. */
export interface AppExtensions {
  /** Mounted after the session is loaded, before the 404 handler: `[path, router]` (or an error handler for that path). */
  routers?: Array<[string, Router | RequestHandler | ErrorRequestHandler]>;
  /** Mounted before the session middleware (protocols that do not use the browser session). */
  sessionless?: Array<[string, Router | RequestHandler]>;
  /** Extra origins forms may post or redirect to (e.g. an external SOAP server's IdP). */
  formActionOrigins?: string[];
  /** Links on the signed-in home page. */
  homeLinks?: Array<{ href: string; label: string }>;
  /** Links on the signed-in home page that depend on the user (e.g. "API tokens (2)"). */
  homeLinksFor?: Array<(grant: Grant) => Promise<{ href: string; label: string }>>;
  /** Gatehouse API tokens: `Authorization: Bearer gh_…` is checked against them. */
  apiTokens?: ApiTokenStore;
  /** Completes authorizations started for a feature (`/auth/callback` with a transaction `purpose`), by kind. */
  authorizationPurposes?: Record<string, AuthorizationCompletion>;
  externalLogin?: boolean;
  bypassLoginPage?: boolean;
  renderFault?: FaultRenderer;
  /** Ends an external (SOAP) sign-in at its server (POST /auth/logout); answers where the browser goes next. */
  signOutExternal?: (external: NonNullable<SessionData['external']>, clientIp?: string) => Promise<string | undefined>;
}

const root = fileURLToPath(new URL('..', import.meta.url));

/** Builds the Express app: middleware order and routers, nothing else. */
export function createApp(deps: AppDeps, extensions: AppExtensions = {}): Express {
  const { config, store, grants, idp, logger, clock, limits: rateLimits } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('views', `${root}views`);
  app.engine('ejs', ejs.renderFile);
  app.set('view engine', 'ejs');
  // Only the proxies named in GATEHOUSE_TRUST_PROXY may say who the client is and whether it
  // used https: X-Forwarded-For feeds the rate limits and the upstream's X-Forwarded-For,
  // X-Forwarded-Proto the Secure session cookie.
  app.set('trust proxy', config.trustProxy);

  app.use(requestLogging(logger, clock));
  app.use(warnUntrustedForwarding(logger, app.get('trust proxy fn') as (address: string, hop: number) => boolean));
  app.use(helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        // Sign-out posts to Gatehouse, which redirects to the IdP's end-session endpoint:
        // Chromium checks that redirect against form-action too.
        formAction: ["'self'", new URL(idp.issuer).origin, ...(extensions.formActionOrigins ?? [])],
        ...(config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: config.secureCookies,
  }));
  app.use('/public', express.static(`${root}public`, { index: false, maxAge: '1h' }));

  // Routers built here, mounted below; their declared error forms apply from the start.
  const backchannel = backchannelLogout(deps);
  const user = userRouter(deps);
  const sessions = sessionsRouter(deps);
  const own: Array<[string, Router]> = [['/auth/backchannel-logout', backchannel], ['/auth/user', user], ['/auth/sessions', sessions]];
  // Each JSON (or SOAP) router declares its error form (answersIn). It is set here, before the
  // session and the caller are loaded, so a failure on the router's paths (the store away, a
  // rate limit, a locked-out credential) answers in that form too, whatever `Accept` says.
  for (const [path, handler] of [...own, ...extensions.sessionless ?? [], ...extensions.routers ?? []]) {
    const format = declaredErrorFormat(handler);
    if (format) app.use(path, errorFormat(format));
  }

  app.get('/healthz', errorFormat('json'), (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', errorFormat('json'), noStore, async (_req, res) => {
    const problems: string[] = [];
    try {
      await withTimeout(store.ping(), 2000);
    } catch {
      problems.push('store unreachable');
    }
    const idpProblem = await idp.readinessProblem();
    if (idpProblem) problems.push(idpProblem);
    if (problems.length) res.status(503).json({ status: 'unavailable', error: 'not_ready', reasons: problems });
    else res.json({ status: 'ready' });
  });
  for (const [path, handler] of extensions.sessionless ?? []) app.use(path, handler);
  // Server-to-server from the IdP: no browser session, no CSRF check (the token is signed).
  app.post('/auth/backchannel-logout', rateLimits.start('backchannel_logout', 'backchannel_logout'));
  app.use('/auth/backchannel-logout', backchannel);

  const limits = { idleMs: config.session.idleSeconds * 1000, maxMs: config.session.maxSeconds * 1000 };
  // The record lives until the session's absolute end, not just its idle limit: loadCaller
  // must still find an idle session to delete its grant.
  const sessionStore = new SessionStoreAdapter(store, (data) =>
    data.createdAt === undefined ? limits.idleMs : Math.max(1000, data.createdAt + limits.maxMs - clock()));
  const sessionMiddleware = session({
    name: cookieNames(config.secureCookies).session,
    secret: config.session.secret,
    store: sessionStore,
    resave: false,
    saveUninitialized: false,
    // Unset: express-session asks `trust proxy` whether the request came over https.
    cookie: cookieOptions(config.secureCookies),
  });
  // express-session reports store failures through next(err): make them 503s, not 500s.
  app.use((req, res, next) => sessionMiddleware(req, res, (err?: unknown) => next(err ? storeUnavailable(err) : undefined)));
  app.use(loadCaller(grants, clock, limits, {
    limits: rateLimits,
    sessionCookie: { name: cookieNames(config.secureCookies).session, secure: config.secureCookies },
  }, extensions.apiTokens));

  app.get('/', noStore, async (req, res) => {
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
        },
        sessions: [],
        csrfToken,
        links: [],
      });
    }
    if (!grant) {
      if (extensions.bypassLoginPage) return res.redirect(302, '/external/login');
      return res.render('login', { idpName: idpDisplayName(idp.issuer), externalLogin: extensions.externalLogin ?? false });
    }
    const claims = grant.claims;
    res.render('home', {
      user: {
        name: claims.name ?? claims.preferred_username ?? grant.sub,
        email: claims.email ?? '',
        viaLabel: grant.via === 'external' ? 'via external login' : 'via OpenID Connect',
        workspaceId: req.session?.external?.workspaceId,
        expiresAt: new Date(sessionExpiresAt(req, grant, limits)).toISOString(),
      },
      sessions: await listSessions(grants, grant),
      csrfToken: req.session?.csrfToken ?? '',
      links: [...(extensions.homeLinks ?? []), ...await Promise.all((extensions.homeLinksFor ?? []).map((linkFor) => linkFor(grant)))],
    });
  });
  app.use('/auth', authRouter(deps, extensions));
  app.use('/auth/user', user);
  app.use('/auth/sessions', sessions);
  for (const [path, handler] of extensions.routers ?? []) app.use(path, handler);

  app.use((req, _res, next) => next(new AppError('not_found', `Nothing is at ${req.method} ${req.path}.`)));
  app.use(errorHandler(logger, extensions.renderFault));
  return app;
}

function idpDisplayName(issuer: string): string {
  return new URL(issuer).host;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ]);
}
