import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { AppError } from '../errors.ts';
import type { Store } from '../store/store.ts';

/** What every log line made inside a request carries. */
export interface RequestContext {
  requestId: string;
  /** The request's metrics and span, when observability is on. */
  observation?: RequestObservation;
}

/** Carries the request id (and the request's observation) to everything done while serving that request. */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/** The route families requests are counted by; a path maps to one in {@link routeFamily}. */
export type RouteFamily = 'auth' | 'api' | 'soap' | 'external' | 'device' | 'page' | 'health';

/** The IdP endpoints Gatehouse calls, as counted and traced. */
export type IdpEndpoint = 'discovery' | 'jwks' | 'token' | 'revocation' | 'introspection' | 'userinfo' | 'other';

/** How a refresh of a grant's tokens ended. */
export type RefreshOutcome = 'ok' | 'rotated' | 'invalid_grant' | 'id_token_refused' | 'idp_unavailable' | 'busy';

/** Why a session ended (sign-outs are counted as `signed_out` too). */
export type SessionEndCause = 'idle' | 'absolute' | 'revoked' | 'refresh_refused' | 'signed_out';

/**
 * Why a WebSocket through `/api` closed: its session, grant or API token ended (`session_ended`,
 * `session_idle`, `session_expired`, `grant_ended`, `token_revoked`), it carried nothing for
 * GATEHOUSE_WS_IDLE (`idle`), it reached its upstream's `maxLifetimeMs` (`max_lifetime`), one side
 * closed it (`client_closed`, `upstream_closed`), or Gatehouse stopped (`shutdown`).
 */
export type SocketCloseCause =
  | 'session_ended'
  | 'session_idle'
  | 'session_expired'
  | 'grant_ended'
  | 'token_revoked'
  | 'idle'
  | 'max_lifetime'
  | 'client_closed'
  | 'upstream_closed'
  | 'shutdown';

/** Where a sign-in was completed. */
export type SignInVia = 'oidc' | 'external' | 'soap';

/**
 * What Gatehouse keeps about one request while it runs: its span, and what the hooks learn on
 * the way (the upstream called, a SOAP operation, an error code). One object per request, and
 * only when metrics or traces are on; it travels in the log's request context.
 */
export interface RequestObservation {
  readonly hub: Observability;
  readonly startedAt: number;
  /** The request's span when tracing is on (an OpenTelemetry `Span`). */
  span: unknown;
  upstream: string | undefined;
  /** The upstream's status code, or why there is none (`upstream_timeout`, …). */
  upstreamStatus: string | undefined;
  /** Milliseconds spent waiting for the upstream, summed over the call and its retry. */
  upstreamMs: number;
  soapOperation: string | undefined;
  signInVia: SignInVia | undefined;
  backchannel: boolean;
  /** The AppError code the request was refused with; for a refused id_token, its reason. */
  errorCode: string | undefined;
  errorReason: string | undefined;
}

/** One call to an upstream, from sending it until its answer is complete. */
export interface UpstreamCallObservation {
  /** The response headers arrived; the call lasts until its body has been read. */
  answered(response: IncomingMessage): void;
  /** No answer: `code` is Gatehouse's error (`upstream_timeout`, `upstream_unreachable`, …). */
  failed(code: string): void;
}

/**
 * The one instrumentation facade: metrics and traces both feed from these calls. Without
 * either configured it is {@link noObservability}, whose calls do nothing and load nothing.
 * Hooks deep inside a request reach the running instance through {@link observed}.
 */
