import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/store.ts';
import { FastCounter, type FastCounterChild, FastHistogram, type FastHistogramChild } from './fast-metrics.ts';
import type {
  IdpEndpoint,
  RefreshOutcome,
  RouteFamily,
  SessionEndCause,
  SignInVia,
  SocketCloseCause,
} from './observability.ts';

// This module is imported only when GATEHOUSE_METRICS_PORT is set (see create-observability.ts):
// prom-client is never loaded otherwise.

const families: readonly RouteFamily[] = ['auth', 'api', 'soap', 'external', 'device', 'page', 'health'];
const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const idpEndpoints: readonly IdpEndpoint[] = [
  'discovery',
  'jwks',
  'token',
  'revocation',
  'introspection',
  'userinfo',
  'other',
];
/** Seconds: from a cached-token proxy hop (sub-millisecond) to an IdP at its timeout. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** How long a scrape waits for the store's ping before calling it down. */
const storePingTimeoutMs = 1000;

/**
 * Gatehouse's Prometheus metrics (all named `gatehouse_…`) in their own registry, served as
 * text on a listener of their own, never on the public one. Label values are bounded: route
 * families, status classes, declared upstream names, error codes; never a path or a user.
 * Per-request label children are bound once, here, so counting a request allocates nothing;
 * the per-call metrics are `FastCounter`/`FastHistogram` (fast-metrics.ts), the rest prom-client's.
 */
export class Metrics {
  readonly registry = new Registry();
  private server: Server | undefined;
  private store: Store | undefined;

