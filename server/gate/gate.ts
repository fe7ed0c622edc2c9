import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { constantTimeEqual } from '../constant-time.ts';
import { AppError, payloadTooLarge, unauthenticated } from '../errors.ts';
import { cookieNames } from '../http/cookies.ts';
import type { RateLimits } from '../http/rate-limits.ts';
import { beginRequest } from '../http/request-context.ts';
import { clientAddressOf, type TrustProxy } from '../http/trust-proxy.ts';
import type { Logger, RequestContext } from '../log.ts';
import { noObservability, type Observability } from '../observability/observability.ts';
import { type BrowserSession, type Caller, type CallerRequest, credentialOf } from './caller.ts';
import { type Credential, isSafeMethod, type Rule, ruleFor } from './policy.ts';
import type { Route } from './routes.ts';

/**
 * What differs between the ways a request reaches the gate (the Express app, the `/api` fast
 * path; later a WebSocket upgrade): how the browser session is loaded, which extra methods the
 * route declares, how a form token is read. One instance per adapter, built at start.
 */
export interface GateHost {
  /** Makes the browser session ready before the caller is looked up (express-session loads it here); may do nothing. */
  loadSession(request: GateRequest): void | Promise<void>;
  /** The browser session, as {@link CallerRequest.session}. */
  session(request: GateRequest): BrowserSession | Promise<BrowserSession>;
  /** Methods beyond the standard seven that this request's route accepts (an upstream's `methods`), if any. */
  declaredMethods(request: GateRequest): readonly string[] | undefined;
  /** The session's form token and the one the request sent (a form's `csrf` field), when there are both. */
  formTokens(request: GateRequest): FormTokens | undefined | Promise<FormTokens | undefined>;
}

/** The token a session expects in Gatehouse's own forms, and the one a request sent. */
export interface FormTokens {
  expected: string;
  sent: string;
}

/** One request on its way through the gate; what a handler reads once it is admitted. */
export class GateRequest implements CallerRequest {
  readonly context: RequestContext = { requestId: '' };
  /** The client's address as the trusted proxies report it (set by the client-address step). */
  address = '';
  caller: Caller = anonymous;
  credential: Credential = 'none';
  /** Set by the last step only: a handler serves the request only when it is true. */
  admitted = false;
  /** Whether `100 Continue` was sent. */
  bodyInvited = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly host: GateHost,
    readonly route: Route,
    /** The request path without its query. */
    readonly path: string,
  ) {}

  get requestId(): string {
    return this.context.requestId;
  }

  clientAddress(): string {
    return this.address;
  }

  session(): BrowserSession | Promise<BrowserSession> {
    return this.host.session(this);
  }
}

const anonymous: Caller = Object.freeze({});

/** What the gate needs, built once at start. */
export interface GateOptions {
  config: Pick<Config, 'publicUrl' | 'secureCookies'> & { proxy: Pick<Config['proxy'], 'maxBodyBytes'> };
  logger: Logger;
  clock: Clock;
  observability?: Observability | undefined;
  /** GATEHOUSE_TRUST_PROXY, compiled. */
  trust: TrustProxy;
  /** The security headers every response carries (helmet's, recorded once). */
  securityHeaders: ReadonlyArray<readonly [string, string]>;
  rateLimits?: RateLimits | undefined;
  /** Who is calling (`findCaller` with its dependencies): the gate names the step, the auth feature owns the rule. */
  identify(request: CallerRequest): Promise<Caller>;
  /**
   * Notes forwarding headers a proxy got wrong: from a peer that is not a trusted proxy, or no
   * `X-Forwarded-Proto: https` from one that is (once-per-process warnings).
   */
  noteForwarding?: ((req: IncomingMessage) => void) | undefined;
}

/** A step of the gate: passes (returns), refuses (throws an AppError), or waits for the store. */
export type GateStep = (gate: Gate, request: GateRequest) => void | Promise<void>;

/** The gate, built once: its options, what it precomputed, and its steps in order. */
export interface Gate extends GateOptions {
  readonly observability: Observability;
  /** Gatehouse's own origin (of GATEHOUSE_PUBLIC_URL), the only `Origin` a write may come from. */
  readonly origin: string;
  readonly sessionCookie: string;
  readonly steps: readonly GateStep[];
}

// Every route but `/api`'s reads at most a SOAP envelope (64 KiB); the route's own parser has
// its own, tighter limit. The gate's bound decides only whether to invite the body (100 Continue).
const maxOtherBodyBytes = 64 * 1024;

/** The methods Gatehouse serves; `/api` forwards another only when the upstream's `methods` lists it. */
export const standardMethods: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const standard = new Set(standardMethods);
const standardAllow = standardMethods.join(', ');

/** Request id, the request's log line, metrics and span; the caller's `X-Request-Id` only from a trusted proxy. */
export const beginStep: GateStep = (gate, request) => {
  beginRequest(request.req, request.res, gate, request.context);
};

