import type { ErrorCode } from '../error-codes.ts';

/**
 * What kind of route a request is for. The gate decides from this (and the credential) who may
 * call and what proof the call must bring; {@link routeOf} names the kind of every path.
 */
export type RouteKind =
  | 'page'
  | 'page_form'
  | 'own_api'
  | 'proxied_api'
  | 'proxied_socket'
  | 'soap'
  | 'idp_facing'
  | 'health'
  | 'static';

/** How the caller proved who it is (after the gate looked): the browser's session cookie, a SOAP IdentityToken, a `gh_` API token, or nothing that reached a grant. */
export type Credential = 'session_cookie' | 'identity_token' | 'api_token' | 'none';

/**
 * What a caller with an ambient credential (the session cookie, which a browser sends whoever
 * asks) must show that the request comes from Gatehouse's own pages: the `X-CSRF: 1` header
 * (a cross-site page cannot send a custom header without a CORS preflight, which Gatehouse never
 * grants), or the per-session token of Gatehouse's own HTML forms. A WebSocket handshake cannot
 * carry a custom header, but a browser always names the page's origin on it: `same_origin` is an
 * `Origin` equal to Gatehouse's own.
 */
export type Proof = 'csrf_header' | 'form_token' | 'same_origin';

/** One cell of the policy: refused (with this code), or allowed with any one of `proofs`. */
export interface Rule {
  /** The refusal; undefined when the credential may call this kind of route. */
  readonly refused?: Extract<ErrorCode, 'unauthenticated' | 'browser_session_required' | 'token_scope'>;
  /** Any one of these suffices; empty when no proof is needed. */
  readonly proofs: readonly Proof[];
  /** Whether reads (GET, HEAD, OPTIONS) must bring the proof too, not only writes. */
  readonly onReads?: boolean;
  /** The code of a missing proof, when not `csrf_proof_missing`. */
  readonly missing?: Extract<ErrorCode, 'csrf_header_missing' | 'websocket_origin_refused'>;
}

const open: Rule = { proofs: [] };
const headerOnWrites: Rule = { proofs: ['csrf_header'] };
const headerOrFormOnWrites: Rule = { proofs: ['csrf_header', 'form_token'] };
const signInFirst: Rule = { refused: 'unauthenticated', proofs: [] };
// An API token reaches only /api and GET /auth/user; its own scope (upstreams, read-only) is
// checked where the token is looked up (`authenticateApiToken`).
const notForApiTokens: Rule = { refused: 'token_scope', proofs: [] };

/**
 * Route kind × credential → allowed, and the proof needed. The one place that says who must
 * prove what; docs/architecture.md shows it as a table, and test/gate-policy.test.ts checks it
 * cell by cell.
 */
export const policy: Readonly<Record<RouteKind, Readonly<Record<Credential, Rule>>>> = {
  page: { session_cookie: open, identity_token: open, api_token: notForApiTokens, none: open },
  page_form: {
    session_cookie: headerOrFormOnWrites,
    // A handle has no form token: a script proves with the header, as on the JSON routes.
    identity_token: headerOnWrites,
    api_token: notForApiTokens,
    // An external (SOAP) sign-in keeps a session and its form token without a local grant.
    none: headerOrFormOnWrites,
  },
  own_api: { session_cookie: headerOnWrites, identity_token: headerOnWrites, api_token: open, none: signInFirst },
  proxied_api: {
    // Every call, reads too: an upstream's GET may change state, and its answer is the user's data.
    session_cookie: { proofs: ['csrf_header'], onReads: true, missing: 'csrf_header_missing' },
    identity_token: open,
    api_token: open,
    none: signInFirst,
  },
  // A WebSocket handshake to `/api/<name>/…` (a GET that opens a channel for writes): a cookie
  // caller's must come from Gatehouse's own page; bearer callers as on `/api`.
  proxied_socket: {
    session_cookie: { proofs: ['same_origin'], onReads: true, missing: 'websocket_origin_refused' },
    identity_token: open,
    api_token: open,
    none: signInFirst,
  },
  // SOAP reads its IdentityToken from the envelope; IdP-facing endpoints are signed or bound to
  // a login transaction; health and static files hold nothing of the user's.
  soap: { session_cookie: open, identity_token: open, api_token: open, none: open },
  idp_facing: { session_cookie: open, identity_token: open, api_token: open, none: open },
  health: { session_cookie: open, identity_token: open, api_token: open, none: open },
  static: { session_cookie: open, identity_token: open, api_token: open, none: open },
};

/**
 * Who a route is for, beyond its kind's row: `any` (the kind's rule), `signed_in` (an anonymous
 * caller is refused 401), `browser` (only a signed-in browser session: API tokens and sessions
 * are managed from the browser, never by a handle or a token).
 */
export type Audience = 'any' | 'signed_in' | 'browser';

const browserSessionRequired: Rule = { refused: 'browser_session_required', proofs: [] };

/** The rule for one request: the kind's cell, narrowed by the route's audience. */
export function ruleFor(kind: RouteKind, audience: Audience, credential: Credential): Rule {
  const rule = policy[kind][credential];
  if (rule.refused || audience === 'any') return rule;
  if (credential === 'none') return kind === 'page' && audience === 'browser' ? rule : signInFirst;
  if (audience === 'browser' && credential !== 'session_cookie') return browserSessionRequired;
  return rule;
}

/** Methods that change nothing by definition (RFC 9110 §9.2.1): no proof is asked of them unless the rule says `onReads`. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}
