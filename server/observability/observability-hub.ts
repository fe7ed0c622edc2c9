import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { AppError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { Metrics } from './metrics.ts';
import {
  currentObservation,
  type IdpEndpoint,
  type Observability,
  type RefreshOutcome,
  type RequestObservation,
  routeFamily,
  type SessionEndCause,
  type SignInVia,
  type SocketCloseCause,
  type UpstreamCallObservation,
} from './observability.ts';
import type { Tracing } from './tracing.ts';

/**
 * The facade when metrics, traces or both are on: each hook feeds whichever is configured.
 * Built by {@link createObservability}; `Metrics` and `Tracing` come in already loaded.
 */
export class ObservabilityHub implements Observability {
  readonly enabled = true;

  constructor(
    private readonly metrics: Metrics | undefined,
    private readonly tracing: Tracing | undefined,
    readonly metricsUrl: string | undefined,
  ) {}

  /** Reports `store` in `gatehouse_store_up`. */
  watchStore(store: Store): void {
    this.metrics?.watchStore(store);
  }

  requestStarted(method: string, requestId: string): RequestObservation {
    return {
      hub: this,
      startedAt: performance.now(),
      span: this.tracing?.startRequest(method, requestId),
      upstream: undefined,
      upstreamStatus: undefined,
      upstreamMs: 0,
      soapOperation: undefined,
      signInVia: undefined,
      backchannel: false,
      errorCode: undefined,
      errorReason: undefined,
    };
  }

  requestDone(
    observation: RequestObservation | undefined,
    method: string,
    path: string,
    status: number,
    durationMs: number,
  ): void {
    const family = routeFamily(path);
    const metrics = this.metrics;
    metrics?.request(family, status, durationMs);
    if (!observation) return;
    const refusal = observation.errorReason ?? observation.errorCode;
    if (observation.upstream !== undefined) {
      // Overhead is what the caller waited for that the upstream did not cause: sign-in checks,
      // token refreshes, connecting, relaying.
      metrics?.proxied(
        observation.upstream,
        observation.upstreamStatus ?? 'none',
        observation.upstreamMs,
        Math.max(0, durationMs - observation.upstreamMs),
      );
    }
    if (observation.signInVia !== undefined) {
      metrics?.signIn(
        observation.signInVia,
        refusal === undefined ? 'ok' : status >= 500 ? 'error' : 'refused',
        refusal ?? 'none',
      );
    }
    if (observation.backchannel) metrics?.backchannelLogout(refusal ?? 'ok');
    if (family === 'soap' && method === 'POST') {
      metrics?.soap(observation.soapOperation ?? 'unknown', observation.errorCode ?? 'none');
    }
    if (this.tracing && observation.span) {
      const attributes: Record<string, string> = {};
      if (observation.upstream !== undefined) attributes['gatehouse.upstream'] = observation.upstream;
      if (observation.errorCode !== undefined) attributes['gatehouse.error_code'] = observation.errorCode;
      if (observation.soapOperation !== undefined) attributes['gatehouse.soap_operation'] = observation.soapOperation;
      this.tracing.endRequest(observation.span as Span, method, family, status, attributes);
    }
  }

  async idpCall<T>(endpoint: IdpEndpoint, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    // IdP calls outside a request (discovery at start) get a span of their own.
    const span = this.tracing?.startChild(currentObservation()?.span, `idp ${endpoint}`, {
      'gatehouse.idp_endpoint': endpoint,
    });
    try {
      const result = await call();
      const status = result instanceof Response ? result.status : undefined;
      const failed = status !== undefined && status >= 500;
      this.metrics?.idp(endpoint, performance.now() - started, failed);
      if (span) {
        this.tracing!.endChild(
          span,
          failed ? `status ${status}` : undefined,
          status === undefined ? undefined : { 'http.response.status_code': status },
        );
      }
      return result;
    } catch (error) {
      this.metrics?.idp(endpoint, performance.now() - started, true);
      if (span) this.tracing!.endChild(span, 'no answer');
      throw error;
    }
  }

  async storeCall<T>(operation: string, call: Promise<T>): Promise<T> {
    const started = performance.now();
    // Store spans only inside a request: rate-limit and lock traffic alone would be noise.
    const parent = currentObservation()?.span;
    const span =
      this.tracing && parent
        ? this.tracing.startChild(parent, `store ${operation}`, { 'gatehouse.store_operation': operation })
        : undefined;
    try {
      const result = await call;
      this.metrics?.storeOperation(operation, performance.now() - started, false);
      if (span) this.tracing!.endChild(span);
      return result;
    } catch (error) {
      this.metrics?.storeOperation(operation, performance.now() - started, true);
      if (span) this.tracing!.endChild(span, 'failed');
      throw error;
    }
  }

  upstreamCall(upstream: string, headers: OutgoingHttpHeaders): UpstreamCallObservation | undefined {
    const observation = currentObservation();
    if (!observation) return undefined;
    observation.upstream = upstream;
    const span = this.tracing?.startChild(observation.span, `upstream ${upstream}`, { 'gatehouse.upstream': upstream });
    if (span) this.tracing!.inject(span, headers);
    return new UpstreamCall(observation, this.tracing, span);
  }

  refresh(outcome: RefreshOutcome, durationMs: number): void {
    this.metrics?.refresh(outcome, durationMs);
  }

  signInAttempt(via: SignInVia): void {
    const observation = currentObservation();
    if (observation) observation.signInVia = via;
  }

  signOut(): void {
    this.metrics?.signOut();
    this.metrics?.sessionEnd('signed_out', 1);
  }

  backchannelLogout(): void {
    const observation = currentObservation();
    if (observation) observation.backchannel = true;
  }

  sessionEnd(cause: SessionEndCause, count = 1): void {
    if (count > 0) this.metrics?.sessionEnd(cause, count);
  }

  soapOperation(operation: string): void {
    const observation = currentObservation();
    if (observation) observation.soapOperation = operation;
  }

  failed(error: AppError): void {
    const observation = currentObservation();
    if (!observation) return;
    observation.errorCode = error.code;
    // A refused id_token says which rule refused it (check-id-token.ts): a bounded set.
    const reason = error.details.reason;
    if (error.code === 'id_token_refused' && typeof reason === 'string') observation.errorReason = reason;
  }

  rateLimited(rule: string): void {
    this.metrics?.rateLimited(rule);
  }

  apiToken(event: 'issued' | 'revoked'): void {
    this.metrics?.apiToken(event);
  }

  socketOpened(upstream: string): void {
    this.metrics?.socketOpened(upstream);
  }

  socketClosed(upstream: string, cause: SocketCloseCause): void {
    this.metrics?.socketClosed(upstream, cause);
  }

  async flush(): Promise<void> {
    await this.tracing?.flush();
  }

  async close(): Promise<void> {
    await Promise.all([this.metrics?.close(), this.tracing?.close()]);
  }
}

/** One upstream call: the time until its response has been read is the upstream's. */
class UpstreamCall implements UpstreamCallObservation {
  private readonly startedAt = performance.now();
  private done = false;

  constructor(
    private readonly observation: RequestObservation,
    private readonly tracing: Tracing | undefined,
    private readonly span: Span | undefined,
  ) {}

  answered(response: IncomingMessage): void {
    this.observation.upstreamStatus = statusLabel(response.statusCode);
    this.span?.setAttribute('http.response.status_code', response.statusCode ?? 0);
    // 'end' comes before the relayed response finishes, so the request's end sees this time;
    // 'close' also covers a body cut short.
    const end = (): void => this.end(undefined);
    response.once('end', end);
    response.once('close', end);
  }

  failed(code: string): void {
    this.observation.upstreamStatus = code;
    this.end(code);
  }

  private end(error: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.observation.upstreamMs += performance.now() - this.startedAt;
    if (this.span) this.tracing!.endChild(this.span, error);
  }
}

/** An HTTP status as a label: the code itself (bounded by HTTP), or `other`. */
function statusLabel(status: number | undefined): string {
  return status !== undefined && status >= 100 && status <= 599 ? String(status) : 'other';
}
