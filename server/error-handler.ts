import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Request } from 'express';
import { errorStatus, isErrorCode } from './error-codes.ts';
import { AppError } from './errors.ts';
import type { ErrorFormat } from './http/error-format.ts';
import type { Logger } from './log.ts';
import { observed } from './observability/observability.ts';

export type { ErrorFormat } from './http/error-format.ts';

/** Renders a SOAP Fault; the SOAP module provides it, so this handler stays protocol-free. */
export type FaultRenderer = (error: AppError, requestId: string) => string;

/**
 * Which form the caller expects: what the route declared where it is mounted
 * (`res.locals.errorFormat`, see http/error-format.ts), else what `Accept` prefers.
 */
export function errorFormatFor(req: Request, chosen: unknown): ErrorFormat {
  if (chosen === 'html' || chosen === 'json' || chosen === 'soap') return chosen;
  return req.accepts(['html', 'json']) === 'json' ? 'json' : 'html';
}

/**
 * The one error handler. Known errors keep their status and code; anything else is a 500
 * `internal_error`. The caller sees the code, a safe message and the request id; the log
 * gets the cause. Never a stack trace, never a token.
 */
export function errorHandler(logger: Logger, renderFault?: FaultRenderer): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = logFailure(logger, err);
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
      res
        .status(error.status === 429 ? 429 : 500)
        .type('text/xml; charset=utf-8')
        .send(renderFault(error, req.requestId));
    } else if (format === 'json') {
      res.type('application/json; charset=utf-8').send(JSON.stringify(errorJson(error, req.requestId)));
    } else {
      res.render('error', {
        title: 'Error',
        code: error.code,
        message,
        requestId: req.requestId,
        status: error.status,
        user: undefined,
        details: error.details,
      });
    }
  };
}

/** The JSON body of an error: its code, a safe message, the request id and the details. */
export function errorJson(error: AppError, requestId: string): Record<string, unknown> {
  const message = error.expose ? error.message : 'Something went wrong on our side.';
  return { error: error.code, message, requestId, ...error.details };
}

/** Logs a failure (5xx with its cause, the rest as a refusal) and returns it as an AppError. */
export function logFailure(logger: Logger, err: unknown): AppError {
  const error = toAppError(err);
  observed().failed(error);
  if (error.status >= 500)
    logger.error('request failed', { errorCode: error.code, error: err instanceof Error ? err : String(err) });
  else logger.info('request refused', { errorCode: error.code, status: error.status });
  return error;
}

/**
 * Answers a failure as JSON on a plain node:http response (the `/api` fast path): the same
 * log line, status, headers and body as {@link errorHandler} gives a JSON route.
 */
export function sendJsonError(res: ServerResponse, err: unknown, requestId: string, logger: Logger): void {
  const error = logFailure(logger, err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorJson(error, requestId));
  res.statusCode = error.status;
  res.setHeader('Cache-Control', 'no-store');
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** Turns whatever was thrown into an AppError: body-parser's and Express's own errors keep their status. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = (err as { status?: unknown; type?: unknown })?.status;
  const type = (err as { type?: unknown })?.type;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new AppError('payload_too_large', 'The request body is too large.', { cause: err });
    // body-parser names its failures (`entity.parse.failed`, `charset.unsupported`, …); a name
    // the catalogue does not hold with that status is a plain 400 `bad_request`.
    const named = typeof type === 'string' ? type.replace(/\./g, '_') : undefined;
    const code = isErrorCode(named) && errorStatus[named] === status ? named : 'bad_request';
    return new AppError(code, 'The request could not be read.', { cause: err });
  }
  return new AppError('internal_error', 'Internal error.', { cause: err });
}
