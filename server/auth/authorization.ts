import type { Request, Response } from 'express';
import type { AppDeps } from '../deps.ts';
import type { ErrorCode } from '../error-codes.ts';
import { AppError } from '../errors.ts';
import { cookieNames, cookieOptions, readCookie, readCookiesStartingWith } from '../http/cookies.ts';
import { exchangeFailure } from '../idp/exchange-failure.ts';
import type { SignIn } from '../idp/idp-adapter.ts';
import { hashHandle } from '../random.ts';
import { idpErrorAtCallback } from './callback-errors.ts';
import { TransactionSeal } from './transaction-seal.ts';

export { cookieNames } from '../http/cookies.ts';

/**
 * What the callback does with a completed authorization besides the browser sign-in: the
 * feature (`kind`) that started it and the data it needs then. Sealed with the transaction, never in the URL.
 */
export interface AuthorizationPurpose {
  kind: string;
  data: unknown;
}

/**
 * An authorization request in progress. It travels sealed in a cookie of its own (one per
 * `state`), so an anonymous sign-in start keeps nothing on the server.
 */
export interface LoginTransaction {
  state: string;
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  /** When the transaction ends (the injected clock): the cookie's Max-Age is only the browser's word. */
  expiresAt: number;
  /** Absent for a browser sign-in. */
  purpose?: AuthorizationPurpose;
}

/** What {@link Authorizations.start} sends to the IdP, and what the callback does afterwards. */
export interface AuthorizationOptions {
  returnTo: string;
  scope: string;
  /** OIDC `prompt`, e.g. `consent` where the IdP grants offline_access only with it. */
  prompt?: string;
  purpose?: AuthorizationPurpose;
}

const transactionTtlMs = 10 * 60 * 1000;

/** Sign-ins one browser may have pending at once (tabs, retries); starting more ends the oldest. */
export const maxPendingLoginsPerBrowser = 5;

/**
 * Longest `returnTo` carried in a transaction; a longer one returns to `/`. With five
 * transactions pending, the Cookie header then stays well below Node's 16 KiB header limit.
 */
const maxReturnToLength = 1000;

/**
 * Authorization-code requests through the browser and their completion at `/auth/callback`:
 * the transaction (PKCE verifier, nonce, state) sealed in a cookie, and the code exchange.
 * Browser sign-in and API-token creation both use it, each with its own scope.
 */
export class Authorizations {
  readonly redirectUri: string;
  private readonly seal: TransactionSeal;

  constructor(private readonly deps: Pick<AppDeps, 'config' | 'store' | 'idp' | 'clock'>) {
    this.redirectUri = `${deps.config.publicUrl}/auth/callback`;
    this.seal = new TransactionSeal(deps.config.session.secrets);
  }

  /**
   * Seals the transaction into a cookie named after its `state` (tabs do not overwrite each
   * other's), ends this browser's oldest beyond {@link maxPendingLoginsPerBrowser}, and
   * returns the IdP URL to redirect to. Nothing is written to the store.
   */
  async start(req: Request, res: Response, options: AuthorizationOptions): Promise<string> {
    const { config, idp, clock } = this.deps;
    const request = await idp.authorizationRequest(
      this.redirectUri,
      options.scope,
      options.prompt ? { prompt: options.prompt } : {},
    );
    const now = clock();
    const transaction: LoginTransaction = {
      state: request.state,
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo: options.returnTo.length > maxReturnToLength ? '/' : options.returnTo,
      expiresAt: now + transactionTtlMs,
      ...(options.purpose ? { purpose: options.purpose } : {}),
    };
    // This browser's other transactions: the expired, the unreadable and the oldest beyond the
    // bound are ended, so a browser carries at most a few.
    const others = this.pendingIn(req);
    const live = others
      .filter((other) => other.transaction !== undefined && other.transaction.expiresAt > now)
      .sort((a, b) => a.transaction!.expiresAt - b.transaction!.expiresAt);
    const kept = new Set(
      live.slice(Math.max(0, live.length - (maxPendingLoginsPerBrowser - 1))).map((other) => other.name),
    );
    for (const other of others) if (!kept.has(other.name)) this.clear(res, other.name);
    const name = this.cookieName(request.state);
    res.cookie(name, this.seal.seal(JSON.stringify(transaction), name), {
      ...cookieOptions(config.secureCookies),
      maxAge: transactionTtlMs,
    });
    return request.url;
  }

  /**
   * Checks the callback (this browser holds an unexpired transaction for its state, no IdP
   * error) and exchanges the code. The transaction's cookie is cleared first, so a state works
   * once, also when this fails; a second completion of one state (a replayed callback carrying
   * a copied cookie) is refused after the exchange, on any instance.
   */
  async complete(req: Request, res: Response): Promise<{ signIn: SignIn; transaction: LoginTransaction }> {
    const { store, idp, clock } = this.deps;
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    if (!state) throw callbackError('missing_state', 'The sign-in response has no state.');
    const name = this.cookieName(state);
    const sealed = readCookie(req, name);
    if (sealed !== undefined) this.clear(res, name);
    const transaction = sealed === undefined ? undefined : this.open(sealed, name);
    const now = clock();
    if (!transaction || transaction.state !== state || transaction.expiresAt <= now) {
      throw callbackError(
        'unknown_state',
        'This sign-in link was already used, has expired, or was started in another browser.',
      );
    }
    const refused = idpErrorAtCallback(req, idp);
    if (refused) throw refused;

    const callbackUrl = new URL(this.redirectUri);
    callbackUrl.search = new URL(req.originalUrl, 'http://placeholder').search;
    let signIn: SignIn;
    try {
      signIn = await idp.authorizationCodeGrant(callbackUrl, transaction);
    } catch (error) {
      throw exchangeFailure(error, (code, cause) => callbackError(code, 'The sign-in could not be completed.', cause));
    }
    // Written only after the IdP answered for a user, so anonymous callers still store nothing.
    // The IdP should refuse a second use of a code already (RFC 6749 §4.1.2); this holds even if it does not.
    if (!(await store.setIfAbsent(`txdone:${hashHandle(state)}`, '1', Math.max(1, transaction.expiresAt - now)))) {
      if (signIn.tokens.refreshToken) await idp.revoke(signIn.tokens.refreshToken, 'refresh_token');
      throw callbackError('unknown_state', 'This sign-in link was already used.');
    }
    return { signIn, transaction };
  }

  /** The cookie that carries the transaction of `state`: named by a hash, so the state itself never leaks into a name. */
  private cookieName(state: string): string {
    return `${cookieNames(this.deps.config.secureCookies).login}-${hashHandle(state).slice(0, 22)}`;
  }

  private pendingIn(req: Request): Array<{ name: string; transaction: LoginTransaction | undefined }> {
    const prefix = `${cookieNames(this.deps.config.secureCookies).login}-`;
    return readCookiesStartingWith(req, prefix).map(([name, value]) => ({ name, transaction: this.open(value, name) }));
  }

  private open(sealed: string, name: string): LoginTransaction | undefined {
    const opened = this.seal.open(sealed, name);
    return opened === undefined ? undefined : (JSON.parse(opened) as LoginTransaction);
  }

  private clear(res: Response, name: string): void {
    res.clearCookie(name, cookieOptions(this.deps.config.secureCookies));
  }
}

function callbackError(code: ErrorCode, message: string, cause?: unknown): AppError {
  return new AppError(code, message, { cause });
}
