import type { Request, Response } from 'express';
import type { AppDeps } from '../deps.ts';
import type { ErrorCode } from '../error-codes.ts';
import { AppError } from '../errors.ts';
import { cookieNames, cookieOptions, readCookie } from '../http/cookies.ts';
import { exchangeFailure } from '../idp/exchange-failure.ts';
import type { SignIn } from '../idp/idp-adapter.ts';
import { hashHandle, randomHandle } from '../random.ts';
import { boundPending } from '../store/bound-pending.ts';
import { idpErrorAtCallback } from './callback-errors.ts';

export { cookieNames } from '../http/cookies.ts';

/**
 * What the callback does with a completed authorization besides the browser sign-in: the
 * feature (`kind`) that started it and the data it needs then. Kept server-side, never in the URL.
 */
export interface AuthorizationPurpose {
  kind: string;
  data: unknown;
}

/** An authorization request in progress, kept server-side under the hash of its `state`. */
export interface LoginTransaction {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  /** SHA-256 of the browser-binding cookie: the callback must come from the same browser. */
  browser: string;
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
export const maxPendingLoginsPerBrowser = 10;

/**
 * Authorization-code requests through the browser and their completion at `/auth/callback`:
 * the transaction (PKCE verifier, nonce, state, browser binding) and the code exchange.
 * Browser sign-in and API-token creation both use it, each with its own scope.
 */
export class Authorizations {
  readonly redirectUri: string;

  constructor(private readonly deps: Pick<AppDeps, 'config' | 'store' | 'idp' | 'clock'>) {
    this.redirectUri = `${deps.config.publicUrl}/auth/callback`;
  }

  /** Stores the transaction, sets the browser-binding cookie and returns the IdP URL to redirect to. */
  async start(req: Request, res: Response, options: AuthorizationOptions): Promise<string> {
    const { config, store, idp, clock } = this.deps;
    const names = cookieNames(config.secureCookies);
    const request = await idp.authorizationRequest(
      this.redirectUri,
      options.scope,
      options.prompt ? { prompt: options.prompt } : {},
    );
    // One binding cookie per browser, shared by its tabs, so several sign-ins can run at once.
    const existing = readCookie(req, names.login);
    const browser = typeof existing === 'string' && /^[\w-]{43}$/.test(existing) ? existing : randomHandle();
    const transaction: LoginTransaction = {
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo: options.returnTo,
      browser: hashHandle(browser),
      ...(options.purpose ? { purpose: options.purpose } : {}),
    };
    const key = `tx:${hashHandle(request.state)}`;
    await store.set(key, JSON.stringify(transaction), transactionTtlMs);
    await boundPending(store, `txb:${transaction.browser}`, key, {
      max: maxPendingLoginsPerBrowser,
      ttlMs: transactionTtlMs,
      now: clock(),
    });
    res.cookie(names.login, browser, { ...cookieOptions(config.secureCookies), maxAge: transactionTtlMs });
    return request.url;
  }

  /**
   * Checks the callback (state known and unused, same browser, no IdP error) and exchanges the
   * code. The transaction is taken first, so a state works once, also when this fails.
   */
  async complete(req: Request): Promise<{ signIn: SignIn; transaction: LoginTransaction }> {
    const { config, store, idp } = this.deps;
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    if (!state) throw callbackError('missing_state', 'The sign-in response has no state.');
    const raw = await store.take(`tx:${hashHandle(state)}`);
    if (raw === undefined) throw callbackError('unknown_state', 'This sign-in link was already used or has expired.');
    const transaction = JSON.parse(raw) as LoginTransaction;
    const browser = readCookie(req, cookieNames(config.secureCookies).login);
    if (typeof browser !== 'string' || hashHandle(browser) !== transaction.browser) {
      throw callbackError('browser_mismatch', 'This sign-in was started in another browser.');
    }
    const refused = idpErrorAtCallback(req, idp);
    if (refused) throw refused;

    const callbackUrl = new URL(this.redirectUri);
    callbackUrl.search = new URL(req.originalUrl, 'http://placeholder').search;
    try {
      const signIn = await idp.authorizationCodeGrant(callbackUrl, { ...transaction, state });
      return { signIn, transaction };
    } catch (error) {
      throw exchangeFailure(error, (code, cause) => callbackError(code, 'The sign-in could not be completed.', cause));
    }
  }
}

function callbackError(code: ErrorCode, message: string, cause?: unknown): AppError {
  return new AppError(code, message, { cause });
}
