import { createPrivateKey } from 'node:crypto';
import { decodeJwt, importPKCS8 } from 'jose';
import * as client from 'openid-client';
import { type Clock, systemClock } from '../clock.ts';
import type { ErrorCode } from '../error-codes.ts';
import { AppError, idpUnavailable } from '../errors.ts';
import type { TokenSet } from './token-set.ts';
import type { Logger } from '../log.ts';
import type { IdpEndpoint, Observability } from '../observability/observability.ts';
import {
  checkIdToken,
  type IdTokenRefusal,
  idTokenFailure,
  keySelectionFailed,
  type OriginalIdToken,
  originalIdToken,
} from './check-id-token.ts';
import { mergeUserInfo, type UserInfoMode, wantsUserInfo } from './userinfo-claims.ts';
import { fetchKeySet } from './fetch-key-set.ts';

/** What the adapter needs to know about the IdP and our client registration there. */
export interface IdpSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  clientAuth: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  privateKey?: string;
  privateKeyId?: string;
  /** How long to wait for the IdP. */
  timeoutMs: number;
  /** The one JWS algorithm id_tokens may be signed with (our registered id_token_signed_response_alg). */
  idTokenAlg: string;
  /** Milliseconds of clock difference with the IdP tolerated on token timestamps. */
  clockToleranceMs: number;
  /** When to read claims from UserInfo (GATEHOUSE_OIDC_USERINFO); default `never`. */
  userInfo?: UserInfoMode;
  /** The scopes asked for at sign-in: what was granted when the token response does not say. */
  scopes?: string;
  /** Only for http issuers in development. */
  allowHttp: boolean;
  /** First retry delay of discovery; doubles up to 30 s. */
  retryBaseMs?: number;
  /** Times and traces every HTTP call to the IdP, when on. */
  observability?: Observability;
}

/** An authorization request ready to send the browser to, with the secrets to keep server-side. */
export interface AuthorizationRequest {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** What token introspection (RFC 7662) says about a token: the members Gatehouse uses. */
export interface TokenIntrospection {
  active: boolean;
  /** The token's audiences; empty when the IdP did not say. */
  aud: string[];
  /** Expiry in seconds since the epoch, when the IdP said. */
  exp?: number;
}

/** What the token endpoint answered a probe ({@link IdpAdapter.probeClientCredentials}): never a token. */
export interface TokenEndpointAnswer {
  /** True when the IdP issued tokens (it should not: the code was made up). */
  accepted: boolean;
  status?: number;
  /** The OAuth `error` code, when the IdP sent one. */
  error?: string;
  errorDescription?: string;
}

/** What a successful code exchange yields. */
export interface SignIn {
  tokens: TokenSet;
  claims: Record<string, unknown>;
  sub: string;
  sid?: string;
  /** What every refreshed id_token of this sign-in must repeat. */
  originalIdToken: OriginalIdToken;
}

/** What a refresh must match: the grant's sign-in, when the grant remembers it. */
export interface RefreshExpectations {
  originalIdToken?: OriginalIdToken;
  sub: string;
}

/**
 * The only module that talks OAuth to the IdP (and the only importer of openid-client).
 * Discovery runs in the background with backoff, so Gatehouse starts while the IdP is down;
 * every openid-client failure leaves here as an {@link AppError} from {@link translateIdpError}.
 */
export class IdpAdapter {
  private configuration: client.Configuration | undefined;
  private lastError: string | undefined = 'discovery has not run yet';
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly settings: IdpSettings,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Starts discovery; resolves after the first attempt, whether or not it succeeded. */
  async start(): Promise<void> {
    await this.discover(this.settings.retryBaseMs ?? 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  get issuer(): string {
    return this.settings.issuer;
  }

  get clientId(): string {
    return this.settings.clientId;
  }

  /** Builds an authorization-code request with PKCE S256, state and nonce (and `prompt` when given). */
  async authorizationRequest(
    redirectUri: string,
    scope: string,
    extra: { prompt?: string } = {},
  ): Promise<AuthorizationRequest> {
    const config = this.config();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      response_type: 'code',
      scope,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...(extra.prompt ? { prompt: extra.prompt } : {}),
    });
    return { url: url.href, state, nonce, codeVerifier };
  }

