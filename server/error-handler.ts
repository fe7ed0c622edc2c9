import type { ErrorRequestHandler, Request } from 'express';
import { AppError } from './errors.ts';
import type { Logger } from './log.ts';

/** How an error is shown: a page, a JSON body, or a SOAP Fault. */
export type ErrorFormat = 'html' | 'json' | 'soap';

/** Renders a SOAP Fault; the SOAP module provides it, so this handler stays protocol-free. */
export type FaultRenderer = (error: AppError, requestId: string) => string;

const jsonPaths = /^\/(api|auth\/user|auth\/sessions|auth\/backchannel-logout|readyz|healthz)(\/|$)/;

/** Which form the caller expects: routers may decide (`res.locals.errorFormat`), else the path and `Accept`. */
export function errorFormatFor(req: Request, chosen: unknown): ErrorFormat {
  if (chosen === 'html' || chosen === 'json' || chosen === 'soap') return chosen;
  if (jsonPaths.test(req.path)) return 'json';
  return req.accepts(['html', 'json']) === 'json' ? 'json' : 'html';
}

/**
 * The one error handler. Known errors keep their status and code; anything else is a 500
 * `internal_error`. The caller sees the code, a safe message and the request id; the log
 * gets the cause. Never a stack trace, never a token.
 */
export function errorHandler(logger: Logger, renderFault?: FaultRenderer): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = toAppError(err);
    if (error.status >= 500) logger.error('request failed', { errorCode: error.code, error: err instanceof Error ? err : String(err) });
    else logger.info('request refused', { errorCode: error.code, status: error.status });
    if (res.headersSent) {
      // A streamed response already started: all we can do is cut it.
      req.socket.destroy();
      return;
    }
    const message = error.expose ? error.message : 'Something went wrong on our side.';
    const format = errorFormatFor(req, res.locals.errorFormat);
    res.status(error.status);
    res.setHeader('Cache-Control', 'no-store');
    if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    if (format === 'soap' && renderFault) {
      // SOAP 1.1 answers faults with 500; an over-limit call keeps its 429 so clients and
      // load balancers see a back-off, with the Fault in the body as the route speaks.
      res.status(error.status === 429 ? 429 : 500).type('text/xml; charset=utf-8').send(renderFault(error, req.requestId));
    } else if (format === 'json') {
      res.json({ error: error.code, message, requestId: req.requestId, ...error.details });
    } else {
      res.render('error', { title: 'Error', code: error.code, message, requestId: req.requestId, status: error.status, user: undefined, details: error.details });
    }
  };
}

/** Turns whatever was thrown into an AppError: body-parser's and Express's own errors keep their status. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = (err as { status?: unknown; type?: unknown })?.status;
  const type = (err as { type?: unknown })?.type;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'payload_too_large' : typeof type === 'string' ? type.replace(/\./g, '_') : 'bad_request';
    return new AppError(status, code, status === 413 ? 'The request body is too large.' : 'The request could not be read.', { cause: err });
  }
  return new AppError(500, 'internal_error', 'Internal error.', { cause: err });
}
