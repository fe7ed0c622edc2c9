import type { AppDeps } from '../deps.ts';
import { constantTimeEqual } from '../constant-time.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import { exchangeFailure } from '../idp/exchange-failure.ts';
import type { SignIn } from '../idp/idp-adapter.ts';
import { addressKey } from '../http/rate-limits.ts';
import { hashHandle } from '../random.ts';
import { type PendingEntry, PendingQuota } from '../store/pending-quota.ts';
import type { SoapField } from './build-envelope.ts';
import { guidPattern, randomGuid } from './guid.ts';
import { requiredParam, type SoapCall } from './read-call.ts';
import { soapClientError } from './soap-errors.ts';
import { observed } from '../observability/observability.ts';

/** What GetExternalLoginRedirectURL keeps for ExternalLogin, under the hash of the ContextID. */
interface LoginContext {
  state: string;
  nonce: string;
  codeVerifier: string;
  requestUrl: string;
  /** Where it is listed under its caller's address, to unlist it when ExternalLogin uses it. */
  pending?: PendingEntry;
}

/** Seed 002: "It's lifetime is about 15 minutes." */
export const contextTtlMs = 15 * 60 * 1000;

/**
 * Contexts one caller address may have pending; more ends the oldest. Per address, not per
 * browser: a SOAP caller has no cookie. Generous, because many browsers may share an address.
 */
export const maxPendingContextsPerAddress = 50;

/**
 * Contexts kept altogether; past it the addresses holding the most lose their oldest (about
 * 0.5 KB each with its index entry: some 5 MB at the bound).
 */
export const maxPendingContexts = 10_000;

/** Who made the call, for rate limits and bounds. */
export interface SoapCaller {
  /** The client address as `trust proxy` resolves it. */
  address: string;
}

/**
 * The LiveScore Session service (seed 002): server info, the external login in two calls
 * (redirect URL, then code for IdentityToken) and Logout. Each method takes a parsed call and
 * returns the response's fields in the seed's order; refusals are AppErrors (Client faults).
 */
export class SessionService {
  private readonly pending: PendingQuota;

  constructor(private readonly deps: AppDeps) {
    this.pending = new PendingQuota(deps.store, {
      kind: 'soapctx',
      perOwner: maxPendingContextsPerAddress,
      total: maxPendingContexts,
      ttlMs: contextTtlMs,
    });
  }

  /** Runs one call. */
  async call(call: SoapCall, caller: SoapCaller): Promise<SoapField[]> {
    switch (call.method) {
      case 'SessionServerInfo':
        return this.sessionServerInfo(call);
      case 'GetExternalLoginRedirectURL':
        return this.getExternalLoginRedirectURL(call, caller);
      case 'ExternalLogin':
        return this.externalLogin(call, caller);
      case 'Logout':
        return this.logout(call, caller);
    }
  }

  /** Whether external login is on and whether clients should skip their own login page. */
  sessionServerInfo(call: SoapCall): SoapField[] {
    const { soap } = this.deps.config;
    return [
      ['ExternalAuth', soap.externalAuth ? 'enabled' : 'disabled'],
      ['BypassLoginPage', soap.bypassLoginPage ? 'enabled' : 'disabled'],
      variables(call),
    ];
  }

  /**
   * Starts an external login: an authorization request (PKCE S256, state, nonce) whose
   * redirect_uri is the caller's RequestURL, remembered for 15 minutes under a new ContextID.
   */
  async getExternalLoginRedirectURL(call: SoapCall, caller: SoapCaller): Promise<SoapField[]> {
    const { config, idp, store, clock, limits } = this.deps;
    await limits.countStart('get_external_login_redirect_url', caller.address);
    this.requireExternalAuth();
    const requestUrl = requiredParam(call, 'RequestURL');
    if (!config.soap.redirectUris.includes(requestUrl)) {
      throw soapClientError('soap_request_url_refused', 'RequestURL is not a registered redirect URI.');
    }
    const request = await idp.authorizationRequest(requestUrl, config.oidc.scopes);
    const contextId = randomGuid();
    const key = contextKey(contextId);
    const now = clock();
    const pending = this.pending.entry(addressKey(caller.address), [key], now);
    const context: LoginContext = {
      state: request.state,
      nonce: request.nonce,
      codeVerifier: request.codeVerifier,
      requestUrl,
      pending,
    };
    await store.set(key, JSON.stringify(context), contextTtlMs);
    await this.pending.add(pending, now);
    return [['RedirectURL', base64(request.url)], ['ContextID', contextId], variables(call)];
  }

