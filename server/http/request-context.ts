import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Logger, RequestContext } from '../log.ts';
import type { Observability } from '../observability/observability.ts';
import type { TrustProxy } from './trust-proxy.ts';

// At most 128 characters a log search, a trace and an upstream's own logs take as they are.
const acceptedRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** What {@link beginRequest} needs (the gate has it all). */
export interface RequestStart {
  logger: Logger;
  clock: Clock;
  observability: Observability;
  trust: TrustProxy;
}

/**
 * Gives a request its id, answers it in `X-Request-Id`, and writes one log line when the
 * response is done. The caller's `X-Request-Id` becomes the id only when the peer is a trusted
 * proxy (GATEHOUSE_TRUST_PROXY) and the value is plain; otherwise Gatehouse makes its own and
 * logs the caller's, cleaned, as `clientRequestId` (a client must not choose the id that
 * appears in the logs, the traces and the upstream's request). The path is logged without its
 * query string: callbacks carry codes and states there. The same start and end feed metrics
 * and the request's span. Fills `context`, which the rest of the request runs in.
 */
export function beginRequest(
  req: IncomingMessage,
  res: ServerResponse,
  start: RequestStart,
  context: RequestContext,
): void {
  const { logger, clock, observability } = start;
  const incoming = req.headers['x-request-id'];
  let requestId: string;
  let clientRequestId: string | undefined;
  if (
    typeof incoming === 'string' &&
    acceptedRequestId.test(incoming) &&
    start.trust(req.socket.remoteAddress ?? '', 0)
  ) {
    requestId = incoming;
  } else {
    requestId = randomUUID();
    if (incoming !== undefined) clientRequestId = cleanRequestId(String(incoming));
  }
  context.requestId = requestId;
  res.setHeader('X-Request-Id', requestId);
  const started = clock();
  const method = req.method ?? 'GET';
  // The URL as received: Express rewrites req.url inside mounted routers.
  const url = req.url ?? '/';
  const observation = observability.requestStarted(method, requestId);
  if (observation) context.observation = observation;
  res.once('finish', () => {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const durationMs = clock() - started;
    logger.info(
      'request',
      clientRequestId === undefined
        ? { requestId, method, path, status: res.statusCode, durationMs }
        : { requestId, method, path, status: res.statusCode, durationMs, clientRequestId },
    );
    observability.requestDone(observation, method, path, res.statusCode, durationMs);
  });
}

/** A caller's request id as it may be logged: only `[A-Za-z0-9._:-]`, at most 128 characters. */
export function cleanRequestId(value: string): string {
  return value.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 128);
}
