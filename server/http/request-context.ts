import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Clock } from '../clock.ts';
import { type Logger, requestContext } from '../log.ts';

const safeRequestId = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives a request its id (the caller's `X-Request-Id` when it looks safe), answers it in
 * `X-Request-Id`, and writes one log line when the response is done. The path is logged
 * without its query string: callbacks carry codes and states there. Shared by the Express app
 * and the `/api` fast path, so every request is logged the same way.
 */
export function beginRequest(req: IncomingMessage, res: ServerResponse, logger: Logger, clock: Clock): string {
  const incoming = req.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && safeRequestId.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', requestId);
  const started = clock();
  // The URL as received: Express rewrites req.url inside mounted routers.
  const url = req.url ?? '/';
  res.once('finish', () => {
    const queryAt = url.indexOf('?');
    logger.info('request', {
      requestId,
      method: req.method,
      path: queryAt === -1 ? url : url.slice(0, queryAt),
      status: res.statusCode,
      durationMs: clock() - started,
    });
  });
  return requestId;
}

/** {@link beginRequest} as Express middleware; the rest of the request runs inside the log context. */
export function requestLogging(logger: Logger, clock: Clock): RequestHandler {
  return (req, res, next) => {
    req.requestId = beginRequest(req, res, logger, clock);
    requestContext.run({ requestId: req.requestId }, next);
  };
}
