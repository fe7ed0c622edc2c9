import type { ErrorCode } from '../error-codes.ts';
import { AppError } from '../errors.ts';

/**
 * The rule for a failed code (or token) exchange: the IdP or the store being away (5xx) stays
 * what it is, so the caller may try again; anything else is the caller's failure, made by
 * `refuse` from the IdP adapter's code (`token_exchange_failed` when the error is not ours).
 */
export function exchangeFailure(error: unknown, refuse: (code: ErrorCode, cause: unknown) => AppError): AppError {
  if (error instanceof AppError && error.status >= 500) return error;
  return refuse(error instanceof AppError ? error.code : 'token_exchange_failed', error);
}
