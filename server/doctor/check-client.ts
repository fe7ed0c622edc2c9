import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { IdpAdapter } from '../idp/idp-adapter.ts';
import { type CheckResult, elapsedMs, fetchFailure } from './check-result.ts';

/** The part of the IdP adapter the client checks use. */
export type ClientProbe = Pick<IdpAdapter, 'probeClientCredentials' | 'authorizationRequest' | 'clientId'>;

/**
 * Gatehouse's client credentials, checked with a token request for a made-up authorization code:
 * `invalid_grant` means the client authenticated and only the code was refused (✓);
 * `invalid_client` or `unauthorized_client` means the id, secret or key is wrong (✗, naming the
 * variables). With a client secret, a second request with a random secret must be refused:
 * if it is not, the client is public at the IdP (seed 004), and anyone may redeem its codes
 * (`publicClientProbe: false` skips that second request).
 */
export async function checkClientCredentials(
  config: Config,
  idp: ClientProbe,
  options: { publicClientProbe?: boolean } = {},
): Promise<CheckResult> {
  const base = { id: 'client_credentials', title: 'client credentials' };
  const redirectUri = `${config.publicUrl}/auth/callback`;
  const startedAt = performance.now();
  let answer: Awaited<ReturnType<ClientProbe['probeClientCredentials']>>;
  try {
    answer = await idp.probeClientCredentials(redirectUri);
  } catch (error) {
    return {
      ...base,
      status: 'fail',
      detail: `not checked: ${unavailable(error)}`,
      fix: 'fix the discovery lines above first',
      ms: elapsedMs(startedAt),
    };
  }
  const said = describeAnswer(answer);
  if (answer.error === 'invalid_grant') {
    if (config.oidc.clientAuth !== 'private_key_jwt' && options.publicClientProbe !== false) {
      const impostor = await idp.probeClientCredentials(redirectUri, { madeUpSecret: true }).catch(() => undefined);
      if (impostor?.error === 'invalid_grant') {
        return {
          ...base,
          status: 'fail',
          detail: `a random client secret is accepted as well as GATEHOUSE_OIDC_CLIENT_SECRET: client "${idp.clientId}" is a public client at the IdP, so anyone may redeem its authorization codes`,
          fix: `make the client confidential (Keycloak: Clients → ${idp.clientId} → Settings → Capability config → "Client authentication: On"), then copy Credentials → "Client secret" into GATEHOUSE_OIDC_CLIENT_SECRET`,
          ms: elapsedMs(startedAt),
        };
      }
    }
    return {
      ...base,
      status: 'ok',
      detail: `client "${idp.clientId}" authenticated (${config.oidc.clientAuth}); the made-up code got invalid_grant, as it should`,
      ms: elapsedMs(startedAt),
    };
  }
  const ms = elapsedMs(startedAt);
  if (answer.error === 'invalid_client' || (answer.status === 401 && answer.error === undefined)) {
    return {
      ...base,
      status: 'fail',
      detail: `the IdP refused Gatehouse's client: ${said}`,
      fix: credentialsFix(config, idp.clientId),
      ms,
    };
  }
  if (answer.error === 'unauthorized_client') {
    return {
      ...base,
      status: 'fail',
      detail: `the IdP refused Gatehouse's client: ${said}`,
      fix: `allow client "${idp.clientId}" the authorization code grant (Keycloak: Clients → ${idp.clientId} → Settings → Capability config → "Standard flow: On"); if that is on, ${credentialsFix(config, idp.clientId)}`,
      ms,
    };
  }
  if (answer.accepted) {
    return {
      ...base,
      status: 'fail',
      detail: 'the IdP issued tokens for a made-up authorization code',
      fix: 'the IdP does not check authorization codes: do not use it',
      ms,
    };
  }
  return {
    ...base,
    status: 'warn',
    detail: `the made-up code got an unexpected answer (${said}), so the credentials could not be confirmed`,
    fix: credentialsFix(config, idp.clientId),
    ms,
  };
}

function credentialsFix(config: Config, clientId: string): string {
  if (config.oidc.clientAuth === 'private_key_jwt') {
    return `check GATEHOUSE_OIDC_CLIENT_ID, GATEHOUSE_OIDC_PRIVATE_KEY and GATEHOUSE_OIDC_PRIVATE_KEY_ID (Keycloak: Clients → ${clientId} → Credentials → "Client Authenticator: Signed Jwt", with the key's public half under Keys)`;
  }
  return `check GATEHOUSE_OIDC_CLIENT_ID and GATEHOUSE_OIDC_CLIENT_SECRET (Keycloak: Clients → ${clientId} → Settings → "Client authentication: On"; Credentials → "Client Authenticator: Client Id and Secret", and copy "Client secret"); GATEHOUSE_OIDC_CLIENT_AUTH is ${config.oidc.clientAuth}`;
}

