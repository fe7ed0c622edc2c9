import type { ErrorFormat } from '../http/error-format.ts';
import { type Audience, isSafeMethod, type RouteKind } from './policy.ts';

/** What the gate knows of a route before any handler runs. */
export interface Route {
  readonly kind: RouteKind;
  readonly audience: Audience;
  /** Whether the gate looks for a caller (session cookie, bearer handle, API token) at all. */
  readonly identifies: boolean;
  /**
   * Whether other sites may post here (a cross-site write is otherwise refused). None may
   * today; a route that must (an IdP's `form_post` callback, say) says so here.
   */
  readonly crossSite: boolean;
  /** The form a refusal takes when the route's path says otherwise (a form inside a JSON router answers with a page). */
  readonly errorFormat?: ErrorFormat;
}

function route(kind: RouteKind, audience: Audience = 'any', identifies = true, errorFormat?: ErrorFormat): Route {
  return Object.freeze({ kind, audience, identifies, crossSite: false, ...(errorFormat ? { errorFormat } : {}) });
}

// One frozen object per row: the gate builds nothing per request to classify it.
const staticFiles = route('static', 'any', false);
const health = route('health', 'any', false);
const soap = route('soap', 'any', false);
// The IdP's own calls (signed logout tokens) and a device's OAuth endpoints use no browser session.
const idpServerToServer = route('idp_facing', 'any', false);
// The browser comes back from the IdP: the login transaction is bound to its session.
const callback = route('idp_facing');
/** `/api/<name>/…`: the `/api` fast path. */
export const proxiedApiRoute = route('proxied_api');
/** `/api/<name>/…` with `Upgrade: websocket` (proxy/websocket-upgrade.ts): Node's `'upgrade'` event, never `routeOf`. */
export const proxiedSocketRoute = route('proxied_socket');
const ownApi = route('own_api');
const signedInApi = route('own_api', 'signed_in');
const ownApiForBrowsers = route('own_api', 'browser');
const page = route('page');
const pageForBrowsers = route('page', 'browser');
const pageForm = route('page_form');
// The home page's "end" button, inside the JSON /auth/sessions router: a refusal is a page.
const pageFormSignedIn = route('page_form', 'signed_in', true, 'html');
const pageFormForBrowsers = route('page_form', 'browser');

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The kind of route a request is for, from its method and path (case-insensitive, as Express
 * routes). Every Gatehouse route is named here, features' routes too: the policy of a route is
 * decided before it is reached, so a new route must be given its kind here (an unknown path is
 * a page, which asks the most of a cookie caller's writes).
 */
export function routeOf(method: string, rawPath: string): Route {
  const path = rawPath.toLowerCase();
  if (under(path, '/api')) return proxiedApiRoute;
  if (under(path, '/public')) return staticFiles;
  // The scripts guide and its examples, as plain text (tokens/mount-api-tokens.ts).
  if (under(path, '/docs')) return staticFiles;
  if (path === '/healthz' || path === '/readyz') return health;
  if (under(path, '/session')) return soap;
  if (under(path, '/auth/backchannel-logout') || under(path, '/auth/device')) return idpServerToServer;
  if (path === '/auth/callback' || path === '/external/callback') return callback;
  if (under(path, '/auth/user')) return ownApi;
  if (under(path, '/auth/sessions')) {
    // The home page's "end" button is a form; the rest is JSON.
    return method === 'POST' && path.endsWith('/end') ? pageFormSignedIn : signedInApi;
  }
  if (under(path, '/auth/tokens')) return ownApiForBrowsers;
  const write = !isSafeMethod(method);
  if (under(path, '/tokens') || under(path, '/device')) return write ? pageFormForBrowsers : pageForBrowsers;
  return write ? pageForm : page;
}
