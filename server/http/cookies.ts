import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CookieOptions } from 'express';

/** One cookie's value from the request, or undefined. (Gatehouse reads two cookies; no parser needed.) */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Every cookie whose name starts with `prefix`, as `[name, value]` (the login transactions, one per tab). */
export function readCookiesStartingWith(req: IncomingMessage, prefix: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? '' : part.slice(0, eq).trim();
    if (!name.startsWith(prefix)) continue;
    try {
      found.push([name, decodeURIComponent(part.slice(eq + 1).trim())]);
    } catch {
      // A value that does not decode is no transaction of ours.
    }
  }
  return found;
}

/** Names of Gatehouse's cookies; `__Host-` when served over https. */
export function cookieNames(secure: boolean): { session: string; login: string } {
  return secure
    ? { session: '__Host-gatehouse', login: '__Host-gatehouse-login' }
    : { session: 'gatehouse', login: 'gatehouse-login' };
}

/**
 * The cookie that carries the ContextID from GetExternalLoginRedirectURL to the callback (seed
 * step 3). Over https it is `__Host-ContextID`: browsers keep a `__Host-` cookie only when it is
 * `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant one for the
 * callback to pick up. A plain `ContextID` is then never read.
 */
export function contextCookie(secure: boolean): { name: string; path: string } {
  return secure ? { name: '__Host-ContextID', path: '/' } : { name: 'ContextID', path: '/external' };
}

/**
 * The options every Gatehouse cookie is set and cleared with: `HttpOnly`, no `Domain`,
 * `Secure` over https. `SameSite=Lax`, not `Strict`: the IdP's redirect back to a callback is a
 * cross-site navigation, and a Strict cookie would not come with it (the sign-in would fail,
 * and the session cookie would be missing on the first page after it). Lax still keeps the
 * cookies off cross-site POSTs, subrequests and frames.
 */
export function cookieOptions(
  secure: boolean,
  path = '/',
): CookieOptions & { httpOnly: true; sameSite: 'lax'; secure: boolean; path: string } {
  return { httpOnly: true, sameSite: 'lax', secure, path };
}

/**
 * Tells the browser to drop the session cookie (after the session record is gone). Written by
 * hand, as Express's `res.clearCookie` would, so the `/api` fast path (plain node:http) can use it.
 */
export function clearSessionCookie(res: ServerResponse, secure: boolean): void {
  const cleared = `${cookieNames(secure).session}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`;
  res.appendHeader('Set-Cookie', cleared);
}
