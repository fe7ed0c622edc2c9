import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { type CheckResult, elapsedMs, fetchFailure } from './check-result.ts';
import { fetchKeySet } from '../idp/fetch-key-set.ts';

/** The members of the IdP's discovery document doctor reads. */
export interface IdpMetadata {
  issuer?: unknown;
  jwks_uri?: unknown;
  scopes_supported?: unknown;
  end_session_endpoint?: unknown;
  backchannel_logout_supported?: unknown;
  backchannel_logout_session_supported?: unknown;
  revocation_endpoint?: unknown;
  introspection_endpoint?: unknown;
  code_challenge_methods_supported?: unknown;
  id_token_signing_alg_values_supported?: unknown;
  [member: string]: unknown;
}

/** Clock skew above this is worth a ⚠ even within the tolerance: it eats into token lifetimes. */
export const clockSkewWarnMs = 5000;

const keycloakIssuer = 'for Keycloak, https://<host>/realms/<realm>';

/**
 * Fetches the IdP's discovery document the way openid-client does (`<issuer>/.well-known/openid-configuration`)
 * and checks: it answers (and how fast), its `issuer` equals `GATEHOUSE_OIDC_ISSUER` exactly,
 * its endpoints are https in production, its JWKS loads and offers `GATEHOUSE_OIDC_ID_TOKEN_ALG`,
 * and the IdP's `Date` header is within {@link clockSkewWarnMs} (⚠) and `GATEHOUSE_CLOCK_TOLERANCE` (✗)
 * of the local clock. Returns the metadata when the document could be read.
 */
export async function checkDiscovery(
  config: Config,
  clock: Clock,
): Promise<{ metadata?: IdpMetadata; checks: CheckResult[] }> {
  const issuer = config.oidc.issuer!;
  const url = discoveryUrl(issuer);
  const timeout = config.oidc.timeoutMs;
  const checks: CheckResult[] = [];
  const startedAt = performance.now();
  const sentAt = clock();
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeout) });
  } catch (error) {
    checks.push({
      id: 'discovery',
      title: 'discovery',
      status: 'fail',
      detail: `${url} could not be fetched: ${fetchFailure(error)}`,
      fix: `check GATEHOUSE_OIDC_ISSUER (${keycloakIssuer}) and that this host can reach it`,
      ms: elapsedMs(startedAt),
    });
    return { checks };
  }
  const receivedAt = clock();
  let metadata: IdpMetadata | undefined;
  const body = await response.text().catch(() => '');
  const ms = elapsedMs(startedAt);
  if (response.ok) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) metadata = parsed as IdpMetadata;
    } catch {
      // reported below
    }
  }
  if (!metadata) {
    checks.push({
      id: 'discovery',
      title: 'discovery',
      status: 'fail',
      detail: response.ok
        ? `${url} answered, but not with a JSON discovery document`
        : `${url} answered HTTP ${response.status}`,
      fix: `check GATEHOUSE_OIDC_ISSUER (${keycloakIssuer}); the URL it names must serve /.well-known/openid-configuration`,
      ms,
    });
    checks.push(clockSkew(response.headers.get('date'), sentAt, receivedAt, config.oidc.clockToleranceMs));
    return { checks };
  }
  checks.push({ id: 'discovery', title: 'discovery', status: 'ok', detail: `${url} answered in ${ms} ms`, ms });
  checks.push(issuerMatch(issuer, metadata.issuer));
  checks.push(endpointSchemes(metadata, config.production));
  checks.push(...(await signingKeys(metadata, config.oidc.idTokenAlg, timeout)));
  checks.push(clockSkew(response.headers.get('date'), sentAt, receivedAt, config.oidc.clockToleranceMs));
  return { metadata, checks };
}