  /**
   * Exchanges the code from `callbackUrl` (whose origin and path are the redirect URI) and
   * validates the id_token: signature in the pinned algorithm, issuer, audience, expiry and
   * nonce (openid-client), then Gatehouse's own rules ({@link checkIdToken}). A refused
   * id_token is logged with its reason and leaves as a 400 `id_token_refused`.
   */
  async authorizationCodeGrant(
    callbackUrl: URL,
    checks: { codeVerifier: string; state: string; nonce: string },
  ): Promise<SignIn> {
    const config = this.config();
    try {
      const response = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const claims = response.claims();
      if (!claims) throw new AppError('id_token_missing', 'The identity provider sent no id_token.');
      const refusal = checkIdToken(claims, wallClockSeconds(), this.idTokenRules);
      if (refusal) throw this.refuseIdToken(refusal, 'sign-in');
      const tokens = toTokenSet(response, this.clock());
      const userinfo = await this.readUserInfo(tokens, claims.sub, 'sign-in');
      return {
        tokens,
        claims: userinfo ? mergeUserInfo({ ...claims }, userinfo) : { ...claims },
        sub: claims.sub,
        ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
        originalIdToken: originalIdToken(claims),
      };
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (keySelectionFailed(error)) throw this.keyNotSelected('sign-in', error);
      const refusal = idTokenFailure(error, 'sign-in');
      if (refusal) throw this.refuseIdToken(refusal, 'sign-in', error);
      throw translateIdpError(error, 'token_exchange_failed');
    }
  }

  /**
   * Uses a refresh token. With `resource`, asks for a token for that resource (RFC 8707).
   * The answer keeps the old refresh token when the IdP does not rotate it.
   *
   * A new id_token in the answer must pass every sign-in rule and repeat the grant's sign-in
   * (OpenID Connect Core §12.2: same `iss` and `sub`, `aud` with this client, the original
   * `nonce` and `auth_time` when present); otherwise the whole answer is thrown away and a 401
   * `id_token_refused` leaves here. Refusals of the refresh token: see {@link refreshRefusal}.
   */
  async refreshTokenGrant(
    current: TokenSet,
    options: { resource?: string; scope?: string } = {},
    expected?: RefreshExpectations,
  ): Promise<TokenSet & { refreshToken: string }> {
    if (!current.refreshToken) throw new AppError('invalid_grant', 'There is no refresh token.');
    const config = this.config();
    const parameters: Record<string, string> = {};
    if (options.resource) parameters.resource = options.resource;
    if (options.scope) parameters.scope = options.scope;
    try {
      const response = await client.refreshTokenGrant(config, current.refreshToken, parameters);
      const claims = response.claims();
      if (claims) {
        const original =
          expected?.originalIdToken ?? (expected ? { iss: this.settings.issuer, sub: expected.sub } : undefined);
        const refusal = checkIdToken(claims, wallClockSeconds(), this.idTokenRules, original);
        if (refusal) throw this.refuseIdToken(refusal, 'refresh');
      }
      const next = toTokenSet(response, this.clock());
      const idToken = next.idToken ?? current.idToken;
      return {
        ...next,
        refreshToken: next.refreshToken ?? current.refreshToken,
        ...(idToken === undefined ? {} : { idToken }),
      };
    } catch (error) {
      if (error instanceof AppError) throw error;
      // The IdP's keys out of step with openid-client's copy: retry later, keep the grant.
      if (keySelectionFailed(error)) throw this.keyNotSelected('refresh', error);
      const refusal = idTokenFailure(error, 'refresh');
      if (refusal) throw this.refuseIdToken(refusal, 'refresh', error);
      throw this.refreshRefusal(error);
    }
  }