export interface Observability {
  readonly enabled: boolean;
  /** Where `/metrics` is served, when it is. */
  readonly metricsUrl: string | undefined;
  /**
   * A request began: returns what to run it with (in the log's request context, see
   * `requestLogging`) and to pass to {@link requestDone}. Its span starts a new trace: a
   * caller's `traceparent` is not followed, so the public cannot steer sampling or trace ids.
   */
  requestStarted(method: string, requestId: string): RequestObservation | undefined;
  /** A request ended: counts it by route family and status class and ends its span. */
  requestDone(
    observation: RequestObservation | undefined,
    method: string,
    path: string,
    status: number,
    durationMs: number,
  ): void;
  /** Times one IdP call (latency, errors: a rejection or a 5xx) under a child span. */
  idpCall<T>(endpoint: IdpEndpoint, call: () => Promise<T>): Promise<T>;
  /** Times one store operation (latency, errors) under a child span. */
  storeCall<T>(operation: string, call: Promise<T>): Promise<T>;
  /**
   * A call to an upstream starts: times it and, when tracing, adds `traceparent` to `headers`.
   * Undefined when nothing observes the current request.
   */
  upstreamCall(upstream: string, headers: OutgoingHttpHeaders): UpstreamCallObservation | undefined;
  refresh(outcome: RefreshOutcome, durationMs: number): void;
  /** This request completes a sign-in; it counts as `ok` unless the request is refused. */
  signInAttempt(via: SignInVia): void;
  signOut(): void;
  /** This request is a back-channel logout; counted by result when it ends. */
  backchannelLogout(): void;
  sessionEnd(cause: SessionEndCause, count?: number): void;
  /** This request is a call of SOAP operation `operation`; counted with its fault when it ends. */
  soapOperation(operation: string): void;
  /** The request is answered with this error (from the error handler). */
  failed(error: AppError): void;
  rateLimited(rule: string): void;
  apiToken(event: 'issued' | 'revoked'): void;
  /** A WebSocket to `upstream` was opened (counted in the open sockets by upstream). */
  socketOpened(upstream: string): void;
  /** A WebSocket to `upstream` closed, and why. */
  socketClosed(upstream: string, cause: SocketCloseCause): void;
  /** Reports `store` in `gatehouse_store_up` (a ping at each scrape). */
  watchStore(store: Store): void;
  /** Sends the spans not yet exported. */
  flush(): Promise<void>;
  /** Stops the metrics listener and the exporter, after a last flush. */
  close(): Promise<void>;
}

const nothing = (): void => undefined;

/** The facade when neither metrics nor traces are configured: every call costs a function call. */
export const noObservability: Observability = {
  enabled: false,
  metricsUrl: undefined,
  requestStarted: () => undefined,
  requestDone: nothing,
  idpCall: (_endpoint, call) => call(),
  storeCall: (_operation, call) => call,
  upstreamCall: () => undefined,
  refresh: nothing,
  signInAttempt: nothing,
  signOut: nothing,
  backchannelLogout: nothing,
  sessionEnd: nothing,
  soapOperation: nothing,
  failed: nothing,
  rateLimited: nothing,
  apiToken: nothing,
  socketOpened: nothing,
  socketClosed: nothing,
  watchStore: nothing,
  flush: async () => undefined,
  close: async () => undefined,
};

/**
 * The facade observing the current request, for hooks that have no dependencies at hand
 * (rate limits, the error handler, the refresher): {@link noObservability} outside a request
 * or when nothing is configured.
 */
export function observed(): Observability {
  return requestContext.getStore()?.observation?.hub ?? noObservability;
}

/** The current request's observation, if one is observed. */
export function currentObservation(): RequestObservation | undefined {
  return requestContext.getStore()?.observation;
}

/**
 * The route family of a path (without its query). Bounded by design: paths themselves are
 * never labels, they hold ids.
 */
export function routeFamily(path: string): RouteFamily {
  if (under(path, '/api')) return 'api';
  if (under(path, '/auth/device') || under(path, '/device')) return 'device';
  if (under(path, '/auth')) return 'auth';
  if (under(path, '/Session')) return 'soap';
  if (under(path, '/external')) return 'external';
  if (path === '/healthz' || path === '/readyz') return 'health';
  return 'page';
}

function under(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47); // '/'
}
