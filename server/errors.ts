import { type ErrorCode, errorStatus } from './error-codes.ts';

/** Options for {@link AppError}. */
export interface AppErrorOptions {
  /** The underlying failure; logged, never shown to the caller. */
  cause?: unknown;
  /** Extra JSON members for API callers (e.g. `loginUrl`, `hint`). Must hold no secrets. */
  details?: Record<string, unknown>;
  /** Show the message to the caller even for a 5xx (default: only below 500). */
  expose?: boolean;
  /** Seconds after which trying again may work; the error handler sends it as `Retry-After`. */
  retryAfterSeconds?: number;
}

/**
 * The one error type routes throw. `code` is a stable string callers can switch on (one of
 * {@link errorStatus}), `status` the HTTP status the table gives that code, `message` a safe
 * sentence for people. The error handler renders it as HTML, JSON or a SOAP Fault; only errors
 * below 500 show their message.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;
  /** True when the message may be shown to the caller. */
  readonly expose: boolean;
  /** Sent as `Retry-After` when set. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    const status = errorStatus[code];
    this.status = status;
    this.code = code;
    this.details = options.details ?? {};
    this.expose = options.expose ?? status < 500;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** 401 for API callers that are not signed in. */
export function unauthenticated(loginUrl = '/auth/login'): AppError {
  return new AppError('unauthenticated', 'Sign in first.', { details: { loginUrl } });
}

/** 413 for a body over `maxBytes`: a declared length before it is read, or a stream once it passes the limit. */
export function payloadTooLarge(maxBytes: number): AppError {
  return new AppError('payload_too_large', `The request body is larger than ${maxBytes} bytes.`, {
    details: { maxBytes },
  });
}

/** 401 when the IdP says the refresh token is gone: the grant has ended. */
export function sessionExpired(loginUrl = '/auth/login'): AppError {
  return new AppError('session_expired', 'Your session has ended at the identity provider; sign in again.', {
    details: { loginUrl },
  });
}

/** 503 when the IdP cannot be reached or answers with a server error. */
export function idpUnavailable(cause?: unknown): AppError {
  return new AppError('idp_unavailable', 'The identity provider is unreachable; try again shortly.', {
    cause,
    expose: true,
  });
}

/** 503 when the store cannot be reached. */
export function storeUnavailable(cause?: unknown): AppError {
  return new AppError('store_unavailable', 'Session storage is unreachable; try again shortly.', {
    cause,
    expose: true,
  });
}

/** The code of {@link rateLimited}; the SOAP fault renderer makes it a `Server` fault. */
export const rateLimitedCode = 'rate_limited' satisfies ErrorCode;

/** 429 when a caller went over a rate limit; `Retry-After` says when the window ends. */
export function rateLimited(retryAfterSeconds: number): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new AppError(rateLimitedCode, `Too many requests; try again in ${seconds} seconds.`, {
    details: { retryAfter: seconds },
    retryAfterSeconds: seconds,
  });
}
