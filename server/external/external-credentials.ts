import type { TokenCipher } from '../grants/token-cipher.ts';

/** What an external sign-in leaves with Gatehouse: both are secrets, so the session keeps them sealed. */
export interface ExternalCredentials {
  /** The Session service's IdentityToken: a bearer credential for its /api. */
  identityToken: string;
  /** The IdP sign-out URL from ExternalLogin; it carries the id_token as `id_token_hint`. */
  signOutUrl: string;
}

// Bound as associated data: a sealed grant token can never be opened as these, nor the reverse.
const context = 'external-session-credentials';

/** Seals the credentials for the session record (AES-256-GCM, as tokens at rest). */
export function sealExternalCredentials(cipher: TokenCipher, credentials: ExternalCredentials): string {
  return cipher.seal(JSON.stringify(credentials), context);
}

/** Opens what {@link sealExternalCredentials} sealed; throws when it was altered. */
export function openExternalCredentials(cipher: TokenCipher, sealed: string): ExternalCredentials {
  return JSON.parse(cipher.open(sealed, context)) as ExternalCredentials;
}
