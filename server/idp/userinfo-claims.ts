/**
 * Where the user's claims come from when the IdP puts only `sub` in the id_token (OpenID
 * Connect Core §5.4: LemonLDAP::NG, Authelia, oidc-provider with `conformIdTokenClaims`):
 * the UserInfo endpoint, merged under the id_token's protocol claims.
 */

/** When to call UserInfo (GATEHOUSE_OIDC_USERINFO). */
export type UserInfoMode = 'auto' | 'always' | 'never';

/** Claims only the id_token decides; UserInfo never overrides them. */
const protocolClaims = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nonce', 'auth_time', 'acr', 'amr', 'azp', 'sid']);

/** The scopes whose claims Core §5.4 returns from UserInfo. */
const userInfoScopes = ['profile', 'email', 'address', 'phone'];

/** Core §5.1's standard claims: kept whatever else is dropped. */
const standardClaims = new Set([
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'email',
  'email_verified',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'phone_number',
  'phone_number_verified',
  'address',
  'updated_at',
]);

// The grant is stored per session: an IdP that returns group lists or photos in UserInfo must
// not grow every session record. Standard claims fit in these bounds in practice.
const maxStandardClaimBytes = 4096;
const maxOtherClaimBytes = 1024;
const maxOtherClaimsBytes = 8192;

/**
 * Whether to call UserInfo: never with `never`; with `always` whenever the IdP has the
 * endpoint; with `auto` when it has one and a scope whose claims live there was granted.
 */
export function wantsUserInfo(mode: UserInfoMode, hasEndpoint: boolean, grantedScope: string): boolean {
  if (mode === 'never' || !hasEndpoint) return false;
  if (mode === 'always') return true;
  const granted = grantedScope.split(/\s+/);
  return userInfoScopes.some((scope) => granted.includes(scope));
}

/**
 * The id_token's claims with UserInfo's filled in or updated. Protocol claims stay the
 * id_token's; claims outside Core §5.1 larger than 1 KB, or beyond 8 KB in all, are dropped.
 */
export function mergeUserInfo(
  idTokenClaims: Record<string, unknown>,
  userinfo: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...idTokenClaims };
  let otherBytes = 0;
  for (const [name, value] of Object.entries(userinfo)) {
    if (protocolClaims.has(name) || value === undefined) continue;
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (standardClaims.has(name)) {
      if (bytes <= maxStandardClaimBytes) merged[name] = value;
      continue;
    }
    if (bytes > maxOtherClaimBytes || otherBytes + bytes > maxOtherClaimsBytes) continue;
    otherBytes += bytes;
    merged[name] = value;
  }
  return merged;
}