/** Helmet's headers, recorded once at start, on every answer (refusals too). */
export const securityHeadersStep: GateStep = (gate, request) => {
  const { res } = request;
  for (const [name, value] of gate.securityHeaders) res.setHeader(name, value);
};

/** Who the client is, as GATEHOUSE_TRUST_PROXY allows the peers to say. */
export const clientAddressStep: GateStep = (gate, request) => {
  gate.noteForwarding?.(request.req);
  request.address = clientAddressOf(request.req, gate.trust);
};

/**
 * Methods: the seven Gatehouse serves, and for `/api` any other the upstream declares. TRACE
 * in particular is refused: an upstream that answers it echoes the request, access token and all.
 */
export const methodRule: GateStep = (_gate, request) => {
  const method = request.req.method ?? 'GET';
  if (standard.has(method)) return;
  const declared = request.host.declaredMethods(request);
  if (declared?.includes(method)) return;
  request.res.setHeader('Allow', declared ? [...standardMethods, ...declared].join(', ') : standardAllow);
  throw new AppError('method_not_allowed', `${method} is not served here.`, {
    details: { allowed: declared ? [...standardMethods, ...declared] : standardMethods },
  });
};

/**
 * Cross-site writes: a browser says where a request comes from (`Sec-Fetch-Site`, `Origin`);
 * a write from another site is refused whatever else it carries (`X-CSRF: 1` included: a
 * sibling site may be allowed to send it by a misconfigured CORS proxy in front). A request
 * without these headers (scripts, SOAP clients, the IdP's back-channel call) is judged by the
 * policy as before.
 *
 * `Sec-Fetch-Site`, when sent, decides (as Go's CrossOriginProtection does): Gatehouse's own
 * form posts carry `Origin: null`, because its `Referrer-Policy: no-referrer` tells the browser
 * to hide the origin of navigations, but `Sec-Fetch-Site: same-origin`. Only without it does
 * `Origin` decide.
 */
export const crossSiteRule: GateStep = (gate, request) => {
  const { req } = request;
  if (isSafeMethod(req.method ?? 'GET') || request.route.crossSite) return;
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  // Sec-Fetch-Site, when sent, is the browser's own verdict. Origin is "null" on every form POST
  // from a page with `Referrer-Policy: no-referrer` (helmet's default, so Gatehouse's own pages):
  // it decides only for browsers that send no Sec-Fetch-Site.
  const crossSite =
    site !== undefined ? site !== 'same-origin' && site !== 'none' : origin !== undefined && origin !== gate.origin;
  if (crossSite) {
    throw new AppError('cross_site_request', 'Gatehouse accepts changes only from its own pages.');
  }
};

/**
 * A declared body over the route's limit is refused before it is read (and before `100
 * Continue` invites it); the connection is closed rather than drained.
 */
export const bodyLimitRule: GateStep = (gate, request) => {
  const declared = request.req.headers['content-length'];
  if (declared === undefined) return;
  const limit = request.route.kind === 'proxied_api' ? gate.config.proxy.maxBodyBytes : maxOtherBodyBytes;
  if (Number(declared) > limit) {
    request.res.setHeader('Connection', 'close');
    throw payloadTooLarge(limit);
  }
};

/**
 * Two session cookies on one request (one tossed from a sibling host, or a stale one with
 * another Path): the request is served as neither, and counts as a refused credential.
 */
export const ambiguousSessionRule: GateStep = (gate, request) => {
  if (!request.route.identifies) return;
  const header = request.req.headers.cookie;
  if (header === undefined || !hasTwo(header, gate.sessionCookie)) return;
  return refuseAmbiguousSession(gate, request);
};

async function refuseAmbiguousSession(gate: Gate, request: GateRequest): Promise<never> {
  await gate.rateLimits?.failedCredential(request.address, 'session_cookie');
  throw new AppError(
    'ambiguous_session',
    'The request carries two session cookies; clear the cookies of this site and sign in again.',
  );
}

/** Who is calling: the session cookie, a bearer handle or an API token (`findCaller`). */
export const whoIsCallingStep: GateStep = (gate, request) => {
  if (!request.route.identifies) return undefined;
  const loading = request.host.loadSession(request);
  return loading ? loading.then(() => identify(gate, request)) : identify(gate, request);
};

async function identify(gate: Gate, request: GateRequest): Promise<void> {
  const caller = await gate.identify(request);
  request.caller = caller;
  request.credential = credentialOf(caller);
}

/** The policy for this route kind and credential (policy.ts): refused, or the proof it needs. */
export const policyStep: GateStep = (gate, request) => {
  const { req, route } = request;
  const rule = ruleFor(route.kind, route.audience, request.credential);
  if (rule.refused) throw refusal(rule);
  if (rule.proofs.length === 0 || (!rule.onReads && isSafeMethod(req.method ?? 'GET'))) return undefined;
  if (rule.proofs.includes('csrf_header') && req.headers['x-csrf'] === '1') return undefined;
  if (rule.proofs.includes('same_origin') && req.headers.origin === gate.origin) return undefined;
  if (!rule.proofs.includes('form_token')) throw missingProof(rule, gate.origin);
  const tokens = request.host.formTokens(request);
  if (tokens instanceof Promise) return tokens.then((sent) => checkFormToken(rule, sent, gate.origin));
  checkFormToken(rule, tokens, gate.origin);
  return undefined;
};

