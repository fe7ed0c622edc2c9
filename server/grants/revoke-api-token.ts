import type { AppDeps } from '../deps.ts';
import { signOutGrant } from './sign-out-grant.ts';
import { observed } from '../observability/observability.ts';
import type { ApiToken, ApiTokenStore } from './api-token-store.ts';

/**
 * Ends one API token: its secret stops working on every instance, and its own grant ends with
 * its refresh token revoked at the IdP (an offline token outlives the IdP session otherwise).
 * Returns false when it was gone already.
 */
export async function revokeApiToken(
  deps: Pick<AppDeps, 'grants' | 'idp' | 'logger'>,
  apiTokens: ApiTokenStore,
  token: ApiToken,
): Promise<boolean> {
  if (!(await apiTokens.remove(token.id))) return false;
  await signOutGrant(deps.grants, deps.idp, token.grantId);
  deps.logger.info('api token revoked', { sub: token.sub, apiCredentialId: token.id });
  observed().apiToken('revoked');
  return true;
}

/** Ends every API token of `sub` (for "Sign out and revoke my API tokens"); returns how many. */
export async function revokeApiTokensOf(
  deps: Pick<AppDeps, 'grants' | 'idp' | 'logger'>,
  apiTokens: ApiTokenStore,
  sub: string,
): Promise<number> {
  let revoked = 0;
  for (const { token } of await apiTokens.listBySub(sub)) if (await revokeApiToken(deps, apiTokens, token)) revoked++;
  return revoked;
}

/** How many of `sub`'s API tokens still act as them (unexpired, their grant alive): what a sign-out leaves. */
export async function activeApiTokenCount(apiTokens: ApiTokenStore, sub: string): Promise<number> {
  return (await apiTokens.listBySub(sub)).filter(({ grant }) => grant !== undefined).length;
}
