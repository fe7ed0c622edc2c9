import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Clock } from '../clock.ts';
import { type Logger, requestContext } from '../log.ts';

const safeRequestId = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives every request an id (the caller's `X-Request-Id` when it looks safe), answers it in
 * `X-Request-Id`, runs the rest of the request inside the log context, and writes one log
 * line when the response is done. The path is logged without its query string: callbacks
 * carry codes and states there.
 */
export function requestLogging(logger: Logger, clock: Clock): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && safeRequestId.test(incoming) ? incoming : randomUUID();
    req.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = clock();
    res.on('finish', () => {
      logger.info('request', {
        requestId,
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        durationMs: clock() - started,
      });
    });
    requestContext.run({ requestId }, next);
  };
}