/** The discovery URL openid-client fetches for `issuer` (OpenID Connect Discovery §4, path appended). */
export function discoveryUrl(issuer: string): string {
  const url = new URL(issuer);
  url.pathname = `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;
  return url.href;
}

function issuerMatch(configured: string, said: unknown): CheckResult {
  const base = { id: 'issuer', title: 'issuer' };
  if (said === configured)
    return { ...base, status: 'ok', detail: `the IdP names itself "${configured}", as configured` };
  if (typeof said !== 'string') {
    return {
      ...base,
      status: 'fail',
      detail: 'the discovery document has no "issuer"',
      fix: 'point GATEHOUSE_OIDC_ISSUER at an OpenID Connect provider',
    };
  }
  // Compared exactly, as openid-client does (and must: the id_token's `iss` is compared the same way).
  const slashOnly = said.replace(/\/$/, '') === configured.replace(/\/$/, '');
  return {
    ...base,
    status: 'fail',
    detail: `the IdP names itself "${said}" but GATEHOUSE_OIDC_ISSUER is "${configured}"${slashOnly ? ' (they differ only by a trailing slash, and issuers are compared exactly)' : ''}`,
    fix: `set GATEHOUSE_OIDC_ISSUER=${said}`,
  };
}

const endpointMembers = [
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'userinfo_endpoint',
  'end_session_endpoint',
  'revocation_endpoint',
  'introspection_endpoint',
  'device_authorization_endpoint',
];

function endpointSchemes(metadata: IdpMetadata, production: boolean): CheckResult {
  const plain = endpointMembers.filter(
    (member) => typeof metadata[member] === 'string' && !(metadata[member] as string).startsWith('https:'),
  );
  // The title says what was found: a ✓ next to "over https" for http endpoints would mislead.
  const base = { id: 'idp_https', title: plain.length === 0 ? 'IdP endpoints over https' : 'IdP endpoints over http' };
  if (plain.length === 0) return { ...base, status: 'ok', detail: 'every endpoint is https' };
  if (!production) return { ...base, status: 'ok', detail: `allowed outside production: ${plain.join(', ')} use http` };
  return {
    ...base,
    status: 'fail',
    detail: `not https: ${plain.map((member) => `${member} ${String(metadata[member])}`).join(', ')}`,
    fix: 'serve the IdP over https and make it advertise https URLs (Keycloak behind a proxy: set its hostname to the https URL, KC_HOSTNAME, and KC_PROXY_HEADERS=xforwarded)',
  };
}

interface Jwk {
  kty?: unknown;
  alg?: unknown;
  use?: unknown;
  crv?: unknown;
}

async function signingKeys(metadata: IdpMetadata, alg: string, timeoutMs: number): Promise<CheckResult[]> {
  const base = { id: 'jwks', title: 'signing keys (JWKS)' };
  const jwksUri = metadata.jwks_uri;
  if (typeof jwksUri !== 'string')
    return [
      {
        ...base,
        status: 'fail',
        detail: 'the discovery document has no jwks_uri',
        fix: 'use an IdP that publishes its keys',
      },
    ];
  const startedAt = performance.now();
  let keys: Jwk[];
  try {
    const answer = await fetchKeySet(jwksUri, timeoutMs);
    if (!answer.ok) {
      return [
        {
          ...base,
          status: 'fail',
          detail: `${jwksUri} answered HTTP ${answer.status}`,
          fix: 'make the IdP serve its jwks_uri',
          ms: elapsedMs(startedAt),
        },
      ];
    }
    keys = answer.keys as Jwk[];
  } catch (error) {
    return [
      {
        ...base,
        status: 'fail',
        detail: `${jwksUri} could not be fetched: ${fetchFailure(error)}`,
        fix: 'make the IdP serve its jwks_uri to this host',
        ms: elapsedMs(startedAt),
      },
    ];
  }
  const ms = elapsedMs(startedAt);
  const fitting = keys.filter((key) => key.use !== 'enc' && offersAlgorithm(key, alg));
  const advertised = Array.isArray(metadata.id_token_signing_alg_values_supported)
    ? (metadata.id_token_signing_alg_values_supported as unknown[]).filter((a): a is string => typeof a === 'string')
    : undefined;
  const algFix = `set GATEHOUSE_OIDC_ID_TOKEN_ALG to the algorithm the IdP signs id_tokens with${advertised ? ` (it advertises ${advertised.join(', ')})` : ''}, or have the IdP sign with ${alg} (Keycloak: Clients → <client> → Advanced → Fine grain OpenID Connect configuration → "ID token signature algorithm", and an active ${alg} key in Realm settings → Keys)`;
  if (keys.length === 0)
    return [
      { ...base, status: 'fail', detail: `${jwksUri} holds no keys`, fix: 'give the IdP an active signing key', ms },
    ];
  if (fitting.length === 0) {
    return [
      {
        ...base,
        status: 'fail',
        detail: `${keys.length} key(s) at ${jwksUri}, none for ${alg} (GATEHOUSE_OIDC_ID_TOKEN_ALG): no id_token could be verified`,
        fix: algFix,
        ms,
      },
    ];
  }
  if (advertised && !advertised.includes(alg)) {
    return [
      {
        ...base,
        status: 'warn',
        detail: `a key fits ${alg}, but id_token_signing_alg_values_supported lists only ${advertised.join(', ')}`,
        fix: algFix,
        ms,
      },
    ];
  }
  return [
    { ...base, status: 'ok', detail: `${keys.length} key(s), ${fitting.length} for ${alg}; loaded in ${ms} ms`, ms },
  ];
}

/** Whether a JWK can verify `alg`: its own `alg` says so, or (without one) its key type and curve fit. */
function offersAlgorithm(key: Jwk, alg: string): boolean {
  if (typeof key.alg === 'string') return key.alg === alg || (alg === 'Ed25519' && key.alg === 'EdDSA');
  if (/^(RS|PS)/.test(alg)) return key.kty === 'RSA';
  const curves: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
  if (curves[alg]) return key.kty === 'EC' && key.crv === curves[alg];
  return key.kty === 'OKP' && key.crv === 'Ed25519';
}

/**
 * The IdP's clock against ours. `Date` has one-second resolution and the answer took time, so
 * the IdP's time lies in [date, date + 1 s) at some moment between sending and receiving: the
 * skew reported is the smallest one consistent with that (0 when our clock could be right).
 */
export function clockSkew(date: string | null, sentAt: number, receivedAt: number, toleranceMs: number): CheckResult {
  const base = { id: 'clock', title: 'clock skew' };
  const idpTime = date === null ? Number.NaN : Date.parse(date);
  if (Number.isNaN(idpTime)) {
    return {
      ...base,
      status: 'warn',
      detail: 'the IdP sent no Date header, so its clock could not be compared',
      fix: 'keep this host and the IdP on NTP',
    };
  }
  const ahead = idpTime - receivedAt; // the IdP is at least this far ahead
  const behind = sentAt - (idpTime + 1000); // or at least this far behind
  const skewMs = Math.max(0, ahead, behind);
  const direction = ahead > 0 ? 'ahead of' : 'behind';
  const seconds = (skewMs / 1000).toFixed(1);
  if (skewMs === 0)
    return {
      ...base,
      status: 'ok',
      detail: "the IdP's clock agrees with this host's (within the 1 s of its Date header)",
    };
  const detail = `the IdP's clock is ${seconds} s ${direction} this host's (GATEHOUSE_CLOCK_TOLERANCE is ${toleranceMs / 1000} s)`;
  const fix =
    'synchronise both clocks with NTP (e.g. chrony or systemd-timesyncd); raising GATEHOUSE_CLOCK_TOLERANCE only hides it';
  if (skewMs > toleranceMs) return { ...base, status: 'fail', detail: `${detail}: id_tokens will be refused`, fix };
  if (skewMs > clockSkewWarnMs) return { ...base, status: 'warn', detail, fix };
  return { ...base, status: 'ok', detail };
}
