import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { AppError } from '../errors.ts';
import { browserResponseHeaders, privateCacheControl, rewriteLocation, tokenForms } from './proxy-headers.ts';
import { deadlinePassed } from './send-upstream.ts';
import type { Upstream } from '../upstream-registry.ts';

/** Error bodies up to this size are read whole and searched for the access token. */
export const maxRedactedErrorBytes = 64 * 1024;

// Proxied responses are data, never pages of Gatehouse's origin: no script, no frame, no form.
const proxiedContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; form-action 'none'; sandbox";

// The content codings of RFC 9110 §8.4.1 Gatehouse can undo to look for the token. Output is
// capped at 64 KiB: past that, zlib throws and the body is withheld.
const bounded = { maxOutputLength: maxRedactedErrorBytes };
const decoders: Record<string, (body: Buffer) => Buffer> = {
  gzip: (body) => zlib.gunzipSync(body, bounded),
  'x-gzip': (body) => zlib.gunzipSync(body, bounded),
  deflate: (body) => zlib.inflateSync(body, bounded),
  br: (body) => zlib.brotliDecompressSync(body, bounded),
};

/** What {@link relayResponse} needs besides the two messages. */
export interface RelayOptions {
  upstream: Upstream;
  /** Where the upstream is mounted on Gatehouse, for `Location` rewriting. */
  mountPath: string;
  /** The access token the upstream was sent, if any: it must not come back. */
  accessToken: string | undefined;
  requestId: string;
  /** Aborted when the upstream's overall deadline passes. */
  deadline: AbortSignal | undefined;
}

/**
 * Passes an upstream response to the browser. Headers: see {@link browserResponseHeaders}; the
 * proxied-data CSP always. Bodies stream, counted against the upstream's `maxResponseBytes`
 * (a declared length over it is a 502 before anything is sent; a stream that grows past it is
 * cut, so the browser never takes a truncated body for a whole one). An error response
 * (status ≥ 400) to a request that carried a token is read whole first, up to 64 KiB, and every
 * copy of the token in it replaced by `[redacted]`; a larger one, or one in an encoding
 * Gatehouse cannot read, is replaced by a JSON error keeping the status.
 */
export async function relayResponse(
  response: IncomingMessage,
  res: ServerResponse,
  options: RelayOptions,
): Promise<void> {
  const { upstream, accessToken } = options;
  const status = response.statusCode ?? 502;
  const declared =
    response.headers['content-length'] === undefined ? undefined : Number(response.headers['content-length']);
  if (upstream.maxResponseBytes !== undefined && declared !== undefined && declared > upstream.maxResponseBytes) {
    response.destroy();
    throw responseTooLarge(upstream);
  }

  // Read before any upstream header is set: if reading fails, the error page gets clean headers.
  const errorBody =
    status >= 400 && accessToken !== undefined
      ? { bytes: await readErrorBody(response, declared, upstream, options.deadline) }
      : undefined;

  for (const [name, value] of browserResponseHeaders(response.headers, accessToken)) {
    // What Gatehouse already set (helmet's security headers, the request id) is its own policy.
    if (res.hasHeader(name)) continue;
    res.setHeader(
      name,
      name === 'location' && typeof value === 'string'
        ? rewriteLocation(value, upstream.url, options.mountPath)
        : value,
    );
  }
  res.setHeader('Content-Security-Policy', proxiedContentSecurityPolicy);
  const cacheControl = response.headers['cache-control'];
  if (cacheControl === undefined) res.setHeader('Cache-Control', 'private, no-store');
  // A user's answer must never be kept by a shared cache and served to someone else.
  else if (accessToken !== undefined) res.setHeader('Cache-Control', privateCacheControl(cacheControl));

  if (errorBody && accessToken !== undefined) {
    if (errorBody.bytes === undefined) {
      withheld(res, status, upstream, options.requestId);
      return;
    }
    const redacted = Buffer.from(redact(errorBody.bytes.toString('latin1'), accessToken), 'latin1');
    // The body Gatehouse sends is decoded and may be shorter: the upstream's framing, encoding
    // and validators no longer describe it.
    for (const name of [
      'content-length',
      'content-encoding',
      'etag',
      'content-md5',
      'digest',
      'content-digest',
      'repr-digest',
    ])
      res.removeHeader(name);
    res.setHeader('Content-Length', redacted.length);
    res.writeHead(status);
    res.end(redacted);
    return;
  }

  res.writeHead(status);
  // Headers are out: a broken or oversized stream can only be cut, never turned into an error page.
  // The common path, with no cap and no deadline, is a plain pipe: stream.pipeline would cost an
  // AbortController (and a DOMException when it is done) per response.
  if (upstream.maxResponseBytes === undefined && options.deadline === undefined) return pipeBody(response, res);
  try {
    const signal = options.deadline ? { signal: options.deadline } : {};
    if (upstream.maxResponseBytes === undefined) await pipeline(response, res, signal);
    else await pipeline(response, byteLimit(upstream.maxResponseBytes), res, signal);
  } catch {
    res.destroy();
    response.destroy();
  }
}

