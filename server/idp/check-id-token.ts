/**
 * Gatehouse's own id_token rules, on top of what openid-client checks (signature, `iss`, `aud`,
 * `exp`, `nonce`, the pinned `alg`). One module, used by the IdP adapter for every id_token it
 * accepts: at the browser sign-in, the SOAP ExternalLogin and a refresh (OpenID Connect Core
 * §12.2). Each refusal has a stable reason for the log.
 */

/** Why an id_token was refused. Stable strings: operators filter logs on them. */
export type IdTokenRefusal =
  | 'id_token_iat_in_future'
  | 'id_token_iat_too_old'
  | 'id_token_sub_invalid'
  | 'id_token_alg_not_allowed'
  | 'id_token_signature'
  | 'id_token_iss_mismatch'
  | 'id_token_aud_mismatch'
  | 'id_token_nonce_mismatch'
  | 'id_token_expired'
  | 'id_token_invalid'
  | 'refresh_id_token_signature'
  | 'refresh_iss_mismatch'
  | 'refresh_sub_mismatch'
  | 'refresh_aud_mismatch'
  | 'refresh_nonce_mismatch'
  | 'refresh_auth_time_changed'
  | 'userinfo_sub_mismatch'
  | 'userinfo_alg_not_allowed'
  | 'userinfo_signature'
  | 'userinfo_iss_mismatch'
  | 'userinfo_aud_mismatch'
  | 'userinfo_invalid';

/**
 * What the sign-in's id_token said that every later id_token of the same grant must repeat
 * (Core §12.2). Kept with the grant.
 */
export interface OriginalIdToken {
  iss: string;
  sub: string;
  nonce?: string;
  auth_time?: number;
}

/** The limits {@link checkIdToken} applies. */
export interface IdTokenRules {
  clientId: string;
  /** Seconds of clock difference with the IdP tolerated (GATEHOUSE_CLOCK_TOLERANCE). */
  clockToleranceSeconds: number;
}

/**
 * How old an id_token may be when it arrives (plus the tolerance). It was issued for this very
 * code exchange or refresh: an older one is a replay or an IdP with a broken clock.
 */
export const idTokenMaxAgeSeconds = 10 * 60;

/** Longest `sub` accepted; OIDC Core §2 caps it at 255 ASCII characters. */
const maxSubLength = 255;

/**
 * Checks an id_token's claims (already verified by openid-client) against Gatehouse's rules;
 * with `original`, also the refresh rules of Core §12.2. Returns the reason for refusing it,
 * or undefined when it passes. `nowSeconds` is the wall clock: the IdP's timestamps are
 * compared with it, as openid-client compares `exp`.
 */
export function checkIdToken(
  claims: Record<string, unknown>,
  nowSeconds: number,
  rules: IdTokenRules,
  original?: OriginalIdToken,
): IdTokenRefusal | undefined {
  const { iat, sub } = claims;
  const tolerance = rules.clockToleranceSeconds;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'id_token_invalid';
  if (iat > nowSeconds + tolerance) return 'id_token_iat_in_future';
  if (iat < nowSeconds - idTokenMaxAgeSeconds - tolerance) return 'id_token_iat_too_old';
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > maxSubLength) return 'id_token_sub_invalid';
  if (!original) return undefined;

  if (claims.iss !== original.iss) return 'refresh_iss_mismatch';
  if (sub !== original.sub) return 'refresh_sub_mismatch';
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audience.includes(rules.clientId)) return 'refresh_aud_mismatch';
  // Grants stored before Gatehouse kept the nonce have none to compare with.
  if (claims.nonce !== undefined && original.nonce !== undefined && claims.nonce !== original.nonce)
    return 'refresh_nonce_mismatch';
  if (claims.auth_time !== undefined && original.auth_time !== undefined && claims.auth_time !== original.auth_time) {
    return 'refresh_auth_time_changed';
  }
  return undefined;
}

/** The claims of a verified id_token that {@link OriginalIdToken} keeps. */
export function originalIdToken(claims: Record<string, unknown> & { iss: string; sub: string }): OriginalIdToken {
  return {
    iss: claims.iss,
    sub: claims.sub,
    ...(typeof claims.nonce === 'string' ? { nonce: claims.nonce } : {}),
    ...(typeof claims.auth_time === 'number' ? { auth_time: claims.auth_time } : {}),
  };
}

// oauth4webapi's messages for the id_token checks that fail (node_modules/oauth4webapi): its
// error codes are shared by many checks, so the message names which one. Anchored, so a
// failure that is not about the id_token's signature or claims is never taken for one.
const openidClientFailures: ReadonlyArray<[RegExp, IdTokenRefusal, IdTokenRefusal]> = [
  [/^unexpected JWT "alg" header parameter$/, 'id_token_alg_not_allowed', 'id_token_alg_not_allowed'],
  [
    /^JWT signature verification failed$|^unsupported JWS algorithm$/,
    'id_token_signature',
    'refresh_id_token_signature',
  ],
  [/^unexpected JWT "iss" \(issuer\) claim value$/, 'id_token_iss_mismatch', 'refresh_iss_mismatch'],
  [
    /^unexpected JWT "aud" \(audience\) claim value$|^ID Token "aud" \(audience\) claim includes additional untrusted audiences$|^unexpected ID Token "azp" \(authorized party\) claim value$/,
    'id_token_aud_mismatch',
    'refresh_aud_mismatch',
  ],
  [/^(unexpected )?JWT "sub" \(subject\) claim/, 'id_token_sub_invalid', 'id_token_sub_invalid'],
  [/^unexpected ID Token "nonce" claim value$/, 'id_token_nonce_mismatch', 'refresh_nonce_mismatch'],
  [/^unexpected JWT "exp" \(expiration time\) claim value, expiration is past/, 'id_token_expired', 'id_token_expired'],
];

// The codes oauth4webapi gives a JWT it parsed and found wrong (malformed, a claim of the wrong
// type or value, a timestamp out of range). Not OAUTH_KEY_SELECTION_FAILED: see keySelectionFailed.
const invalidJwtCodes = new Set([
  'OAUTH_INVALID_RESPONSE',
  'OAUTH_PARSE_ERROR',
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_JWT_USERINFO_EXPECTED',
]);
const invalidJwtMessage = /^(unexpected |invalid |failed to parse )?(JWT|ID Token)\b|^Invalid JWT$/;

/**
 * Whether openid-client could not pick the IdP's key for a JWT: no key in its JWKS has the
 * JWT's `kid` (the IdP rotated keys and openid-client's copy of the JWKS is under 60 s old), or
 * several match a JWT without `kid`. That says nothing about the JWT: it is the IdP's key set
 * being briefly out of step, a 503 to retry, never a forgery that ends a grant.
 */
export function keySelectionFailed(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if ((current as { code?: unknown }).code === 'OAUTH_KEY_SELECTION_FAILED') return true;
  }
  return false;
}

/**
 * The reason an openid-client failure refused the id_token, or undefined when the failure
 * was not about the id_token (the IdP refused the request, the network failed, …).
 */
export function idTokenFailure(error: unknown, entry: 'sign-in' | 'refresh'): IdTokenRefusal | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (keySelectionFailed(current)) return undefined;
    for (const [pattern, atSignIn, atRefresh] of openidClientFailures) {
      if (pattern.test(current.message)) return entry === 'refresh' ? atRefresh : atSignIn;
    }
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && invalidJwtCodes.has(code) && invalidJwtMessage.test(current.message))
      return 'id_token_invalid';
  }
  return undefined;
}
