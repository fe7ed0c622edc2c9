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

// openid-client (oauth4webapi) names the failed id_token check only in its messages.
const openidClientFailures: ReadonlyArray<[RegExp, IdTokenRefusal, IdTokenRefusal]> = [
  [/"alg" header parameter/, 'id_token_alg_not_allowed', 'id_token_alg_not_allowed'],
  [
    /signature verification failed|selecting a JWT verification key|unsupported JWS/,
    'id_token_signature',
    'refresh_id_token_signature',
  ],
  [/"iss" \(issuer\) claim value/, 'id_token_iss_mismatch', 'refresh_iss_mismatch'],
  [/"aud" \(audience\)|"azp" \(authorized party\)/, 'id_token_aud_mismatch', 'refresh_aud_mismatch'],
  [/"sub" \(subject\)/, 'id_token_sub_invalid', 'id_token_sub_invalid'],
  [/"nonce" claim value/, 'id_token_nonce_mismatch', 'refresh_nonce_mismatch'],
  [/expiration is past/, 'id_token_expired', 'id_token_expired'],
  [/JWT|ID Token/, 'id_token_invalid', 'id_token_invalid'],
];

/**
 * The reason an openid-client failure refused the id_token, or undefined when the failure
 * was not about the id_token (the IdP refused the request, the network failed, …).
 */
export function idTokenFailure(error: unknown, entry: 'sign-in' | 'refresh'): IdTokenRefusal | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    for (const [pattern, atSignIn, atRefresh] of openidClientFailures) {
      if (pattern.test(current.message)) return entry === 'refresh' ? atRefresh : atSignIn;
    }
  }
  return undefined;
}
