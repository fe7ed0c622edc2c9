import { rateLimitedCode } from '../errors.ts';
import type { FaultRenderer } from '../error-handler.ts';
import { buildFault } from './build-envelope.ts';
import { faultCodeFor } from './soap-errors.ts';

/**
 * The error handler's SOAP form: the caller's mistakes keep their message as faultstring;
 * failures on our side say only seed 002's "Unknown exception" (the log has the cause, the
 * X-Request-Id header the id to find it by). A rate-limit refusal is a `Server` fault that
 * says when to try again.
 */
export const renderFault: FaultRenderer = (error) => {
  const faultcode = faultCodeFor(error);
  const safe = faultcode !== 'Server' || error.code === rateLimitedCode;
  return buildFault(faultcode, safe ? error.message : 'Unknown exception');
};
