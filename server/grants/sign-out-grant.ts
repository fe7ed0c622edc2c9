import type { IdpAdapter } from '../idp/idp-adapter.ts';
import type { Grant, GrantStore } from './grant-store.ts';
import { UnknownSecretError } from './token-cipher.ts';

/**
 * Ends a grant and revokes its refresh token at the IdP. The token revoked is the one the
 * ended record held, so a refresh that rotated it a moment ago is not missed. Returns the
 * ended grant, or undefined when it had ended already (nothing is revoked twice).
 *
 * The refresh token is kept unrevoked when another live grant came from the same IdP session
 * (`sid`), or when `replacedBy` (the sign-in that replaces this grant) did: oidc-provider
 * revokes the whole IdP grant with one of its refresh tokens, and Keycloak the client
 * session, so revoking would end the other grant's tokens too. The ended grant's tokens are
 * deleted with it either way.
 */
export async function signOutGrant(
  grants: GrantStore,
  idp: IdpAdapter,
  id: string,
  replacedBy?: Grant,
): Promise<Grant | undefined> {
  const ended = await grants.end(id);
  const refreshToken = ended ? refreshTokenOf(grants, ended) : undefined;
  if (refreshToken && !(await sharesIdpSession(grants, ended!, replacedBy)))
    await idp.revoke(refreshToken, 'refresh_token');
  return ended;
}

async function sharesIdpSession(grants: GrantStore, ended: Grant, replacedBy: Grant | undefined): Promise<boolean> {
  if (replacedBy && replacedBy.sid === ended.sid) return true;
  if (!ended.sid) return false;
  // The ended grant has left the index already; any live member is another grant of that session.
  const others = await Promise.all((await grants.idsBySid(ended.sid)).map((other) => grants.get(other)));
  return others.some((grant) => grant !== undefined);
}

/** The grant's refresh token; none when its secret was rotated out (it is ended all the same). */
function refreshTokenOf(grants: GrantStore, grant: Grant): string | undefined {
  try {
    return grants.tokens(grant).refreshToken;
  } catch (error) {
    if (error instanceof UnknownSecretError) return undefined;
    throw error;
  }
}
