import type { Request, Response } from 'express';
import type { AppDeps } from '../deps.ts';
import { Authorizations } from '../auth/authorization.ts';
import { AppError } from '../errors.ts';
import type { Grant, TokenSet } from '../grants/grant-store.ts';
import type { SignIn } from '../idp/idp-adapter.ts';
import type { ApiToken, ApiTokenStore } from '../grants/api-token-store.ts';
import type { TokenRequest } from './token-request.ts';
import { observed } from '../observability/observability.ts';

/** What waits in the login transaction while the browser is at the IdP for a token's grant. */
export interface PendingToken {
  request: TokenRequest;
  /** The signed-in user who asked: the IdP must answer for the same one. */
  sub: string;
  clientName?: string;
  /** For device sign-in: the device authorization this approves. */
  deviceId?: string;
}

/**
 * Makes API tokens, each with a grant of its own at the IdP: {@link start} sends the signed-in
 * browser through an authorization request for `GATEHOUSE_API_TOKEN_SCOPES` (silent while the
 * IdP session lives), and {@link issue}, at the callback, stores that grant and the token.
 */
export class ApiTokenIssuer {
  private readonly authorizations: Authorizations;

  constructor(
    private readonly deps: AppDeps,
    private readonly apiTokens: ApiTokenStore,
  ) {
    this.authorizations = new Authorizations(deps);
  }

  /**
   * Starts the token's authorization request; returns the IdP URL to redirect the browser to.
   * Refused before anything is asked of the IdP when this Gatehouse could not keep the token
   * across a restart (production on the memory store, not accepted by the operator).
   */
  start(req: Request, res: Response, kind: string, pending: PendingToken, returnTo: string): Promise<string> {
    const { apiTokens: settings } = this.deps.config;
    if (settings.refusedOnMemoryStore) return Promise.reject(memoryStoreRefusal());
    return this.authorizations.start(req, res, {
      returnTo,
      scope: settings.scopes,
      ...(settings.consentPrompt && settings.scopes.split(/\s+/).includes('offline_access')
        ? { prompt: 'consent' }
        : {}),
      purpose: { kind, data: pending },
    });
  }

  /**
   * Stores the new grant and its token. The browser must still be signed in as the user who
   * asked, and the IdP must have answered for that user; otherwise the new grant is revoked
   * at the IdP and nothing is stored.
   */
  async issue(
    req: Request,
    signIn: SignIn,
    pending: PendingToken,
  ): Promise<{ token: ApiToken; secret: string; grant: Grant }> {
    const { grants, idp, logger, config } = this.deps;
    const caller = req.credential === 'cookie' ? req.grant : undefined;
    if (!caller || caller.sub !== pending.sub || signIn.sub !== pending.sub) {
      if (signIn.tokens.refreshToken) await idp.revoke(signIn.tokens.refreshToken, 'refresh_token');
      if (!caller)
        throw new AppError(
          'unauthenticated',
          'Your session here ended meanwhile; sign in and ask for the token again. No token was created.',
        );
      throw new AppError(
        'account_mismatch',
        'The identity provider answered for another account than the one signed in here; no token was created.',
      );
    }
    const offline = grantsOffline(signIn.tokens, config.apiTokens.scopes);
    const grant = await grants.create({
      sub: signIn.sub,
      // An offline grant outlives the IdP session, so a logout of that session (by sid) must
      // not end it; a session-bound one ends with it.
      ...(signIn.sid && !offline ? { sid: signIn.sid } : {}),
      via: 'oidc',
      // The browser session's profile claims, where the token's own scopes asked for none.
      claims: { ...caller.claims, ...signIn.claims },
      // What the grant's refreshed id_tokens must repeat (OpenID Connect Core §12.2).
      originalIdToken: signIn.originalIdToken,
      tokens: signIn.tokens,
      maxLifetimeMs: pending.request.days * 86_400_000,
      purpose: 'api_token',
      ...(req.get('user-agent') ? { userAgent: req.get('user-agent')! } : {}),
    });
    const created = await this.apiTokens.create({
      name: pending.request.name,
      grant,
      upstreams: pending.request.upstreams,
      readOnly: pending.request.readOnly,
      offline,
      ...(pending.clientName ? { clientName: pending.clientName } : {}),
    });
    observed().apiToken('issued');
    logger.info('api token created', {
      sub: grant.sub,
      // Not `tokenId`: the log redacts every field named like a token. The record id is no secret.
      apiCredentialId: created.token.id,
      offline,
      device: pending.deviceId !== undefined,
    });
    return { ...created, grant };
  }
}

/** Why no API token is made on the memory store in production, with both ways out for the operator. */
export function memoryStoreRefusal(): AppError {
  return new AppError(
    'api_tokens_need_persistent_store',
    'This Gatehouse keeps its state in memory (GATEHOUSE_STORE=memory): a restart would end every session and API token without a word, so no API token is created. Its operator can set GATEHOUSE_STORE=redis, or GATEHOUSE_API_TOKENS_ON_MEMORY_STORE=accept to allow tokens a restart ends.',
  );
}

/**
 * Whether the IdP granted offline access: a refresh token, offline_access asked for, and the
 * granted scope either names it or names no OpenID scope at all (a resource-bound answer, as
 * oidc-provider gives with resource indicators; RFC 6749 §5.1: an omitted scope is the one asked for).
 */
export function grantsOffline(tokens: TokenSet, requestedScopes: string): boolean {
  if (!tokens.refreshToken || !requestedScopes.split(/\s+/).includes('offline_access')) return false;
  if (tokens.scope === undefined) return true;
  const granted = tokens.scope.split(/\s+/);
  return granted.includes('offline_access') || !granted.includes('openid');
}