  /**
   * The user's claims after a refresh, for the grant: the new id_token's (when `tokens`
   * brought one) merged with UserInfo's (when GATEHOUSE_OIDC_USERINFO says so). Called on a
   * refresh that happens anyway, so claims stay current without a request of their own. A
   * UserInfo `sub` other than the grant's is a 401 `id_token_refused`.
   */
  async refreshedClaims(
    tokens: TokenSet,
    sub: string,
    newIdToken: boolean,
  ): Promise<Record<string, unknown> | undefined> {
    // Verified by refreshTokenGrant a moment ago.
    const fromIdToken = newIdToken && tokens.idToken ? { ...decodeJwt(tokens.idToken) } : undefined;
    const userinfo = await this.readUserInfo(tokens, sub, 'refresh');
    if (!userinfo) return fromIdToken;
    return mergeUserInfo(fromIdToken ?? {}, userinfo);
  }

  /** A token for Gatehouse itself (client-credentials grant). */
  async clientCredentialsGrant(options: { resource?: string; scope?: string } = {}): Promise<TokenSet> {
    const config = this.config();
    const parameters: Record<string, string> = {};
    if (options.resource) parameters.resource = options.resource;
    if (options.scope) parameters.scope = options.scope;
    try {
      return toTokenSet(await client.clientCredentialsGrant(config, parameters), this.clock());
    } catch (error) {
      throw translateIdpError(error, 'client_credentials_failed');
    }
  }

  /**
   * For `npm run doctor`: sends the token endpoint an authorization code that no one was issued,
   * authenticated as Gatehouse (or, with `madeUpSecret`, with a random client secret instead of
   * the configured one), and reports what the IdP said. `invalid_grant` means the client
   * authentication passed and only the code was refused; `invalid_client` means it did not. The
   * IdP being away is thrown as a 503 `idp_unavailable`.
   */
  async probeClientCredentials(
    redirectUri: string,
    options: { madeUpSecret?: boolean } = {},
  ): Promise<TokenEndpointAnswer> {
    let config = this.config();
    if (options.madeUpSecret) {
      const secret = client.randomState();
      config = new client.Configuration(
        config.serverMetadata(),
        this.settings.clientId,
        { id_token_signed_response_alg: this.settings.idTokenAlg },
        this.settings.clientAuth === 'client_secret_post'
          ? client.ClientSecretPost(secret)
          : client.ClientSecretBasic(secret),
      );
      config.timeout = inSeconds(this.settings.timeoutMs);
      if (this.settings.allowHttp) client.allowInsecureRequests(config);
    }
    try {
      await client.genericGrantRequest(config, 'authorization_code', {
        // Unguessable, so no real code is ever redeemed by this probe.
        code: `gatehouse-doctor-${client.randomState()}`,
        redirect_uri: redirectUri,
        code_verifier: client.randomPKCECodeVerifier(),
      });
      return { accepted: true };
    } catch (error) {
      if (error instanceof client.ResponseBodyError) {
        return {
          accepted: false,
          status: error.status,
          error: error.error,
          ...(error.error_description ? { errorDescription: error.error_description } : {}),
        };
      }
      if (error instanceof client.WWWAuthenticateChallengeError) {
        const parameters = error.cause[0]?.parameters;
        return {
          accepted: false,
          status: error.status,
          ...(parameters?.error ? { error: parameters.error } : {}),
          ...(parameters?.error_description ? { errorDescription: parameters.error_description } : {}),
        };
      }
      const translated = translateIdpError(error, 'token_exchange_failed');
      if (translated.code === 'idp_unavailable') throw translated;
      const response = error instanceof client.ClientError ? error.cause : undefined;
      return { accepted: false, ...(response instanceof Response ? { status: response.status } : {}) };
    }
  }

  /** Revokes a token where the IdP supports it; failures are logged, never thrown. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    const config = this.configuration;
    if (!config?.serverMetadata().revocation_endpoint) return;
    try {
      await client.tokenRevocation(config, token, { token_type_hint: hint });
    } catch (error) {
      this.logger.warn('token revocation failed', { error: translateIdpError(error, 'revocation_failed') });
    }
  }

  /** Whether the IdP offers token introspection (RFC 7662): an `introspection_endpoint` in its discovery. */
  get introspectionSupported(): boolean {
    return typeof this.configuration?.serverMetadata().introspection_endpoint === 'string';
  }

