import type { FaultRenderer } from '../error-handler.ts';
import { buildFault } from './build-envelope.ts';
import { faultCodeFor } from './soap-errors.ts';

/**
 * The error handler's SOAP form: the caller's mistakes keep their message as faultstring;
 * failures on our side say only seed 002's "Unknown exception" (the log has the cause, the
 * X-Request-Id header the id to find it by).
 */
export const renderFault: FaultRenderer = (error) => {
  const faultcode = faultCodeFor(error);
  return buildFault(faultcode, faultcode === 'Server' ? 'Unknown exception' : error.message);
};