  private readonly requests = new FastCounter({
    name: 'gatehouse_requests_total',
    help: 'Requests answered, by route family and status class.',
    labelNames: ['family', 'status_class'],
    registers: [this.registry],
  });
  private readonly requestSeconds = new FastHistogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from the request to the end of its response, by route family.',
    labelNames: ['family'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly proxiedCalls = new FastCounter({
    name: 'gatehouse_proxy_requests_total',
    help: "Calls proxied to an upstream, by upstream and the upstream's status (or the error when it gave none).",
    labelNames: ['upstream', 'status'],
    registers: [this.registry],
  });
  private readonly upstreamSeconds = new FastHistogram({
    name: 'gatehouse_proxy_upstream_duration_seconds',
    help: "Time the upstream took: from sending the request until its response was read (a retry's time added).",
    labelNames: ['upstream'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly overheadSeconds = new FastHistogram({
    name: 'gatehouse_proxy_overhead_seconds',
    help: "Gatehouse's own share of a proxied call: its duration minus the upstream's.",
    labelNames: ['upstream'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly refreshes = new Counter({
    name: 'gatehouse_token_refreshes_total',
    help: 'Refreshes of a grant’s tokens at the IdP, by outcome.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly refreshSeconds = new Histogram({
    name: 'gatehouse_token_refresh_duration_seconds',
    help: 'Time a refresh took, by outcome (busy: the time waited for another refresh).',
    labelNames: ['outcome'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly idpSeconds = new Histogram({
    name: 'gatehouse_idp_request_duration_seconds',
    help: 'Time an HTTP call to the IdP took, by endpoint.',
    labelNames: ['endpoint'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly idpErrors = new Counter({
    name: 'gatehouse_idp_request_errors_total',
    help: 'IdP calls that failed (no answer, or a 5xx), by endpoint.',
    labelNames: ['endpoint'],
    registers: [this.registry],
  });
  private readonly storeSeconds = new FastHistogram({
    name: 'gatehouse_store_operation_duration_seconds',
    help: 'Time a store operation took, by operation.',
    labelNames: ['operation'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly storeErrors = new Counter({
    name: 'gatehouse_store_operation_errors_total',
    help: 'Store operations that failed, by operation.',
    labelNames: ['operation'],
    registers: [this.registry],
  });
  private readonly signIns = new Counter({
    name: 'gatehouse_sign_ins_total',
    help: 'Sign-ins completed or refused, by where (oidc, external, soap), result and refusal reason.',
    labelNames: ['via', 'result', 'reason'],
    registers: [this.registry],
  });
  private readonly signOuts = new Counter({
    name: 'gatehouse_sign_outs_total',
    help: 'Sign-outs from Gatehouse (POST /auth/logout).',
    registers: [this.registry],
  });
  private readonly backchannelLogouts = new Counter({
    name: 'gatehouse_backchannel_logouts_total',
    help: 'Back-channel logout requests from the IdP, by result (ok, or the refusal code).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly sessionEnds = new Counter({
    name: 'gatehouse_session_ends_total',
    help: 'Sessions ended, by cause (idle, absolute, revoked, refresh_refused, signed_out).',
    labelNames: ['cause'],
    registers: [this.registry],
  });
  private readonly soapCalls = new Counter({
    name: 'gatehouse_soap_calls_total',
    help: 'SOAP calls, by operation and fault (none, or the fault’s error code).',
    labelNames: ['operation', 'fault'],
    registers: [this.registry],
  });
  private readonly rateLimitRefusals = new Counter({
    name: 'gatehouse_rate_limited_total',
    help: 'Requests refused by a rate limit, by rule.',
    labelNames: ['rule'],
    registers: [this.registry],
  });
  private readonly apiTokens = new Counter({
    name: 'gatehouse_api_tokens_total',
    help: 'API tokens issued and revoked.',
    labelNames: ['event'],
    registers: [this.registry],
  });

  private readonly openSockets = new Gauge({
    name: 'gatehouse_websockets_open',
    help: 'WebSockets open through /api on this process, by upstream.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly socketCloses = new Counter({
    name: 'gatehouse_websocket_closes_total',
    help: 'WebSockets through /api closed, by upstream and cause (session_ended, grant_ended, token_revoked, idle, max_lifetime, client_closed, …).',
    labelNames: ['upstream', 'cause'],
    registers: [this.registry],
  });

  private readonly requestChildren = new Map(
    families.map((family) => [family, statusClasses.map((status) => this.requests.labels(family, status))]),
  );
  private readonly requestSecondsChildren = new Map(
    families.map((family) => [family, this.requestSeconds.labels(family)]),
  );
  private readonly idpChildren = new Map(
    idpEndpoints.map((endpoint) => [
      endpoint,
      { seconds: this.idpSeconds.labels(endpoint), errors: this.idpErrors.labels(endpoint) },
    ]),
  );
  private readonly upstreamChildren = new Map<string, { upstream: FastHistogramChild; overhead: FastHistogramChild }>();

  // Label children looked up once per label set. Both label sets are bounded (declared
  // upstreams, statuses, the Store interface's operations).
  private readonly proxiedCallChildren = new Map<string, FastCounterChild>();
  private readonly storeSecondsChildren = new Map<string, FastHistogramChild>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
    const metrics = this;
    new Gauge({
      name: 'gatehouse_store_up',
      help: 'Whether the store answered a ping at this scrape (1) or not (0).',
      registers: [this.registry],
      async collect() {
        this.set((await metrics.storeAnswers()) ? 1 : 0);
      },
    });
    // Present at 0 from the start, so rate() and increase() see the first event.
    for (const outcome of ['ok', 'rotated', 'invalid_grant', 'idp_unavailable', 'busy'] as const) {
      this.refreshes.labels(outcome).inc(0);
    }
    for (const { errors } of this.idpChildren.values()) errors.inc(0);
  }

  /** The store whose ping `gatehouse_store_up` reports. */
  watchStore(store: Store): void {
    this.store = store;
  }

  request(family: RouteFamily, status: number, durationMs: number): void {
    const statusClass = Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1;
    this.requestChildren.get(family)![statusClass]!.inc();
    this.requestSecondsChildren.get(family)!.observe(durationMs / 1000);
  }

  proxied(upstream: string, status: string, upstreamMs: number, overheadMs: number): void {
    let children = this.upstreamChildren.get(upstream);
    if (!children) {
      children = { upstream: this.upstreamSeconds.labels(upstream), overhead: this.overheadSeconds.labels(upstream) };
      this.upstreamChildren.set(upstream, children);
    }
    const key = `${upstream}\n${status}`;
    let calls = this.proxiedCallChildren.get(key);
    if (!calls) {
      calls = this.proxiedCalls.labels(upstream, status);
      this.proxiedCallChildren.set(key, calls);
    }
    calls.inc();
    children.upstream.observe(upstreamMs / 1000);
    children.overhead.observe(overheadMs / 1000);
  }

  refresh(outcome: RefreshOutcome, durationMs: number): void {
    this.refreshes.labels(outcome).inc();
    this.refreshSeconds.labels(outcome).observe(durationMs / 1000);
  }

  idp(endpoint: IdpEndpoint, durationMs: number, failed: boolean): void {
    const children = this.idpChildren.get(endpoint)!;
    children.seconds.observe(durationMs / 1000);
    if (failed) children.errors.inc();
  }

  storeOperation(operation: string, durationMs: number, failed: boolean): void {
    let seconds = this.storeSecondsChildren.get(operation);
    if (!seconds) {
      seconds = this.storeSeconds.labels(operation);
      this.storeSecondsChildren.set(operation, seconds);
    }
    seconds.observe(durationMs / 1000);
    if (failed) this.storeErrors.labels(operation).inc();
  }

  signIn(via: SignInVia, result: 'ok' | 'refused' | 'error', reason: string): void {
    this.signIns.labels(via, result, reason).inc();
  }

  signOut(): void {
    this.signOuts.inc();
  }

  backchannelLogout(result: string): void {
    this.backchannelLogouts.labels(result).inc();
  }

  sessionEnd(cause: SessionEndCause, count: number): void {
    this.sessionEnds.labels(cause).inc(count);
  }

  soap(operation: string, fault: string): void {
    this.soapCalls.labels(operation, fault).inc();
  }

  rateLimited(rule: string): void {
    this.rateLimitRefusals.labels(rule).inc();
  }

  apiToken(event: 'issued' | 'revoked'): void {
    this.apiTokens.labels(event).inc();
  }

  socketOpened(upstream: string): void {
    this.openSockets.labels(upstream).inc();
  }

  socketClosed(upstream: string, cause: SocketCloseCause): void {
    this.openSockets.labels(upstream).dec();
    this.socketCloses.labels(upstream, cause).inc();
  }

  /**
   * Serves `GET /metrics` on `host:port` (port 0: any free port) and resolves with its URL.
   * Anything else there is a 404; the public listener never serves metrics.
   */
  async listen(port: number, host: string): Promise<string> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics could not be collected\n'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${hostPart}:${address.port}/metrics`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async storeAnswers(): Promise<boolean> {
    if (!this.store) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('store ping timed out')), storePingTimeoutMs);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