  /** Asks the IdP whether an access token is active, and for whom it is (RFC 7662). */
  async introspectToken(token: string): Promise<TokenIntrospection> {
    const config = this.config();
    try {
      const response = await client.tokenIntrospection(config, token, { token_type_hint: 'access_token' });
      const aud = response.aud;
      return {
        active: response.active === true,
        aud:
          typeof aud === 'string'
            ? [aud]
            : Array.isArray(aud)
              ? aud.filter((a): a is string => typeof a === 'string')
              : [],
        ...(typeof response.exp === 'number' ? { exp: response.exp } : {}),
      };
    } catch (error) {
      throw translateIdpError(error, 'introspection_failed');
    }
  }

  /** The RP-initiated logout URL, or undefined when the IdP has no end_session_endpoint. */
  endSessionUrl(parameters: {
    idTokenHint?: string | undefined;
    postLogoutRedirectUri: string;
    state?: string;
  }): string | undefined {
    const config = this.configuration;
    if (!config?.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(config, {
      post_logout_redirect_uri: parameters.postLogoutRedirectUri,
      client_id: this.settings.clientId,
      ...(parameters.idTokenHint ? { id_token_hint: parameters.idTokenHint } : {}),
      ...(parameters.state ? { state: parameters.state } : {}),
    }).href;
  }

  /** Whether the IdP names itself in authorization responses (RFC 9207 `iss` parameter). */
  get sendsIssInAuthorizationResponse(): boolean {
    return this.config().serverMetadata().authorization_response_iss_parameter_supported === true;
  }

  /** The discovered metadata value, for the modules that verify IdP-signed JWTs with jose. */
  get jwksUri(): string | undefined {
    return this.configuration?.serverMetadata().jwks_uri;
  }

  /**
   * Why the IdP cannot serve sign-ins now, for `/readyz`; undefined when it can. Besides
   * discovery, the IdP must serve its key set (`jwks_uri`): without it no id_token or
   * logout_token can be checked. That fetch runs at most once per {@link readinessIntervalMs}
   * (concurrent probes share one), so probes never hammer the IdP; its answer is kept between.
   */
  async readinessProblem(): Promise<string | undefined> {
    if (!this.configuration) return 'identity provider not discovered yet';
    const jwksUri = this.jwksUri;
    if (!jwksUri) return 'identity provider metadata has no jwks_uri';
    const now = this.clock();
    if (this.readiness && now - this.readiness.checkedAt < readinessIntervalMs) return this.readiness.problem;
    this.readinessCheck ??= checkKeySet(jwksUri)
      .then((problem) => {
        if (problem !== this.readiness?.problem) {
          if (problem)
            this.logger.warn('identity provider not ready', { issuer: this.settings.issuer, reason: problem });
          else if (this.readiness) this.logger.info('identity provider ready again', { issuer: this.settings.issuer });
        }
        this.readiness = { checkedAt: now, problem };
        return problem;
      })
      .finally(() => {
        this.readinessCheck = undefined;
      });
    return this.readinessCheck;
  }

  private readiness: { checkedAt: number; problem: string | undefined } | undefined;
  private readinessCheck: Promise<string | undefined> | undefined;

  /**
   * UserInfo's claims for a fresh access token, or undefined when it is not called or fails
   * in a way that must not block a sign-in (the IdP is slow or away, or refuses the token:
   * logged, and the id_token's claims are used). A `sub` other than the id_token's, or a
   * signed response that fails verification, refuses the sign-in like a bad id_token.
   */
  private async readUserInfo(
    tokens: TokenSet,
    sub: string,
    entry: 'sign-in' | 'refresh',
  ): Promise<Record<string, unknown> | undefined> {
    const config = this.config();
    const hasEndpoint = config.serverMetadata().userinfo_endpoint !== undefined;
    if (!wantsUserInfo(this.settings.userInfo ?? 'never', hasEndpoint, tokens.scope ?? this.settings.scopes ?? ''))
      return undefined;
    try {
      return { ...(await client.fetchUserInfo(config, tokens.accessToken, sub)) };
    } catch (error) {
      if (messageInChain(error, /"sub" property value/))
        throw this.refuseIdToken('userinfo_sub_mismatch', entry, error);
      const status =
        error instanceof client.WWWAuthenticateChallengeError
          ? error.status
          : error instanceof client.ClientError && error.cause instanceof Response
            ? error.cause.status
            : undefined;
      const issuer = this.settings.issuer;
      if (messageInChain(error, /JWE decryption is not configured/)) {
        this.logger.warn(
          "UserInfo is encrypted, which Gatehouse does not decrypt: turn off UserInfo encryption for the client at the IdP (userinfo_encrypted_response_alg); signed in with the id_token's claims",
          {
            event: 'userinfo_refused',
            reason: 'userinfo_encrypted',
            entry,
            issuer,
          },
        );
        return undefined;
      }
      if (status === 401 || status === 403) {
        this.logger.warn(
          "UserInfo refused Gatehouse's access token: a configuration problem. Check that the client is granted the openid scope and that its access tokens are accepted at UserInfo (an audience-bound token may not be), or set GATEHOUSE_OIDC_USERINFO=never; signed in with the id_token's claims",
          {
            event: 'userinfo_refused',
            reason: `HTTP ${status}`,
            entry,
            issuer,
          },
        );
        return undefined;
      }
      const jwtFailure = status === undefined ? idTokenFailure(error, 'sign-in') : undefined;
      if (jwtFailure && entry === 'sign-in')
        throw this.refuseIdToken(userInfoRefusals[jwtFailure] ?? 'userinfo_invalid', entry, error);
      const unavailable = translateIdpError(error, 'userinfo_failed');
      this.logger.warn("UserInfo could not be read; signed in with the id_token's claims", {
        event: 'userinfo_unavailable',
        reason: status !== undefined ? `HTTP ${status}` : unavailable.code,
        entry,
        issuer,
        error: error instanceof Error ? error : String(error),
      });
      return undefined;
    }
  }

  private get idTokenRules() {
    return { clientId: this.settings.clientId, clockToleranceSeconds: inSeconds(this.settings.clockToleranceMs) };
  }

  /** Logs one line for a refused id_token (never the token) and returns the error to throw. */
  /** No JWKS key could be picked for an id_token: a 503 to retry, logged for the operator. */
  private keyNotSelected(entry: 'sign-in' | 'refresh', cause: unknown): AppError {
    this.logger.warn("no key of the identity provider's JWKS matches its id_token; retry later", {
      event: 'id_token_key_not_found',
      entry,
      issuer: this.settings.issuer,
      ...(cause instanceof Error ? { error: cause } : {}),
    });
    return idpUnavailable(cause);
  }

  private refuseIdToken(reason: IdTokenRefusal, entry: 'sign-in' | 'refresh', cause?: unknown): AppError {
    this.logger.warn('id_token refused', {
      event: 'id_token_refused',
      reason,
      entry,
      issuer: this.settings.issuer,
      ...(cause instanceof Error ? { error: cause } : {}),
    });
    return entry === 'refresh'
      ? new AppError('id_token_refused', 'The identity provider sent an id_token for another sign-in.', {
          details: { reason },
        })
      : new AppError('id_token_refused', 'The identity provider sent an id_token Gatehouse does not accept.', {
          details: { reason },
        });
  }

  /**
   * What a failed refresh means. `invalid_client` and `unauthorized_client` (and a bare 401,
   * how some IdPs say the first) are Gatehouse's own registration being wrong: a 503 that ends
   * no session. `invalid_target` and `invalid_scope` refuse the token asked for, not the grant.
   * Any other 4xx, with a readable OAuth error or not (Glewlwyd answers a revoked refresh token
   * with a bare 400), means the refresh token is dead: it becomes `invalid_grant`. 408 and 429
   * are the IdP being busy, and 5xx or no answer the IdP being away: 503 `idp_unavailable`.
   */
  private refreshRefusal(error: unknown): AppError {
    const status =
      error instanceof client.ResponseBodyError
        ? error.status
        : error instanceof client.ClientError && error.cause instanceof Response
          ? error.cause.status
          : undefined;
    if (status === undefined || status < 400 || status >= 500) return translateIdpError(error, 'refresh_failed');
    if (status === 408 || status === 429) return idpUnavailable(error);
    const oauthError = error instanceof client.ResponseBodyError ? error.error : undefined;
    if (
      oauthError === 'invalid_client' ||
      oauthError === 'unauthorized_client' ||
      (status === 401 && oauthError === undefined)
    ) {
      const reason = oauthError ?? 'HTTP 401 without an OAuth error';
      this.logger.error(
        "the identity provider refused Gatehouse's client at its token endpoint: check GATEHOUSE_OIDC_CLIENT_ID, the client credentials and that the client may use refresh tokens",
        {
          event: 'idp_client_refused',
          reason,
          issuer: this.settings.issuer,
        },
      );
      return new AppError(
        'idp_client_refused',
        "The identity provider refused Gatehouse's client registration; an operator must fix the configuration.",
        {
          cause: error,
          expose: true,
        },
      );
    }
    if (oauthError === 'invalid_target' || oauthError === 'invalid_scope')
      return translateIdpError(error, 'refresh_failed');
    return new AppError('invalid_grant', 'The identity provider no longer accepts this grant.', {
      cause: error,
      details: { idpError: oauthError ?? `HTTP ${status}` },
    });
  }

  private config(): client.Configuration {
    if (!this.configuration) throw idpUnavailable(new Error(this.lastError));
    return this.configuration;
  }

  private async discover(delayMs: number): Promise<void> {
    if (this.stopped) return;
    try {
      const config = await client.discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        {
          // Pinned: openid-client then refuses id_tokens in any other algorithm.
          id_token_signed_response_alg: this.settings.idTokenAlg,
          [client.clockTolerance]: inSeconds(this.settings.clockToleranceMs),
        },
        await this.clientAuthentication(),
        {
          timeout: inSeconds(this.settings.timeoutMs),
          ...(this.settings.allowHttp ? { execute: [client.allowInsecureRequests] } : {}),
          ...(this.settings.observability?.enabled ? { [client.customFetch]: this.observedFetch } : {}),
        },
      );
      config.timeout = inSeconds(this.settings.timeoutMs);
      // openid-client skips id_token signature checks for token-endpoint responses by default.
      client.enableNonRepudiationChecks(config);
      this.configuration = config;
      this.lastError = undefined;
      this.logger.info('identity provider discovered', { issuer: this.settings.issuer });
    } catch (error) {
      this.lastError = `discovery of ${this.settings.issuer} failed: ${error instanceof Error ? error.message : String(error)}`;
      this.logger.warn('identity provider discovery failed; retrying', {
        issuer: this.settings.issuer,
        retryInMs: delayMs,
        error,
      });
      if (this.stopped) return;
      this.retryTimer = setTimeout(() => void this.discover(Math.min(delayMs * 2, 30_000)), delayMs);
      this.retryTimer.unref();
    }
  }

