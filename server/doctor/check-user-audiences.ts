import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import type { Grant } from '../grants/grant-store.ts';
import type { TokenRefresher } from '../grants/token-refresher.ts';
import { audienceCheck, type Introspector, tokenAudiences } from '../proxy/audience-check.ts';
import type { Upstream } from '../upstream-registry.ts';
import type { CheckResult } from './check-result.ts';

/** What {@link checkUserAudiences} needs. */
export interface UserAudienceOptions {
  upstreams: readonly Upstream[];
  tokens: Pick<TokenRefresher, 'userAccessToken'>;
  /** The IdP adapter: the client id names the Keycloak client, introspection reads opaque tokens. */
  idp: Introspector & { readonly clientId: string };
  clock: Clock;
}

/**
 * For each upstream that gets the user's token: does the signed-in user's access token (the one
 * `/api/<name>/` would send, fetched the same way, refreshed if due) carry the upstream's
 * `audience`? The same rule the proxy applies ({@link audienceCheck}), so ✓ here means the call
 * would not be refused for its audience; ✗ names the Keycloak Audience mapper to add. The
 * token's audiences are reported; the token itself never leaves this function.
 */
export async function checkUserAudiences(grant: Grant, options: UserAudienceOptions): Promise<CheckResult[]> {
  const clientId = options.idp.clientId;
  const check = audienceCheck(clientId, options.idp, options.clock);
  const checks: CheckResult[] = [];
  for (const upstream of options.upstreams.filter((u) => u.token === 'user')) {
    const base = { id: `audience:${upstream.name}`, title: `audience for ${upstream.name}` };
    const need = {
      ...(upstream.resource !== undefined ? { resource: upstream.resource } : {}),
      ...(upstream.scope !== undefined ? { scope: upstream.scope } : {}),
    };
    let accessToken: string;
    try {
      accessToken = await options.tokens.userAccessToken(grant, need);
    } catch (error) {
      const reason =
        error instanceof AppError && error.expose
          ? `${error.code}: ${error.message}`
          : 'the token could not be fetched';
      checks.push({
        ...base,
        status: 'fail',
        detail: `no access token for this upstream (${reason})`,
        fix: 'sign in again; if it persists, run npm run doctor',
      });
      continue;
    }
    const carried = tokenAudiences(accessToken);
    const carriedText =
      carried === undefined
        ? 'an opaque token'
        : `aud ${carried.length ? carried.map((a) => `"${a}"`).join(', ') : '(none)'}`;
    if (upstream.audience === undefined) {
      checks.push({
        ...base,
        status: 'warn',
        detail: `upstream "${upstream.name}" declares no audience, so nothing is checked; your token carries ${carriedText}`,
        fix: `declare "audience" for upstream "${upstream.name}" in GATEHOUSE_APIS`,
      });
      continue;
    }
    try {
      await check(accessToken, upstream);
      checks.push({ ...base, status: 'ok', detail: `your token carries "${upstream.audience}" (${carriedText})` });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const got = Array.isArray(error.details.got) ? (error.details.got as string[]) : carried;
      checks.push({
        ...base,
        status: error.code === 'audience_unverifiable' ? 'warn' : 'fail',
        detail:
          error.code === 'audience_mismatch'
            ? `your token lacks "${upstream.audience}" (it carries ${got?.length ? got.map((a) => `"${a}"`).join(', ') : 'no audience'}): /api/${upstream.name}/ refuses it with 403 audience_mismatch`
            : error.message,
        fix: audienceFix(upstream, clientId),
      });
    }
  }
  return checks;
}

/** The Keycloak Audience mapper that puts `upstream.audience` into the client's access tokens. */
export function audienceFix(upstream: Upstream, clientId: string): string {
  const audience = upstream.audience!;
  if (upstream.resource !== undefined)
    return `make the IdP's tokens for resource "${upstream.resource}" carry audience "${audience}"`;
  return `add an Audience mapper in Keycloak: Clients → ${clientId} → Client scopes → ${clientId}-dedicated → Add mapper → By configuration → Audience, with Included Client Audience = ${audience} and "Add to access token: On"; then sign in again`;
}
