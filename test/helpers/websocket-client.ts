import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';

/** A socket a test opened through Gatehouse, with its messages queued and its close awaited. */
export interface TestSocket {
  ws: WebSocket;
  /** Response headers of the handshake (the 101). */
  headers: IncomingHttpHeaders;
  /** The next message, parsed as JSON when it is text. */
  next(): Promise<any>;
  /** Sends `message` and returns the answer. */
  ask(message: string): Promise<any>;
  /** Resolves with the close code and reason once the socket has closed. */
  closed: Promise<{ code: number; reason: string }>;
  /** True once closed. */
  isClosed(): boolean;
  /** The close code and reason, failing when the socket is still open after `timeoutMs` (a generous bound, not a timing claim). */
  closedWithin(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

/** A handshake Gatehouse refused: the HTTP answer. */
export interface RefusedHandshake {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/**
 * Opens a WebSocket (npm `ws`, as a script would) with `headers` (a browser's are Cookie and
 * Origin). Resolves with the open socket, or with the HTTP answer when the handshake is refused.
 */
export function openSocket(
  url: string,
  headers: Record<string, string> = {},
  protocols: string[] = [],
): Promise<TestSocket | RefusedHandshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, { headers, perMessageDeflate: false });
    const queue: unknown[] = [];
    const waiting: Array<{ resolve: (message: unknown) => void; reject: (error: Error) => void }> = [];
    let closed = false;
    let responseHeaders: IncomingHttpHeaders = {};
    const closedPromise = new Promise<{ code: number; reason: string }>((resolveClose) => {
      ws.on('close', (code, reason) => {
        closed = true;
        // A test waiting for a message that will never come fails instead of hanging.
        for (const waiter of waiting.splice(0)) waiter.reject(new Error(`the socket closed (${code} ${reason})`));
        resolveClose({ code, reason: reason.toString() });
      });
    });
    ws.on('message', (data, isBinary) => {
      const message = isBinary ? data : JSON.parse(data.toString());
      const waiter = waiting.shift();
      if (waiter) waiter.resolve(message);
      else queue.push(message);
    });
    const next = (): Promise<any> => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(new Error('the socket is closed'));
      return new Promise((resolveNext, rejectNext) => waiting.push({ resolve: resolveNext, reject: rejectNext }));
    };
    ws.once('upgrade', (response) => {
      responseHeaders = response.headers;
    });
    ws.once('open', () =>
      resolve({
        ws,
        headers: responseHeaders,
        next,
        ask: (message) => {
          ws.send(message);
          return next();
        },
        closed: closedPromise,
        isClosed: () => closed,
        closedWithin: (timeoutMs = 10_000) => {
          let timer: NodeJS.Timeout | undefined;
          return Promise.race([
            closedPromise.finally(() => clearTimeout(timer)),
            new Promise<never>((_resolve, rejectLate) => {
              timer = setTimeout(
                () => rejectLate(new Error(`the socket was still open after ${timeoutMs} ms`)),
                timeoutMs,
              );
            }),
          ]);
        },
      }),
    );
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        ws.terminate();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json });
      });
    });
    ws.on('error', (error) => {
      if (ws.readyState === ws.CONNECTING) reject(error);
    });
  });
}

/** Narrows an {@link openSocket} result to an open socket, failing with the refusal otherwise. */
export function opened(result: TestSocket | RefusedHandshake): TestSocket {
  if ('ws' in result) return result;
  throw new Error(`handshake refused: ${result.status} ${result.body}`);
}

/** Narrows an {@link openSocket} result to a refusal, failing when the socket opened. */
export function refused(result: TestSocket | RefusedHandshake): RefusedHandshake {
  if ('status' in result) return result;
  result.ws.terminate();
  throw new Error('the handshake was accepted');
}