  /** openid-client's fetch, every call timed and traced by the IdP endpoint it goes to (kept by the configuration). */
  private readonly observedFetch: client.CustomFetch = (url, options) =>
    this.settings.observability!.idpCall(this.endpointOf(url), () => fetch(url, options as RequestInit));

  private endpointOf(url: string): IdpEndpoint {
    const metadata = this.configuration?.serverMetadata();
    if (!metadata) return 'discovery';
    const target = url.split('?')[0];
    if (target === metadata.token_endpoint) return 'token';
    if (target === metadata.jwks_uri) return 'jwks';
    if (target === metadata.userinfo_endpoint) return 'userinfo';
    if (target === metadata.revocation_endpoint) return 'revocation';
    if (target === metadata.introspection_endpoint) return 'introspection';
    return 'other';
  }

  private async clientAuthentication(): Promise<client.ClientAuth> {
    const { clientAuth, clientSecret, privateKey, privateKeyId } = this.settings;
    if (clientAuth === 'client_secret_post') return client.ClientSecretPost(clientSecret);
    if (clientAuth === 'client_secret_basic') return client.ClientSecretBasic(clientSecret);
    const key = await importPKCS8(privateKey!, signingAlgorithm(privateKey!));
    return client.PrivateKeyJwt(privateKeyId ? { key, kid: privateKeyId } : key);
  }
}

/** How often `/readyz` asks the IdP again (readiness probes come every few seconds). */
export const readinessIntervalMs = 30_000;
// As for the store's ping in /readyz: a probe must answer before the orchestrator gives up.
const readinessTimeoutMs = 2000;

/** Fetches the IdP's key set; says what is wrong with it, or undefined when it holds keys. */
async function checkKeySet(jwksUri: string): Promise<string | undefined> {
  const what = 'identity provider unreachable: its key set (jwks_uri)';
  try {
    const answer = await fetchKeySet(jwksUri, readinessTimeoutMs);
    if (!answer.ok) return `${what} answered HTTP ${answer.status}`;
    return answer.keys.length > 0 ? undefined : `${what} holds no keys`;
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError')
      return `${what} did not answer within ${readinessTimeoutMs / 1000} s`;
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    return `${what} could not be fetched${typeof code === 'string' ? ` (${code})` : ''}`;
  }
}

// A signed UserInfo response fails the checks an id_token would.
const userInfoRefusals: Partial<Record<IdTokenRefusal, IdTokenRefusal>> = {
  id_token_alg_not_allowed: 'userinfo_alg_not_allowed',
  id_token_signature: 'userinfo_signature',
  id_token_iss_mismatch: 'userinfo_iss_mismatch',
  id_token_aud_mismatch: 'userinfo_aud_mismatch',
};

function messageInChain(error: unknown, pattern: RegExp): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (pattern.test(current.message)) return true;
  }
  return false;
}