  /**
   * Finishes an external login: takes the context (so it works once, also when this call
   * fails), checks State, exchanges Code with the context's PKCE verifier and RequestURL,
   * and answers an IdentityToken that reaches the new grant until Logout.
   */
  async externalLogin(call: SoapCall, caller: SoapCaller): Promise<SoapField[]> {
    const { config, idp, store, grants, logger, limits } = this.deps;
    observed().signInAttempt('soap');
    this.requireExternalAuth();
    // Missing, malformed, unknown, expired or used: one fault, in the seed's words, so a client
    // written for that server handles every case the same way.
    const contextId = call.params.get('ContextID') ?? '';
    const raw = guidPattern.test(contextId) ? await store.take(contextKey(contextId)) : undefined;
    if (raw === undefined) {
      await limits.failedCredential(caller.address, 'context_id');
      throw soapClientError('soap_invalid_context', `Invalid context ID: ${contextId.slice(0, 64)}`.trimEnd());
    }
    const context = JSON.parse(raw) as LoginContext;
    if (context.pending) await this.pending.release(context.pending);
    const code = requiredParam(call, 'Code');
    const state = requiredParam(call, 'State');
    if (!constantTimeEqual(state, context.state)) {
      await limits.failedCredential(caller.address, 'state');
      throw soapClientError('soap_state_mismatch', 'State does not belong to this context.');
    }

    const callbackUrl = new URL(context.requestUrl);
    callbackUrl.searchParams.set('code', code);
    callbackUrl.searchParams.set('state', state);
    // openid-client demands RFC 9207's `iss` when the IdP advertises it, and ExternalLogin does
    // not carry it. `iss` defends against mix-up between several IdPs; Gatehouse has exactly one
    // configured issuer and the context was made for it, so there is nothing to mix up.
    if (idp.sendsIssInAuthorizationResponse) callbackUrl.searchParams.set('iss', idp.issuer);
    let signIn: SignIn;
    try {
      signIn = await idp.authorizationCodeGrant(callbackUrl, {
        codeVerifier: context.codeVerifier,
        state: context.state,
        nonce: context.nonce,
      });
    } catch (error) {
      throw exchangeFailure(error, (code, cause) =>
        soapClientError(code, 'The identity provider did not accept the code.', cause),
      );
    }

    const grant = await grants.create({
      ...signIn,
      via: 'external',
      maxLifetimeMs: config.session.maxMs,
      workspaceId: randomGuid(),
    });
    const identityToken = await grants.issueHandle(grant);
    logger.info('signed in', { sub: grant.sub, via: 'external', workspaceId: grant.workspaceId });
    return [
      ['IdentityToken', identityToken],
      ['SWS_WSID', grant.workspaceId!],
      ['SignOutURL', this.signOutUrl(signIn.tokens.idToken)],
      variables(call),
    ];
  }

  /** Ends the grant an IdentityToken reaches (every handle on it stops working) and answers SignOutURL. */
  async logout(call: SoapCall, caller: SoapCaller): Promise<SoapField[]> {
    const { grants, idp, logger, limits } = this.deps;
    const identityToken = requiredParam(call, 'IdentityToken');
    const grant = await grants.resolveHandle(identityToken);
    if (!grant) {
      await limits.failedCredential(caller.address, 'identity_token');
      throw soapClientError('soap_invalid_identity_token', 'Invalid or ended IdentityToken.');
    }
    await grants.dropHandle(identityToken);
    // The ended record's tokens: a refresh may have replaced them since the handle was resolved.
    const ended = await signOutGrant(grants, idp, grant.id);
    const tokens = grants.tokens(ended ?? grant);
    logger.info('signed out', { sub: grant.sub, via: 'external' });
    return [
      ['SignOutURL', this.signOutUrl(tokens.idToken)],
      // The IdentityToken is a credential: it is not echoed.
      variables(call, ['IdentityToken']),
    ];
  }

  private requireExternalAuth(): void {
    if (!this.deps.config.soap.externalAuth) {
      throw soapClientError('external_auth_disabled', 'External authentication is disabled on this server.');
    }
  }

  /** Base64 of the IdP's end-session URL (RP-initiated logout), or empty when the IdP has none. */
  private signOutUrl(idTokenHint: string | undefined): string {
    const url = this.deps.idp.endSessionUrl({
      ...(idTokenHint ? { idTokenHint } : {}),
      postLogoutRedirectUri: `${this.deps.config.publicUrl}/`,
    });
    return url ? base64(url) : '';
  }
}

/** Where a context lives: the ContextID itself is a bearer secret until used, so only its hash is a key. */
function contextKey(contextId: string): string {
  return `soapctx:${hashHandle(contextId.toUpperCase())}`;
}

/** Seed 002's `XMLDATA/Variables`: the call's parameters, echoed in order. */
function variables(call: SoapCall, omit: readonly string[] = []): SoapField {
  const echoed = [...call.params].filter(([name]) => !omit.includes(name));
  return ['XMLDATA', [['Variables', echoed]]];
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
