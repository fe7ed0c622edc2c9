import type { SessionData } from 'express-session';
import type { TokenCipher } from '../grants/token-cipher.ts';

/** What an external sign-in leaves with Gatehouse: both are secrets, so the session keeps them sealed. */
export interface ExternalCredentials {
  /** The Session service's IdentityToken: a bearer credential for its /api. */
  identityToken: string;
  /** The IdP sign-out URL from ExternalLogin; it carries the id_token as `id_token_hint`. */
  signOutUrl: string;
}

/** Bound as associated data: a sealed grant token can never be opened as these, nor the reverse. */
export const externalCredentialsContext = 'external-session-credentials';
const context = externalCredentialsContext;

/** Seals the credentials for the session record (AES-256-GCM, as tokens at rest). */
export function sealExternalCredentials(cipher: TokenCipher, credentials: ExternalCredentials): string {
  return cipher.seal(JSON.stringify(credentials), context);
}

/**
 * The credentials of an external session, or undefined when they cannot be opened (sealed
 * under another session secret, or altered). Records written before the credentials were
 * sealed hold them in plain fields; those are still read, until such sessions have expired.
 */
export function openExternalCredentials(
  cipher: TokenCipher,
  external: NonNullable<SessionData['external']>,
): ExternalCredentials | undefined {
  const legacy = external as Partial<ExternalCredentials>;
  if (typeof legacy.identityToken === 'string')
    return { identityToken: legacy.identityToken, signOutUrl: legacy.signOutUrl ?? '' };
  try {
    return JSON.parse(cipher.open(external.sealedCredentials, context)) as ExternalCredentials;
  } catch {
    return undefined;
  }
}
