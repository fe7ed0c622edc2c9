import type { Request } from 'express';
import { AppError } from '../errors.ts';
import type { IdpAdapter } from '../idp/idp-adapter.ts';

/**
 * The IdP's refusal at a callback (`?error=`, RFC 6749 §4.1.2.1) as a 400 `idp_error`, or
 * undefined when there is none. Only `[a-z_]` of the IdP's code is shown, at most 40 characters:
 * the parameter comes through the browser and is not to be echoed as it is.
 *
 * When the IdP says it names itself in its responses (RFC 9207
 * `authorization_response_iss_parameter_supported`), an error response without its exact `iss`
 * is refused as 400 `idp_error_untrusted`, as a success would be: otherwise another IdP the
 * browser also uses (a mix-up) could end or steer this sign-in with an error of its choosing.
 * Either way the login transaction is used up (it was taken before this check).
 */
export function idpErrorAtCallback(
  req: Request,
  idp: Pick<IdpAdapter, 'issuer' | 'sendsIssInAuthorizationResponse'>,
): AppError | undefined {
  if (typeof req.query.error !== 'string') return undefined;
  if (idp.sendsIssInAuthorizationResponse && req.query.iss !== idp.issuer) {
    return new AppError(
      'idp_error_untrusted',
      'The sign-in response reports an error but does not come from the identity provider; start again.',
    );
  }
  const code = req.query.error.replace(/[^a-z_]/g, '').slice(0, 40);
  return new AppError('idp_error', `The identity provider refused the sign-in (${code}).`);
}
