import type { Request } from 'express';
import { AppError } from '../errors.ts';

/**
 * The IdP's refusal at a callback (`?error=`, RFC 6749 §4.1.2.1) as a 400 `idp_error`, or
 * undefined when there is none. Only `[a-z_]` of the IdP's code is shown, at most 40 characters:
 * the parameter comes through the browser and is not to be echoed as it is.
 */
export function idpErrorAtCallback(req: Request): AppError | undefined {
  if (typeof req.query.error !== 'string') return undefined;
  const code = req.query.error.replace(/[^a-z_]/g, '').slice(0, 40);
  return new AppError('idp_error', `The identity provider refused the sign-in (${code}).`);
}
