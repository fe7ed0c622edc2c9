import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { Pool } from 'undici';
import { AppError } from '../errors.ts';
import { observed } from '../observability/observability.ts';

/** Where an upstream is, parsed once from its registry URL. */
export interface UpstreamAddress {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
}

/** One request to an upstream. */
export interface UpstreamCall {
  upstreamName: string;
  /** Path and query, already checked. */
  path: string;
  method: string;
  headers: OutgoingHttpHeaders;
  /** The browser's request, whose body is streamed upstream; undefined for a request without a body. */
  body: IncomingMessage | undefined;
  maxBodyBytes: number;
  /** How long the upstream may stay silent: before its response headers and while streaming. */
  timeoutMs: number;
  /** The upstream's connection pool ({@link upstreamPool}). */
  pool: Pool;
  /** The browser's response: when the browser goes away, so does the upstream request. */
  caller: ServerResponse;
  /** The upstream's overall deadline, if it has one: when it passes, the request is given up. */
  deadline?: { signal: AbortSignal; ms: number };
}

/** An upstream's answer: status and headers as received, and the body as a stream. */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/**
 * The keep-alive connections to one upstream: an undici `Pool`, which costs less per call than
 * node:http's client (no `ClientRequest`/`IncomingMessage` pair per call, a faster parser).
 * Idle connections close after 4 s, before Node's default 5 s server keep-alive would close
 * them under a request; up to 256 at once, as the node:http agent allowed before.
 */
export function upstreamPool(address: UpstreamAddress): Pool {
  const host = address.hostname.includes(':') ? `[${address.hostname}]` : address.hostname;
  return new Pool(`${address.protocol}//${host}:${address.port}`, {
    connections: 256,
    keepAliveTimeout: 4000,
    keepAliveMaxTimeout: 4000,
  });
}

/**
 * Sends one request upstream, streaming the body (counted against `maxBodyBytes`, never
 * buffered whole), and resolves with the response as soon as its headers arrive. Redirects are
 * not followed. Rejects with 502 `upstream_unreachable`, 504 `upstream_timeout` (silence past
 * `timeoutMs`, or the overall deadline) or 413
 * `payload_too_large`; none of them quotes a header, so no token can leak through an error.
 */
export async function sendUpstream(call: UpstreamCall): Promise<UpstreamResponse> {
  const observation = observed().upstreamCall(call.upstreamName, call.headers); // adds traceparent when tracing
  // An EventEmitter, not an AbortController: undici accepts either, and this one costs no
  // AbortSignal (nor a DOMException) per call.
  const cancel = new EventEmitter();
  let cause: AppError | undefined;
  const stop = (reason: AppError | undefined): void => {
    cause ??= reason;
    cancel.emit('abort');
  };
  call.caller.once('close', () => {
    if (!call.caller.writableFinished) stop(undefined);
  });
  const { deadline } = call;
  if (deadline) {
    const onDeadline = (): void => stop(deadlinePassed(call.upstreamName, deadline.ms));
    if (deadline.signal.aborted) onDeadline();
    else deadline.signal.addEventListener('abort', onDeadline, { once: true });
  }
  try {
    const response = await call.pool.request({
      path: call.path,
      method: call.method as 'GET',
      headers: call.headers as Record<string, string | string[]>,
      body: call.body ? limited(call.body, call.maxBodyBytes, (error) => (cause ??= error)) : null,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      signal: cancel,
    });
    // Destroying a body on purpose (an oversized or unreadable answer) makes undici emit an
    // error on it; whoever reads the body has its own handling, and the rest must not crash.
    response.body.on('error', ignore);
    const answer: UpstreamResponse = {
      statusCode: response.statusCode,
      headers: response.headers as IncomingHttpHeaders,
      body: response.body,
    };
    observation?.answered(answer.statusCode, answer.body);
    return answer;
  } catch (error) {
    const failure =
      cause ??
      (isHeadersTimeout(error)
        ? new AppError('upstream_timeout', `The ${call.upstreamName} API did not answer in time.`, {
            details: { upstream: call.upstreamName },
          })
        : new AppError('upstream_unreachable', `The ${call.upstreamName} API could not be reached.`, {
            cause: error,
            details: { upstream: call.upstreamName },
          }));
    observation?.failed(failure.code);
    throw failure;
  }
}

/** 504 when an upstream's `deadlineMs` passes before its answer is complete. */
export function deadlinePassed(upstreamName: string, deadlineMs: number): AppError {
  return new AppError('upstream_timeout', `The ${upstreamName} API did not answer within its deadline.`, {
    details: { upstream: upstreamName, deadlineMs },
  });
}

/** 413 for a body over the limit. */
export function payloadTooLarge(maxBodyBytes: number): AppError {
  return new AppError('payload_too_large', `The request body is larger than ${maxBodyBytes} bytes.`, {
    details: { maxBytes: maxBodyBytes },
  });
}

function ignore(): void {}

function isHeadersTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'UND_ERR_HEADERS_TIMEOUT';
}

/**
 * The browser's body, counted on its way through: past `max` bytes the stream fails, which
 * aborts the upstream request, so it is never sent as complete. The browser's request is only
 * paused, not destroyed, so the 413 can still reach the browser. A browser that goes away
 * mid-upload fails the stream as well: the upstream never takes a truncated body for a whole one.
 */
function limited(body: IncomingMessage, max: number, tooLarge: (error: AppError) => void): Transform {
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes <= max) return done(null, chunk);
      body.unpipe(counted);
      body.pause();
      const error = payloadTooLarge(max);
      tooLarge(error);
      done(error);
    },
  });
  body.once('close', () => {
    if (!body.complete) counted.destroy(new Error('the request body was cut short'));
  });
  // undici destroys the stream with its own error when the call fails or is cancelled; the
  // call's rejection reports it, so nothing is left to throw.
  counted.on('error', ignore);
  return body.pipe(counted);
}
