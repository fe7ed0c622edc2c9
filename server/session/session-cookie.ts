import { sign, unsign } from 'cookie-signature';

/** A session id from a cookie, and whether the newest secret signed it. */
export interface VerifiedSessionCookie {
  id: string;
  /** False when an older secret of the list signed it: the browser should get it re-signed. */
  current: boolean;
}

/**
 * The session id a session cookie carries, when its signature is right: express-session's
 * format, `s:<id>.<HMAC-SHA256>`, checked with the same library it uses. `secrets` is
 * GATEHOUSE_SESSION_SECRET, newest first; any of them verifies. Undefined for a missing,
 * unsigned or forged cookie.
 */
export function sessionIdFromCookie(
  value: string | undefined,
  secrets: string | readonly string[],
): string | undefined {
  return verifySessionCookie(value, typeof secrets === 'string' ? [secrets] : secrets)?.id;
}

/** Like {@link sessionIdFromCookie}, and says which secret signed it. */
export function verifySessionCookie(
  value: string | undefined,
  secrets: readonly string[],
): VerifiedSessionCookie | undefined {
  if (value === undefined || !value.startsWith('s:')) return undefined;
  for (const [index, secret] of secrets.entries()) {
    const id = unsign(value.slice(2), secret);
    if (id !== false) return { id, current: index === 0 };
  }
  return undefined;
}

/** The session cookie's value for `id`, signed with the newest secret (as express-session signs it). */
export function signSessionCookie(id: string, secrets: readonly string[]): string {
  return `s:${sign(id, secrets[0]!)}`;
}

/**
 * Gives the browser its session cookie again, signed with the newest secret, when an older
 * one signed it: once every live browser has been re-signed, the older secret can go. Written
 * by hand with express-session's attributes (HttpOnly, SameSite=Lax, Path=/, no expiry), so
 * the `/api` fast path (plain node:http) can use it too.
 */
export function resignSessionCookie(
  res: { appendHeader(name: string, value: string): unknown },
  name: string,
  id: string,
  secrets: readonly string[],
  secure: boolean,
): void {
  const value = encodeURIComponent(signSessionCookie(id, secrets));
  res.appendHeader('Set-Cookie', `${name}=${value}; Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`);
}
