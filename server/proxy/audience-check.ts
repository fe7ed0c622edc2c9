import { decodeJwt } from 'jose';
import { AppError } from '../errors.ts';
import type { Upstream } from './upstream-registry.ts';

/** Checks an access token against an upstream's audience; throws 403 `audience_mismatch`. */
export type AudienceCheck = (accessToken: string, upstream: Upstream) => void;

// The same token goes out many times until it is refreshed: decode it once.
const cachedTokens = 1000;

/**
 * Refuses to send a JWT access token whose `aud` lacks the upstream's declared audience: the
 * upstream would answer an opaque 401 (seed 004), and the token would reach a party it was not
 * issued for. Opaque tokens cannot be checked and pass. The 403 `audience_mismatch` says what
 * was expected, what the token carries, and how to fix the IdP configuration for `clientId`.
 */
export function audienceCheck(clientId: string): AudienceCheck {
  const audiences = new Map<string, readonly string[] | undefined>();
  return (accessToken, upstream) => {
    if (upstream.audience === undefined) return;
    let got = audiences.get(accessToken);
    if (!audiences.has(accessToken)) {
      got = tokenAudiences(accessToken);
      if (audiences.size >= cachedTokens) audiences.delete(audiences.keys().next().value!);
      audiences.set(accessToken, got);
    }
    if (got === undefined || got.includes(upstream.audience)) return;
    throw mismatch(upstream, got, clientId);
  };
}

/** The token's `aud` as a list; undefined for an opaque (non-JWT) token. */
function tokenAudiences(accessToken: string): readonly string[] | undefined {
  let aud: unknown;
  try {
    aud = decodeJwt(accessToken).aud;
  } catch {
    return undefined;
  }
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function mismatch(upstream: Upstream, got: readonly string[], clientId: string): AppError {
  return new AppError(403, 'audience_mismatch', `The access token is not meant for the ${upstream.name} API: its audience lacks "${upstream.audience}".`, {
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
