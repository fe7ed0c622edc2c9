import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Clock } from '../clock.ts';
import { type Logger, type RequestContext, requestContext } from '../log.ts';
import { noObservability, type Observability } from '../observability/observability.ts';

const safeRequestId = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives a request its id (the caller's `X-Request-Id` when it looks safe), answers it in
 * `X-Request-Id`, and writes one log line when the response is done. The path is logged
 * without its query string: callbacks carry codes and states there. The same start and end
 * feed metrics and the request's span. Shared by the Express app and the `/api` fast path, so
 * every request is logged and counted the same way. Returns the context to run the request in.
 */
export function beginRequest(
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
  clock: Clock,
  observability: Observability = noObservability,
): RequestContext {
  const incoming = req.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && safeRequestId.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', requestId);
  const started = clock();
  const method = req.method ?? 'GET';
  // The URL as received: Express rewrites req.url inside mounted routers.
  const url = req.url ?? '/';
  const observation = observability.requestStarted(method, requestId);
  res.once('finish', () => {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const durationMs = clock() - started;
    logger.info('request', { requestId, method, path, status: res.statusCode, durationMs });
    observability.requestDone(observation, method, path, res.statusCode, durationMs);
  });
  return observation ? { requestId, observation } : { requestId };
}

/** {@link beginRequest} as Express middleware; the rest of the request runs inside the log context. */
export function requestLogging(
  logger: Logger,
  clock: Clock,
  observability: Observability = noObservability,
): RequestHandler {
  return (req, res, next) => {
    const context = beginRequest(req, res, logger, clock, observability);
    req.requestId = context.requestId;
    requestContext.run(context, next);
  };
}