function describeAnswer(answer: { status?: number; error?: string; errorDescription?: string }): string {
  const parts = [
    answer.status === undefined ? undefined : `HTTP ${answer.status}`,
    answer.error,
    answer.errorDescription,
  ];
  return parts.filter(Boolean).join(' ') || 'no answer';
}

function unavailable(error: unknown): string {
  if (error instanceof AppError && error.cause instanceof Error) return error.cause.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Each redirect URI Gatehouse sends to the IdP (`/auth/callback`, and with the external login
 * `/external/callback` and the SOAP RequestURLs), checked with a real authorization request:
 * the IdP's login page or a redirect is ✓; its "invalid redirect_uri" error page is ✗ naming
 * the URI to register. Redirects are not followed.
 */
export async function checkRedirectUris(config: Config, idp: ClientProbe): Promise<CheckResult[]> {
  const uris = [`${config.publicUrl}/auth/callback`, ...(config.soap.externalAuth ? config.soap.redirectUris : [])];
  const checks: CheckResult[] = [];
  for (const uri of new Set(uris)) checks.push(await checkRedirectUri(config, idp, uri));
  return checks;
}

async function checkRedirectUri(config: Config, idp: ClientProbe, redirectUri: string): Promise<CheckResult> {
  // Gatehouse's own callbacks by path (`redirect_uri:/auth/callback`), another host's RequestURL in full.
  const own = redirectUri.startsWith(`${config.publicUrl}/`);
  const base = {
    id: `redirect_uri:${own ? redirectUri.slice(config.publicUrl.length) : redirectUri}`,
    title: `redirect URI ${redirectUri}`,
  };
  const register = `register ${redirectUri} at the IdP (Keycloak: Clients → ${idp.clientId} → Settings → Access settings → "Valid redirect URIs"); GATEHOUSE_PUBLIC_URL must be the URL browsers use`;
  const startedAt = performance.now();
  let response: Response;
  let body: string;
  try {
    const request = await idp.authorizationRequest(redirectUri, config.oidc.scopes);
    response = await fetch(request.url, { redirect: 'manual', signal: AbortSignal.timeout(config.oidc.timeoutMs) });
    body = (await response.text()).slice(0, 64 * 1024);
  } catch (error) {
    const reason = error instanceof AppError ? unavailable(error) : fetchFailure(error);
    return {
      ...base,
      status: 'fail',
      detail: `not checked: ${reason}`,
      fix: 'fix the discovery lines above first',
      ms: elapsedMs(startedAt),
    };
  }
  const ms = elapsedMs(startedAt);
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    const target = new URL(location, response.url || redirectUri);
    const error = target.searchParams.get('error');
    if (`${target.origin}${target.pathname}` === redirectUri && error) {
      const description = target.searchParams.get('error_description');
      return {
        ...base,
        status: 'fail',
        detail: `the redirect URI is accepted, but the IdP refused the authorization request: ${error}${description ? ` (${description})` : ''}`,
        fix:
          error === 'unauthorized_client'
            ? `allow client "${idp.clientId}" the authorization code flow (Keycloak: Clients → ${idp.clientId} → Settings → Capability config → "Standard flow: On")`
            : error === 'invalid_scope'
              ? `ask only for scopes the client has (GATEHOUSE_OIDC_SCOPES is "${config.oidc.scopes}"; Keycloak: Clients → ${idp.clientId} → Client scopes)`
              : `see the IdP's log for ${error}`,
        ms,
      };
    }
    return {
      ...base,
      status: 'ok',
      detail: `accepted: the IdP redirects to ${target.origin}${target.pathname} (HTTP ${response.status})`,
      ms,
    };
  }
  if (redirectUriRefused.test(body)) {
    return {
      ...base,
      status: 'fail',
      detail: `the IdP refuses this redirect URI (HTTP ${response.status})`,
      fix: register,
      ms,
    };
  }
  if (clientUnknown.test(body)) {
    return {
      ...base,
      status: 'fail',
      detail: `the IdP does not know client "${idp.clientId}" (HTTP ${response.status})`,
      fix: `set GATEHOUSE_OIDC_CLIENT_ID to the client's id at the IdP (Keycloak: Clients → "Client ID")`,
      ms,
    };
  }
  if (response.ok)
    return { ...base, status: 'ok', detail: `accepted: the IdP shows its login page (HTTP ${response.status})`, ms };
  return {
    ...base,
    status: 'fail',
    detail: `the IdP refused the authorization request with HTTP ${response.status}`,
    fix: `${register}, and see the IdP's log`,
    ms,
  };
}

// oidc-provider: "redirect_uri did not match any of the client's registered redirect_uris";
// Keycloak: "Invalid parameter: redirect_uri"; others say invalid_redirect_uri.
const redirectUriRefused = /invalid[_ ]redirect[_ ]ur[il]|redirect_uri did not match|Invalid parameter: redirect_uri/i;
const clientUnknown = /client not found|invalid_client|unknown client/i;
