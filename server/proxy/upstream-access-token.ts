import type { Grant } from '../grants/grant-store.ts';
import type { TokenRefresher } from '../grants/token-refresher.ts';
import type { Upstream } from '../upstream-registry.ts';
import type { AudienceCheck } from './audience-check.ts';

/** The access token a call to `upstream` carries for `grant` (none for `token: 'none'`); `rejected` is one the upstream refused. */
export type UpstreamAccessToken = (upstream: Upstream, grant: Grant, rejected?: string) => Promise<string | undefined>;

/**
 * The token an upstream needs, fresh and with its audience checked: the user's for
 * `token: 'user'`, Gatehouse's own client-credentials token otherwise. The one rule for `/api`
 * calls and WebSocket handshakes alike.
 */
export function upstreamAccessToken(tokens: TokenRefresher, checkAudience: AudienceCheck): UpstreamAccessToken {
  return async (upstream, grant, rejected) => {
    if (upstream.token === 'none') return undefined;
    const need = {
      ...(upstream.resource !== undefined ? { resource: upstream.resource } : {}),
      ...(upstream.scope !== undefined ? { scope: upstream.scope } : {}),
    };
    const accessToken =
      upstream.token === 'user'
        ? await tokens.userAccessToken(grant, need, rejected)
        : await tokens.clientAccessToken(need, rejected);
    await checkAudience(accessToken, upstream);
    return accessToken;
  };
}
