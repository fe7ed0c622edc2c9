import { unsign } from 'cookie-signature';

/**
 * The session id a session cookie carries, when its signature is right: express-session's
 * format, `s:<id>.<HMAC-SHA256>`, checked with the same library it uses. Undefined for a
 * missing, unsigned or forged cookie.
 */
export function sessionIdFromCookie(value: string | undefined, secret: string): string | undefined {
  if (value === undefined || !value.startsWith('s:')) return undefined;
  const id = unsign(value.slice(2), secret);
  return id === false ? undefined : id;
}