// Token timestamps are the IdP's wall clock, judged against ours, as openid-client judges `exp`.
function wallClockSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function signingAlgorithm(pem: string): string {
  const key = createPrivateKey(pem);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
    }
    default:
      throw new Error(`unsupported private key type ${key.asymmetricKeyType}`);
  }
}

// `now` is the injected clock, so token expiry moves with it in tests.
function toTokenSet(
  response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  now: number,
): TokenSet {
  const expiresIn = response.expiresIn();
  // Keycloak states the refresh token's life (its SSO idle time) next to the standard members.
  const refreshExpiresIn = Number((response as Record<string, unknown>).refresh_expires_in);
  return {
    accessToken: response.access_token,
    ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
    ...(response.id_token ? { idToken: response.id_token } : {}),
    ...(expiresIn !== undefined ? { expiresAt: now + expiresIn * 1000 } : {}),
    ...(refreshExpiresIn > 0 ? { refreshExpiresAt: now + refreshExpiresIn * 1000 } : {}),
    ...(response.scope ? { scope: response.scope } : {}),
  };
}

/**
 * Maps an openid-client failure to our errors: the IdP being away (network, timeout, 5xx) is
 * a 503 `idp_unavailable`; `invalid_grant` keeps its name so callers can end the grant;
 * anything else the IdP refused becomes `fallback` (400). The cause is kept for the log only.
 */
