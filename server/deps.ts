import type { ErrorRequestHandler, Request, RequestHandler, Response, Router } from 'express';
import type { SessionData } from 'express-session';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { FaultRenderer } from './error-handler.ts';
import type { Grant, GrantStore } from './grants/grant-store.ts';
import type { RateLimits } from './http/rate-limits.ts';
import type { IdpAdapter, SignIn } from './idp/idp-adapter.ts';
import type { Logger } from './log.ts';
import type { Observability } from './observability/observability.ts';
import type { Store } from './store/store.ts';
import type { ApiTokenStore } from './grants/api-token-store.ts';

// The types feature modules and createApp share. They live here, not in app.ts, so a module
// that app.ts mounts never imports app.ts back.

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
  /** Metrics and traces (server/observability/); absent or `noObservability` when neither is configured. */
  observability?: Observability;
}

/** Completes an authorization that a feature (not the browser sign-in) started; see `AuthorizationPurpose`. */
export type AuthorizationCompletion = (req: Request, res: Response, signIn: SignIn, data: unknown) => Promise<void>;

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
