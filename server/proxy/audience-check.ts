import { decodeJwt } from 'jose';
import { AppError } from '../errors.ts';
import type { Upstream } from './upstream-registry.ts';

/**
 * Refuses to send a JWT access token whose `aud` lacks the upstream's declared audience: the
 * upstream would answer an opaque 401 (seed 004), and the token would reach a party it was not
 * issued for. Opaque tokens cannot be checked and pass. Throws 403 `audience_mismatch` with
 * what was expected, what the token carries, and how to fix the IdP configuration.
 */
export function checkAudience(accessToken: string, upstream: Upstream, clientId: string): void {
  if (upstream.audience === undefined) return;
  let aud: unknown;
  try {
    aud = decodeJwt(accessToken).aud;
  } catch {
    return;
  }
  const got = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  if (got.includes(upstream.audience)) return;
  throw new AppError(403, 'audience_mismatch', `The access token is not meant for the ${upstream.name} API: its audience lacks "${upstream.audience}".`, {
    details: { upstream: upstream.name, expected: upstream.audience, got, hint: audienceHint(upstream, clientId) },
  });
}

function audienceHint(upstream: Upstream, clientId: string): string {
  const audience = upstream.audience!;
  if (upstream.token === 'client') {
    return `Give client '${clientId}' a token audience '${audience}' for its client-credentials grant (Keycloak: add an Audience mapper for '${audience}' to client '${clientId}', in Clients → ${clientId} → Client scopes → ${clientId}-dedicated).`;
  }
  if (upstream.resource !== undefined) {
    return `The identity provider issued the token for resource '${upstream.resource}' without audience '${audience}': make that resource's tokens carry '${audience}' at the IdP.`;
  }
  return `Add an Audience mapper for '${audience}' to client '${clientId}' in Keycloak (Clients → ${clientId} → Client scopes → ${clientId}-dedicated → Add mapper → By configuration → Audience), then sign in again; or, with an IdP that supports resource indicators (RFC 8707), set "resource" on upstream '${upstream.name}'.`;
}
