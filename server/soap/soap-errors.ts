import type { ErrorCode } from '../error-codes.ts';
import { AppError, rateLimitedCode } from '../errors.ts';

/** AppError codes that are not plain Client faults; {@link faultCodeFor} maps them. */
export const versionMismatchCode = 'soap_version_mismatch';
export const mustUnderstandCode = 'soap_must_understand';

/**
 * A fault caused by the caller (faultcode `Client`). The message becomes the faultstring, so
 * it must be short and safe: no parser positions, no IdP internals.
 */
export function soapClientError(code: ErrorCode, message: string, cause?: unknown): AppError {
  return new AppError(code, message, { cause });
}

/** The envelope is not SOAP 1.1 (faultcode `VersionMismatch`). */
export function versionMismatch(namespace: string | undefined): AppError {
  return new AppError(versionMismatchCode, 'Only SOAP 1.1 envelopes are supported.', {
    details: { envelopeNamespace: namespace ?? null },
  });
}

/** A header entry demands understanding that this service does not have (faultcode `MustUnderstand`). */
export function mustUnderstand(entry: string): AppError {
  return new AppError(mustUnderstandCode, `Header entry ${entry} is not understood.`);
}

/** The faultcode for an error, as seed 002 writes them: unqualified `Client`, `Server`, …. */
export function faultCodeFor(error: AppError): 'Client' | 'Server' | 'VersionMismatch' | 'MustUnderstand' {
  if (error.code === versionMismatchCode) return 'VersionMismatch';
  if (error.code === mustUnderstandCode) return 'MustUnderstand';
  // SOAP 1.1 §4.4.1: `Server` is for a message that may succeed later, unchanged.
  if (error.code === rateLimitedCode) return 'Server';
  return error.status < 500 ? 'Client' : 'Server';
}
