import http, { type Agent, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
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
  address: UpstreamAddress;
  /** Path and query, already checked. */
  path: string;
  method: string;
  headers: OutgoingHttpHeaders;
  /** The browser's request, whose body is streamed upstream; undefined for a request without a body. */
  body: IncomingMessage | undefined;
  maxBodyBytes: number;
  /** How long the upstream may stay silent: before its response headers and while streaming. */
  timeoutMs: number;
  agent: Agent;
  /** The browser's response: when the browser goes away, so does the upstream request. */
  caller: ServerResponse;
  /** The upstream's overall deadline, if it has one: when it passes, the request is given up. */
  deadline?: { signal: AbortSignal; ms: number };
}

/**
 * Sends one request upstream, streaming the body (counted against `maxBodyBytes`, never
 * buffered whole), and resolves with the response as soon as its headers arrive. Redirects are
 * not followed. Rejects with 502 `upstream_unreachable`, 504 `upstream_timeout` (silence past
 * `timeoutMs`, or the overall deadline) or 413
 * `payload_too_large`; none of them quotes a header, so no token can leak through an error.
 */
export function sendUpstream(call: UpstreamCall): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const observation = observed().upstreamCall(call.upstreamName, call.headers); // adds traceparent when tracing
    const transport = call.address.protocol === 'https:' ? https : http;
    const request = transport.request({
      protocol: call.address.protocol,
      hostname: call.address.hostname,
      port: call.address.port,
      path: call.path,
      method: call.method,
      headers: call.headers,
      agent: call.agent,
      timeout: call.timeoutMs,
    });
    call.caller.once('close', () => {
      if (!call.caller.writableFinished) request.destroy();
    });
    let answered = false;
    let received: IncomingMessage | undefined;
    const fail = (error: AppError): void => {
      request.destroy();
      if (answered) return;
      answered = true;
      observation?.failed(error.code);
      reject(error);
    };

    request.on('response', (response) => {
      if (answered) {
        response.resume();
        return;
      }
      answered = true;
      received = response;
      observation?.answered(response);
      resolve(response);
    });
    request.on('timeout', () => {
      // The socket may go idle in the keep-alive pool after a complete response: not ours to cut.
      if (received?.complete) return;
      fail(
        new AppError('upstream_timeout', `The ${call.upstreamName} API did not answer in time.`, {
          details: { upstream: call.upstreamName },
        }),
      );
    });
    const { deadline } = call;
    if (deadline) {
      const onDeadline = (): void => fail(deadlinePassed(call.upstreamName, deadline.ms));
      if (deadline.signal.aborted) onDeadline();
      deadline.signal.addEventListener('abort', onDeadline, { once: true });
      request.once('close', () => deadline.signal.removeEventListener('abort', onDeadline));
    }
    request.on('error', (error) =>
      fail(
        new AppError('upstream_unreachable', `The ${call.upstreamName} API could not be reached.`, {
          cause: error,
          details: { upstream: call.upstreamName },
        }),
      ),
    );

    if (call.body) streamBody(call.body, request, call.maxBodyBytes, () => fail(payloadTooLarge(call.maxBodyBytes)));
    else request.end();
  });
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

/** Copies the body chunk by chunk, with backpressure, stopping at `max` bytes. */
function streamBody(body: IncomingMessage, request: http.ClientRequest, max: number, tooLarge: () => void): void {
  let bytes = 0;
  let stopped = false;
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > max) {
      stopped = true;
      body.off('data', onData);
      body.pause();
      tooLarge();
      return;
    }
    if (!request.write(chunk)) body.pause();
  };
  body.on('data', onData);
  request.on('drain', () => {
    if (!stopped) body.resume();
  });
  body.on('end', () => {
    if (!stopped) request.end();
  });
  // The browser went away mid-upload: the upstream must not get a truncated body as complete.
  body.on('close', () => {
    if (!body.complete) request.destroy();
  });
}
