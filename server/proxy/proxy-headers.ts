import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { hopByHopHeaders as hopByHop } from '../http/header-names.ts';

// Never forwarded upstream: the browser's credentials for Gatehouse, spoofable forwarding
// information (Gatehouse sets its own), and Gatehouse's own protocol headers.
const notForwarded = new Set([
  ...hopByHop,
  'host',
  'cookie',
  'authorization',
  'forwarded',
  'x-real-ip',
  'expect',
  'x-csrf',
  'x-request-id',
  // Frameworks (IIS, Symfony, Zend) route by these instead of the request-target: a path Gatehouse
  // checked would not be the path the upstream serves.
  'x-original-url',
  'x-rewrite-url',
  // Frameworks (Express's method-override, Spring, Rails) act on these instead of the method:
  // a GET-only upstream would run a DELETE.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  // Client-address claims that upstreams and their logs trust; Gatehouse sends X-Forwarded-For.
  'true-client-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'client-ip',
]);

// Never passed back to the browser: the upstream's cookies would land on Gatehouse's origin;
// Gatehouse decides its own security policy and request id. An upstream must not open
// Gatehouse's origin to other sites (CORS), pin or unpin HTTPS for it (HSTS), wipe its cookies
// and storage (Clear-Site-Data), send the browser elsewhere without a redirect Gatehouse maps
// (Refresh), or widen a service worker's scope to the whole origin.
const notReturned = new Set([
  ...hopByHop,
  'set-cookie',
  'set-cookie2',
  'content-security-policy',
  'content-security-policy-report-only',
  'strict-transport-security',
  'alt-svc',
  'x-request-id',
  'clear-site-data',
  'refresh',
  'service-worker-allowed',
  // Caching instructions for CDNs (RFC 9213) that bypass Cache-Control: Gatehouse decides what a
  // shared cache may keep (see privateCacheControl).
  'cdn-cache-control',
  'surrogate-control',
  // Reporting policies: an upstream could have the browser send later URLs of Gatehouse's origin
  // (such as /auth/callback?code=…) to its own collector.
  'nel',
  'report-to',
  'reporting-endpoints',
]);

/** What Gatehouse adds to every upstream request. */
export interface ForwardingInfo {
  /** The caller's address as Gatehouse sees it (after `trust proxy`). */
  clientIp: string | undefined;
  /** Gatehouse's public URL: the origin browsers used. */
  publicUrl: URL;
  /** Where this upstream is mounted, e.g. `/api/renku`. */
  prefix: string;
  requestId: string;
  /** Static headers from the registry. */
  headers: Record<string, string>;
  /** The access token to send, if any. */
  accessToken: string | undefined;
}

/**
 * The headers sent upstream: the browser's, minus hop-by-hop ones (and those its `Connection`
 * names), its cookies and `Authorization`, and any `Forwarded`/`X-Forwarded-*` it sent; plus
 * Gatehouse's forwarding headers, the registry's static headers and `Authorization: Bearer`.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, info: ForwardingInfo): OutgoingHttpHeaders {
  const named = connectionNamed(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || notForwarded.has(name) || named.has(name) || name.startsWith('x-forwarded-')) continue;
    out[name] = value;
  }
  if (info.clientIp) out['x-forwarded-for'] = info.clientIp;
  out['x-forwarded-proto'] = info.publicUrl.protocol.slice(0, -1);
  out['x-forwarded-host'] = info.publicUrl.host;
  out['x-forwarded-prefix'] = `${info.publicUrl.pathname.replace(/\/+$/, '')}${info.prefix}`;
  out['x-request-id'] = info.requestId;
  Object.assign(out, info.headers);
  if (info.accessToken !== undefined) out.authorization = `Bearer ${info.accessToken}`;
  return out;
}

/**
 * The upstream response headers that may reach the browser: not hop-by-hop, not policy for
 * Gatehouse's origin (cookies, CORS, HSTS, CSP, …), not a Basic challenge, and none whose value
 * holds `accessToken` (an upstream that echoes the Authorization it got, e.g. in a debug header).
 */
export function browserResponseHeaders(
  incoming: IncomingHttpHeaders,
  accessToken?: string,
): Array<[string, string | string[]]> {
  const named = connectionNamed(incoming.connection);
  const forms = accessToken === undefined ? [] : tokenForms(accessToken);
  const out: Array<[string, string | string[]]> = [];
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || notReturned.has(name) || named.has(name) || name.startsWith('access-control-')) continue;
    if ((Array.isArray(value) ? value : [value]).some((v) => forms.some((form) => v.includes(form)))) continue;
    // A Basic or Negotiate challenge would open the browser's own login dialog for Gatehouse's origin.
    if (name === 'www-authenticate' && !/^\s*bearer\b/i.test(String(value))) continue;
    out.push([name, value]);
  }
  return out;
}

// Directives that let a shared cache store or serve a response (RFC 9111 §5.2.2).
const sharedCacheDirectives = new Set(['public', 's-maxage', 'proxy-revalidate']);

/**
 * The upstream's `Cache-Control` for a response to a request that carried a user's token: a
 * shared cache in front of Gatehouse never sees that token, so it must not keep the answer and
 * serve it to another user. `public`, `s-maxage` and `proxy-revalidate` are dropped and `private`
 * added; the browser's own directives (`no-store`, `max-age`, `no-cache`, …) stay.
 */
export function privateCacheControl(value: string | string[]): string {
  const directives = (Array.isArray(value) ? value.join(',') : value)
    // Split on commas outside quoted strings (`no-cache="a, b"`).
    .split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)
    .map((directive) => directive.trim())
    .filter(Boolean);
  const kept = directives.filter(
    (directive) => !sharedCacheDirectives.has(directive.split('=')[0]!.trim().toLowerCase()),
  );
  if (!kept.some((directive) => directive.toLowerCase() === 'private')) kept.unshift('private');
  return kept.join(', ');
}

/**
 * Maps an upstream redirect back onto Gatehouse: a `Location` inside the upstream's base URL
 * becomes the same path under `/api/<name>`, so the browser comes back through Gatehouse
 * (and never learns the upstream's address). Relative and foreign locations pass unchanged.
 */
export function rewriteLocation(location: string, upstreamUrl: string, mountPath: string): string {
  if (!/^([a-z][a-z0-9+.-]*:|\/)/i.test(location)) return location;
  const base = new URL(`${upstreamUrl}/`);
  let target: URL;
  try {
    target = new URL(location, base);
  } catch {
    return location;
  }
  if (target.origin !== base.origin) return location;
  if (target.pathname !== base.pathname.slice(0, -1) && !target.pathname.startsWith(base.pathname)) return location;
  return `${mountPath}${target.pathname.slice(base.pathname.length - 1)}${target.search}${target.hash}`;
}

/** The ways an echoed token appears: as sent, and percent-encoded (as in an echoed URL). */
export function tokenForms(accessToken: string): string[] {
  const encoded = encodeURIComponent(accessToken);
  return encoded === accessToken ? [accessToken] : [accessToken, encoded];
}

function connectionNamed(connection: string | string[] | undefined): Set<string> {
  const value = Array.isArray(connection) ? connection.join(',') : (connection ?? '');
  return new Set(
    value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}