function checkFormToken(rule: Rule, tokens: FormTokens | undefined, origin: string): void {
  if (!tokens || !constantTimeEqual(tokens.expected, tokens.sent)) throw missingProof(rule, origin);
}

function refusal(rule: Rule): AppError {
  switch (rule.refused) {
    case 'unauthenticated':
      return unauthenticated();
    case 'browser_session_required':
      return new AppError(
        'browser_session_required',
        'Only a signed-in browser may do this (tokens and sessions are managed at /tokens and /).',
      );
    default:
      return new AppError('token_scope', 'An API token reaches only /api/<name>/… and GET /auth/user.');
  }
}

function missingProof(rule: Rule, origin: string): AppError {
  if (rule.missing === 'websocket_origin_refused') {
    return new AppError(
      'websocket_origin_refused',
      `A browser's WebSocket must come from a page of ${origin} (the Origin header).`,
      { details: { expectedOrigin: origin } },
    );
  }
  return rule.proofs.includes('form_token')
    ? new AppError('csrf_proof_missing', "Send this from Gatehouse's own page, or send the header X-CSRF: 1.")
    : new AppError(rule.missing ?? 'csrf_proof_missing', 'Calls from the browser must send the header X-CSRF: 1.');
}

/** Marks the request admitted; only now is a body invited (`100 Continue`). */
export const admitStep: GateStep = (_gate, request) => {
  request.admitted = true;
  (request.req as Admitted)[admission] = request;
  inviteBody(request);
};

/**
 * Sends `100 Continue` once to a client that waits for it before sending its body: when the
 * request is admitted, or when the gate itself must read the body (a form's token, the last
 * proof it checks).
 */
export function inviteBody(request: GateRequest): void {
  if (!request.bodyInvited && expectsContinue(request.req)) {
    request.bodyInvited = true;
    request.res.writeContinue();
  }
}

/**
 * The gate's steps, in order. A new security step goes here, and so reaches every path that
 * runs the gate: the pages (express-gate.ts), `/api` (node-gate.ts), and later WebSockets.
 */
export const gateSteps: readonly GateStep[] = [
  beginStep,
  securityHeadersStep,
  clientAddressStep,
  methodRule,
  crossSiteRule,
  bodyLimitRule,
  ambiguousSessionRule,
  whoIsCallingStep,
  policyStep,
  admitStep,
];

/** Builds the gate once, at start. `steps` is for tests that take one step out. */
export function createGate(options: GateOptions, steps: readonly GateStep[] = gateSteps): Gate {
  return {
    ...options,
    observability: options.observability ?? noObservability,
    origin: new URL(options.config.publicUrl).origin,
    sessionCookie: cookieNames(options.config.secureCookies).session,
    steps,
  };
}

/** Runs the steps in order; awaits only the steps that return a promise. */
export async function passGate(gate: Gate, request: GateRequest): Promise<void> {
  const { steps } = gate;
  for (let i = 0; i < steps.length; i++) {
    const pending = steps[i]!(gate, request);
    if (pending !== undefined) await pending;
  }
}

/**
 * What an adapter does to a refused request before it answers: a body the client was waiting
 * to send (`Expect: 100-continue`) is not invited, and the connection is closed so it is not read.
 */
export function refused(request: GateRequest): void {
  if (expectsContinue(request.req) && !request.res.headersSent) request.res.setHeader('Connection', 'close');
}

function expectsContinue(req: IncomingMessage): boolean {
  const expect = req.headers.expect;
  return expect !== undefined && expect.toLowerCase() === '100-continue';
}

/** True when the cookie header has `name` twice. (Gatehouse's names: `gatehouse=` is not inside `gatehouse-login=`.) */
function hasTwo(header: string, name: string): boolean {
  const first = header.indexOf(`${name}=`);
  if (first === -1 || header.indexOf(`${name}=`, first + 1) === -1) return false;
  let count = 0;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) count++;
  }
  return count > 1;
}

// A symbol-keyed field, not a WeakMap: set once per request on the hot path, read by the handler.
const admission = Symbol('gatehouse.admission');
type Admitted = IncomingMessage & { [admission]?: GateRequest };

/**
 * The admission of a request, for a handler: a request the gate did not admit is refused with
 * 500 `internal_error` and an error log line naming the route, never served. (A route mounted
 * around the gate is a bug; it must fail closed, not serve without the steps.)
 */
export function admissionOf(req: IncomingMessage, logger: Logger): GateRequest {
  const request = (req as Admitted)[admission];
  if (request?.admitted) return request;
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  logger.error('a handler was reached without passing the gate', {
    route: `${req.method ?? 'GET'} ${queryAt === -1 ? url : url.slice(0, queryAt)}`,
  });
  throw new AppError('internal_error', 'This request was not checked; it was refused.');
}
