import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Clock } from '../clock.ts';
import { type Logger, requestContext } from '../log.ts';
import { noObservability, type Observability } from '../observability/observability.ts';

const safeRequestId = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives every request an id (the caller's `X-Request-Id` when it looks safe), answers it in
 * `X-Request-Id`, runs the rest of the request inside the log context, and writes one log
 * line when the response is done. The path is logged without its query string: callbacks
 * carry codes and states there. The same start and end feed metrics and the request's span.
 */
export function requestLogging(
  logger: Logger,
  clock: Clock,
  observability: Observability = noObservability,
): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && safeRequestId.test(incoming) ? incoming : randomUUID();
    req.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = clock();
    const observation = observability.requestStarted(req.method, requestId);
    res.on('finish', () => {
      const path = req.originalUrl.split('?')[0]!;
      const durationMs = clock() - started;
      logger.info('request', { requestId, method: req.method, path, status: res.statusCode, durationMs });
      observability.requestDone(observation, req.method, path, res.statusCode, durationMs);
    });
    requestContext.run(observation ? { requestId, observation } : { requestId }, next);
  };
}
