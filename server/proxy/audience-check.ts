import { decodeJwt } from 'jose';
import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import { hashHandle } from '../random.ts';
import type { TokenIntrospection } from '../idp/idp-adapter.ts';
import type { Upstream } from '../upstream-registry.ts';
import { setBounded } from '../bounded-map.ts';

/** Checks an access token against an upstream's audience; rejects with 403 `audience_mismatch`. */
export type AudienceCheck = (accessToken: string, upstream: Upstream) => Promise<void>;

/** What the check needs of the IdP adapter for opaque tokens. */
export interface Introspector {
  readonly introspectionSupported: boolean;
  introspectToken(token: string): Promise<TokenIntrospection>;
}

// The same token goes out many times until it is refreshed: decode (or introspect) it once.
const cachedTokens = 1000;
// An introspection answer without `exp` is trusted this long: the token may be revoked meanwhile.
const introspectionWithoutExpMs = 60_000;

/**
 * Refuses to send an access token whose audience lacks the upstream's declared one: the
 * upstream would answer an opaque 401 (seed 004), and the token would reach a party it was not
 * issued for. A JWT's `aud` is read from the token. An opaque token's audience is asked of the
 * IdP by introspection (RFC 7662), the answer kept in memory, keyed by a hash of the token,
 * until the token expires (1000 tokens at most); an IdP without introspection makes the token
 * unverifiable (502 `audience_unverifiable`, naming the fix) rather than trusted. The 403
 * `audience_mismatch` says what was expected, what the token carries, and how to fix the IdP
 * configuration for `clientId`.
 */
export function audienceCheck(clientId: string, introspector: Introspector, clock: Clock): AudienceCheck {
  const audiences = new Map<string, readonly string[] | undefined>();
  const introspected = new Map<string, { aud: readonly string[]; until: number }>();

  async function opaqueTokenAudiences(accessToken: string, upstream: Upstream): Promise<readonly string[]> {
    const key = hashHandle(accessToken);
    const cached = introspected.get(key);
    if (cached && cached.until > clock()) return cached.aud;
    introspected.delete(key);
    if (!introspector.introspectionSupported) throw unverifiable(upstream);
    const answer = await introspector.introspectToken(accessToken);
    if (!answer.active) {
      throw new AppError(
        'token_inactive',
        'The identity provider says the access token is no longer active; sign in again.',
        {
          details: { upstream: upstream.name, loginUrl: '/auth/login' },
        },
      );
    }
    const until = answer.exp !== undefined ? answer.exp * 1000 : clock() + introspectionWithoutExpMs;
    setBounded(introspected, key, { aud: answer.aud, until }, cachedTokens);
    return answer.aud;
  }

  return async (accessToken, upstream) => {
    if (upstream.audience === undefined) return;
    let got = audiences.get(accessToken);
    if (!audiences.has(accessToken)) {
      got = tokenAudiences(accessToken);
      setBounded(audiences, accessToken, got, cachedTokens);
    }
    got ??= await opaqueTokenAudiences(accessToken, upstream);
    if (got.includes(upstream.audience)) return;
    throw mismatch(upstream, got, clientId);
  };
}

/** The token's `aud` as a list; undefined for an opaque (non-JWT) token. */
export function tokenAudiences(accessToken: string): readonly string[] | undefined {
  let aud: unknown;
  try {
    aud = decodeJwt(accessToken).aud;
  } catch {
    return undefined;
  }
  return typeof aud === 'string'
    ? [aud]
    : Array.isArray(aud)
      ? aud.filter((a): a is string => typeof a === 'string')
      : [];
}

function unverifiable(upstream: Upstream): AppError {
  return new AppError(
    'audience_unverifiable',
    `The access token for the ${upstream.name} API is opaque and the identity provider offers no token introspection, so its audience "${upstream.audience}" cannot be checked.`,
    {
      expose: true,
      details: {
        upstream: upstream.name,
        expected: upstream.audience,
        hint: `Configure the identity provider to issue JWT access tokens for audience '${upstream.audience}', or enable token introspection (RFC 7662) for this client.`,
      },
    },
  );
}

function mismatch(upstream: Upstream, got: readonly string[], clientId: string): AppError {
  return new AppError(
    'audience_mismatch',
    `The access token is not meant for the ${upstream.name} API: its audience lacks "${upstream.audience}".`,
    {
      details: { upstream: upstream.name, expected: upstream.audience, got, hint: audienceHint(upstream, clientId) },
    },
  );
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
