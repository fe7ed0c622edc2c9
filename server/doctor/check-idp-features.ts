import type { Config } from '../config.ts';
import type { Upstream } from '../upstream-registry.ts';
import type { CheckResult } from './check-result.ts';
import type { IdpMetadata } from './check-discovery.ts';

/**
 * What the IdP's discovery document offers that Gatehouse uses: refresh tokens
 * (`offline_access`), RP-initiated logout, back-channel logout, revocation, PKCE S256, and
 * introspection when an upstream's audience may have to be checked on an opaque token.
 */
export function checkIdpFeatures(config: Config, metadata: IdpMetadata, upstreams: readonly Upstream[]): CheckResult[] {
  const clientId = config.oidc.clientId;
  const listed = (member: string): string[] =>
    Array.isArray(metadata[member])
      ? (metadata[member] as unknown[]).filter((v): v is string => typeof v === 'string')
      : [];
  const has = (member: string): boolean => typeof metadata[member] === 'string' && metadata[member] !== '';
  const checks: CheckResult[] = [];

  const offline = listed('scopes_supported').includes('offline_access');
  checks.push(
    offline
      ? {
          id: 'offline_access',
          title: 'refresh tokens',
          status: 'ok',
          detail: 'offline_access is among scopes_supported',
        }
      : {
          id: 'offline_access',
          title: 'refresh tokens',
          status: 'warn',
          detail: 'offline_access is not among scopes_supported: API tokens may end with the IdP session',
          fix: `offer the offline_access scope (Keycloak: Clients → ${clientId} → Client scopes → add "offline_access" as Optional, and give users the "offline_access" realm role)`,
        },
  );

  checks.push(
    has('end_session_endpoint')
      ? {
          id: 'end_session',
          title: 'sign-out at the IdP',
          status: 'ok',
          detail: `end_session_endpoint ${String(metadata.end_session_endpoint)}`,
        }
      : {
          id: 'end_session',
          title: 'sign-out at the IdP',
          status: 'warn',
          detail:
            'no end_session_endpoint: signing out of Gatehouse leaves the IdP session open, so the next sign-in needs no password',
          fix: 'use an IdP with OpenID Connect RP-Initiated Logout, or tell users to sign out at the IdP too',
        },
  );

  const backchannelUri = `${config.publicUrl}/auth/backchannel-logout`;
  const backchannel = metadata.backchannel_logout_supported === true;
  const withSession = metadata.backchannel_logout_session_supported === true;
  checks.push(
    backchannel && withSession
      ? {
          id: 'backchannel_logout',
          title: 'back-channel logout',
          status: 'ok',
          detail: `supported, with sid; register ${backchannelUri} at the IdP (Keycloak: "Backchannel logout URL", with "Backchannel logout session required: On")`,
        }
      : {
          id: 'backchannel_logout',
          title: 'back-channel logout',
          status: 'warn',
          detail: backchannel
            ? "backchannel_logout_session_supported is not true: a logout at the IdP ends every Gatehouse session of the user, not only that IdP session's"
            : 'backchannel_logout_supported is not true: a sign-out elsewhere (or an admin ending the session at the IdP) does not end the Gatehouse session until its refresh fails',
          fix: `enable OpenID Connect Back-Channel Logout at the IdP and register ${backchannelUri} (Keycloak: Clients → ${clientId} → Settings → Logout settings → "Backchannel logout URL", "Backchannel logout session required: On")`,
        },
  );

  checks.push(
    has('revocation_endpoint')
      ? {
          id: 'revocation',
          title: 'token revocation',
          status: 'ok',
          detail: `revocation_endpoint ${String(metadata.revocation_endpoint)}`,
        }
      : {
          id: 'revocation',
          title: 'token revocation',
          status: 'warn',
          detail:
            'no revocation_endpoint: a sign-out or a deleted API token leaves its refresh token valid at the IdP until it expires',
          fix: 'use an IdP with OAuth 2.0 Token Revocation (RFC 7009)',
        },
  );

  const pkce = listed('code_challenge_methods_supported');
  checks.push(
    pkce.includes('S256')
      ? { id: 'pkce', title: 'PKCE S256', status: 'ok', detail: 'S256 is among code_challenge_methods_supported' }
      : {
          id: 'pkce',
          title: 'PKCE S256',
          status: 'warn',
          detail: pkce.length
            ? `code_challenge_methods_supported lists only ${pkce.join(', ')}; Gatehouse always sends S256`
            : 'the IdP does not advertise code_challenge_methods_supported; Gatehouse always sends S256, so sign-in fails if the IdP does not take it',
          fix: `let the IdP accept PKCE S256 (Keycloak: Clients → ${clientId} → Advanced → "Proof Key for Code Exchange Code Challenge Method: S256")`,
        },
  );

  const audienced = upstreams.filter((upstream) => upstream.audience !== undefined && upstream.token !== 'none');
  if (audienced.length) {
    const names = audienced.map((upstream) => upstream.name).join(', ');
    checks.push(
      has('introspection_endpoint')
        ? {
            id: 'introspection',
            title: 'token introspection',
            status: 'ok',
            detail: `introspection_endpoint available for the audience check of ${names} on opaque tokens`,
          }
        : {
            id: 'introspection',
            title: 'token introspection',
            status: 'warn',
            detail: `no introspection_endpoint: if the IdP issues opaque access tokens, calls to ${names} (which declare an audience) are refused as unverifiable; JWT access tokens (Keycloak's) need none`,
            fix: 'have the IdP issue JWT access tokens, or offer token introspection (RFC 7662) to this client',
          },
    );
  }
  return checks;
}