export function translateIdpError(error: unknown, fallback: ErrorCode): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500) return idpUnavailable(error);
    if (error.error === 'invalid_grant') {
      return new AppError('invalid_grant', 'The identity provider no longer accepts this grant.', { cause: error });
    }
    return new AppError(fallback, `The identity provider refused the request (${error.error}).`, { cause: error });
  }
  if (error instanceof client.AuthorizationResponseError) {
    return new AppError('idp_error', `The identity provider answered with an error (${error.error}).`, {
      cause: error,
    });
  }
  if (error instanceof client.ClientError) {
    if (error.code === 'OAUTH_TIMEOUT' || error.code === 'OAUTH_ABORT') return idpUnavailable(error);
    const response = error.cause;
    if (response instanceof Response && response.status >= 500) return idpUnavailable(error);
    return new AppError(fallback, 'The identity provider response failed validation.', { cause: error });
  }
  if (error instanceof TypeError && !(error as { code?: string }).code?.startsWith('ERR_INVALID_ARG')) {
    return idpUnavailable(error); // fetch's network failures are TypeErrors
  }
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return idpUnavailable(error);
  }
  return new AppError(fallback, 'The identity provider request failed.', { cause: error });
}

/** openid-client's options and JWT timestamps count seconds: the one place settings are converted for them. */
function inSeconds(ms: number): number {
  return ms / 1000;
}