/**
 * Streams the body with backpressure; resolves when the browser has it all or is gone. A body
 * the upstream breaks off cuts the browser's response, so it is never taken for a whole one.
 */
function pipeBody(response: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    response.once('close', () => {
      if (!response.complete) res.destroy();
    });
    response.once('error', () => res.destroy());
    res.once('close', () => {
      if (!res.writableFinished) response.destroy();
      resolve();
    });
    response.pipe(res);
  });
}

/**
 * Reads an error body, decoded, when it is at most 64 KiB (and within `maxResponseBytes`);
 * undefined when it is larger or in an encoding Gatehouse cannot read. Rejects with 502 when
 * it passes `maxResponseBytes`, 504 when the deadline passes, 502 when the upstream breaks off.
 */
async function readErrorBody(
  response: IncomingMessage,
  declared: number | undefined,
  upstream: Upstream,
  deadline: AbortSignal | undefined,
): Promise<Buffer | undefined> {
  const encoding = String(response.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  const decode = encoding === 'identity' ? (body: Buffer) => body : decoders[encoding];
  if (!decode || (declared !== undefined && declared > maxRedactedErrorBytes)) {
    response.destroy();
    return undefined;
  }
  const onDeadline = (): void => {
    response.destroy();
  };
  deadline?.addEventListener('abort', onDeadline, { once: true });
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (upstream.maxResponseBytes !== undefined && bytes > upstream.maxResponseBytes)
        throw responseTooLarge(upstream);
      if (bytes > maxRedactedErrorBytes) {
        response.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
  } catch (error) {
    response.destroy();
    if (deadline?.aborted) throw deadlinePassed(upstream.name, upstream.deadlineMs ?? 0);
    if (error instanceof AppError) throw error;
    throw new AppError('upstream_unreachable', `The ${upstream.name} API broke off its answer.`, {
      cause: error,
      details: { upstream: upstream.name },
    });
  } finally {
    deadline?.removeEventListener('abort', onDeadline);
  }
  if (deadline?.aborted) throw deadlinePassed(upstream.name, upstream.deadlineMs ?? 0);
  if (!response.complete)
    throw new AppError('upstream_unreachable', `The ${upstream.name} API broke off its answer.`, {
      details: { upstream: upstream.name },
    });
  try {
    // Bounded: a small compressed body must not expand into a large one.
    return decode(Buffer.concat(chunks));
  } catch {
    return undefined;
  }
}

/** An error body that could not be checked for the token is not passed on; the status is. */
function withheld(res: ServerResponse, status: number, upstream: Upstream, requestId: string): void {
  for (const name of res.getHeaderNames()) {
    if (name.startsWith('content-') && name !== 'content-security-policy') res.removeHeader(name);
  }
  res.removeHeader('etag');
  const body = JSON.stringify({
    error: 'upstream_error_withheld',
    message: `The ${upstream.name} API answered ${status}; its error body was withheld because it is larger than ${maxRedactedErrorBytes} bytes or in an encoding Gatehouse cannot read, so it could not be checked for the access token.`,
    upstream: upstream.name,
    requestId,
  });
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.writeHead(status);
  res.end(body);
}

function redact(text: string, accessToken: string): string {
  return tokenForms(accessToken).reduce((redacted, form) => redacted.replaceAll(form, '[redacted]'), text);
}

function byteLimit(max: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > max) done(new Error(`response larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}

function responseTooLarge(upstream: Upstream): AppError {
  return new AppError(
    'upstream_response_too_large',
    `The ${upstream.name} API answered with more than ${upstream.maxResponseBytes} bytes.`,
    {
      details: { upstream: upstream.name, maxResponseBytes: upstream.maxResponseBytes },
    },
  );
}
