import type { IdpAdapter } from '../idp/idp-adapter.ts';
import type { Grant, GrantStore } from './grant-store.ts';

/**
 * Ends a grant and revokes its refresh token at the IdP. The token revoked is the one the
 * ended record held, so a refresh that rotated it a moment ago is not missed. Returns the
 * ended grant, or undefined when it had ended already (nothing is revoked twice).
 */
export async function signOutGrant(grants: GrantStore, idp: IdpAdapter, id: string): Promise<Grant | undefined> {
  const ended = await grants.end(id);
  const refreshToken = ended ? grants.tokens(ended).refreshToken : undefined;
  if (refreshToken) await idp.revoke(refreshToken, 'refresh_token');
  return ended;
}
