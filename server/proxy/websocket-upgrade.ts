import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { bearerHandle, lastSeenStepMs, requireSignedIn, type Caller } from '../auth/find-caller.ts';
import type { AppDeps } from '../deps.ts';
import { sendJsonError } from '../error-handler.ts';
import { AppError } from '../errors.ts';
import type { BrowserSession } from '../gate/caller.ts';
import { admissionOf, type Gate, type GateHost, GateRequest, passGate, refused } from '../gate/gate.ts';
import { FastPathHost } from '../gate/node-gate.ts';
import { proxiedSocketRoute } from '../gate/routes.ts';
import type { Grant } from '../grants/grant-store.ts';
import type { TokenRefresher } from '../grants/token-refresher.ts';
import { readCookie } from '../http/cookies.ts';
import { requestContext } from '../log.ts';
import { noObservability, type SocketCloseCause } from '../observability/observability.ts';
import { hashHandle } from '../random.ts';
import { sessionIdFromCookie } from '../session/session-cookie.ts';
import { sessionStoreFor } from '../session/session-middleware.ts';
import { apiTokenError } from '../grants/api-token-auth.ts';
import type { ApiTokenStore } from '../grants/api-token-store.ts';
import { mountRelative, rejectsToken, requestTarget } from './api-handler.ts';
import { audienceCheck } from './audience-check.ts';
import { upstreamAccessToken } from './upstream-access-token.ts';
import { upstreamRequestHeaders } from './proxy-headers.ts';
import { relayResponse } from './relay-response.ts';
import { bridgeSockets } from './socket-bridge.ts';
import { SocketRegistry, type WatchedCredential } from './socket-registry.ts';
import { upstreamPath } from './upstream-path.ts';
import type { Upstream } from '../upstream-registry.ts';

/** Node's `'upgrade'` event: the request, its socket and the bytes read past its head. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** What the WebSocket upgrade needs besides the app's dependencies (the `/api` handler's options). */
export interface WebSocketUpgradeOptions {
  upstreams: readonly Upstream[];
  tokens: TokenRefresher;
  /** The gate every request passes first (the same one the pages and `/api` pass). */
  gate: Gate;
  /** Gatehouse API tokens, when they are on (a socket of one is watched through it). */
  apiTokens?: ApiTokenStore;
}

/** The WebSocket side of `/api`. */
export interface WebSocketUpgrade {
  /** Takes `GET /api/<name>/…` with `Upgrade: websocket`. */
  handle: UpgradeListener;
  /** The open sockets (limits, session checks). */
  readonly registry: SocketRegistry;
  /** Closes every socket (code 1001): Gatehouse is stopping. */
  close(): void;
}

// Headers of the browser's handshake that are the browser's own with Gatehouse: the upstream
// handshake has its own key, version and extensions. Origin is Gatehouse's page's, checked
// here; upstreams that compare it with their own Host would refuse it.
const handshakeOnly = [
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'origin',
];
const websocketKey = /^[+/0-9A-Za-z]{22}==$/;

/**
 * `GET /api/<name>/…` with `Upgrade: websocket` (RFC 6455) for an upstream that declares
 * `"websocket"`. The handshake passes the gate first, as every request does (route kind
 * `proxied_socket`: who is calling, and for a cookie caller the `Origin` proof). Every refusal
 * is the usual JSON error, answered before anything reaches the upstream: anonymous (401), an upstream not declared (404) or not opted in (400
 * `websocket_not_allowed`), a cookie caller whose `Origin` is not Gatehouse's own (403
 * `websocket_origin_refused`: a browser cannot add `X-CSRF` to a handshake, but always sends
 * `Origin`), a read-only API token where the upstream does not allow one (403 `token_scope`),
 * a limit (429 `websocket_limit`, 503 `websocket_capacity`), a token that cannot be had (as
 * on `/api`). The upstream's handshake carries a fresh access token checked for its audience,
 * never the caller's cookies or Authorization; an upstream that refuses it has its answer
 * passed back as an HTTP answer would be (headers filtered, the token redacted).
 *
 * Once open, messages are relayed both ways ({@link bridgeSockets}) and the socket is watched
 * ({@link SocketRegistry}): it closes with code 4401 when its session, grant or API token ends
 * anywhere, 4408 when idle, 4410 at the upstream's `maxLifetimeMs`.
 */
export function websocketUpgrade(deps: AppDeps, options: WebSocketUpgradeOptions): WebSocketUpgrade {
  const { config, logger, clock } = deps;
  const observability = deps.observability ?? noObservability;
  const publicUrl = new URL(config.publicUrl);
  const registryByName = new Map(options.upstreams.map((upstream) => [upstream.name, upstream]));
  const accessTokenFor = upstreamAccessToken(options.tokens, audienceCheck(deps.idp.clientId, deps.idp, clock));
  const sessions = sessionStoreFor(deps);
  const { gate } = options;
  const host = new UpgradeHost(
    new FastPathHost(deps, gate.sessionCookie, () => undefined),
    gate.sessionCookie,
    // Every listed secret verifies, as on the page and /api paths (secret rotation).
    config.session.secrets,
  );
  const registry = new SocketRegistry({
    maxPerSession: config.websocket.maxPerSession,
    maxPerInstance: config.websocket.maxPerInstance,
    checkMs: config.websocket.sessionCheckMs,
    logger,
  });
  // The subprotocol the upstream chose, offered to the browser as the one Gatehouse chose.
  const chosenProtocol = new WeakMap<IncomingMessage, string>();
  const server = new WebSocketServer({
    noServer: true,
    // Compression off both ways: no compressed-size surprises (a small frame inflating to the
    // limit), and nothing to decompress and recompress in the middle.
    perMessageDeflate: false,
    maxPayload: config.websocket.maxMessageBytes,
    handleProtocols: (offered, req) => {
      const protocol = chosenProtocol.get(req);
      return protocol !== undefined && offered.has(protocol) ? protocol : false;
    },
  });
  server.on('headers', (headers) => {
    // Runs inside the upgrade's request context (handleUpgrade is called from it).
    const requestId = requestContext.getStore()?.requestId;
    if (requestId) headers.push(`X-Request-Id: ${requestId}`);
  });

  /** Which record to watch for this caller, and how to tell that it ended. */
  function watchFor(
    caller: Caller,
    grant: Grant,
    session: { id: string; createdAt: number } | undefined,
    handle: string | undefined,
  ) {
    const token = caller.apiToken;
    if (token && options.apiTokens) {
      const apiTokens = options.apiTokens;
      return {
        key: `apitoken:${token.id}`,
        check: async (): Promise<SocketCloseCause | undefined> => {
          if (!(await apiTokens.get(token.id))) return 'token_revoked';
          return (await deps.grants.get(token.grantId)) ? undefined : 'grant_ended';
        },
      } satisfies WatchedCredential;
    }
    if (caller.credential === 'bearer' && handle !== undefined) {
      return {
        key: `handle:${hashHandle(handle)}`,
        check: async (): Promise<SocketCloseCause | undefined> =>
          (await deps.grants.resolveHandle(handle)) ? undefined : 'grant_ended',
      } satisfies WatchedCredential;
    }
    if (session === undefined) throw new Error('a cookie caller without a session id');
    const sessionId = session.id;
    return {
      key: `session:${sessionId}`,
      check: async (active: boolean): Promise<SocketCloseCause | undefined> => {
        const now = clock();
        // The same limits findCaller applies to the next request, applied now. The absolute
        // one first: the store drops the record at about that time, which would read as a sign-out.
        if (now - session.createdAt > config.session.maxMs) return 'session_expired';
        const data = await sessions.read(sessionId);
        if (!data?.createdAt || data.grantId !== grant.id) return 'session_ended';
        if (now - (data.lastSeenAt ?? 0) > config.session.idleMs) return 'session_idle';
        if (!(await deps.grants.get(grant.id))) return 'grant_ended';
        // Messages the page sends are use of the session, as its requests are.
        if (active && now - (data.lastSeenAt ?? 0) > lastSeenStepMs(config.session))
          await sessions.writeIfPresent(sessionId, { ...data, lastSeenAt: now });
        return undefined;
      },
    } satisfies WatchedCredential;
  }

  /** Serves a handshake the gate admitted (a caller, and a cookie caller's Origin checked). */
  async function upgrade(request: GateRequest, socket: Duplex, head: Buffer): Promise<void> {
    const { req, res, requestId } = request;
    let caller: Caller = {};
    try {
      caller = admissionOf(req, logger).caller;
      const grant = requireSignedIn(caller);
      const { upstream, path } = resolveTarget(mountRelative(req.url ?? '/'), registryByName);
      if (caller.apiToken?.readOnly && !upstream.websocket.readOnlyTokens) {
        throw new AppError(
          'token_scope',
          `This API token is read-only, and the ${upstream.name} API does not take WebSockets from read-only tokens (a socket carries writes too).`,
          { details: { upstreams: caller.apiToken.upstreams ?? 'all', readOnly: true } },
        );
      }
      checkHandshake(req);

      const handle =
        caller.credential === 'bearer' && !caller.apiToken ? bearerHandle(req.headers.authorization) : undefined;
      const place = registry.take(watchFor(caller, grant, host.sessionOf(request), handle));
      let opened = false;
      try {
        let accessToken = await accessTokenFor(upstream, grant);
        let answer = await connectUpstream(request, upstream, path, accessToken);
        if (
          'refusal' in answer &&
          accessToken !== undefined &&
          answer.refusal.statusCode === 401 &&
          rejectsToken(answer.refusal)
        ) {
          // As on /api: the upstream says the token is no good although it looked fresh; one
          // forced refresh and one retry.
          answer.refusal.resume();
          accessToken = await accessTokenFor(upstream, grant, accessToken);
          answer = await connectUpstream(request, upstream, path, accessToken);
        }
        if ('refusal' in answer) {
          res.once('finish', () => socket.end());
          const { statusCode = 502, headers } = answer.refusal;
          await relayResponse({ statusCode, headers, body: answer.refusal }, res, {
            upstream,
            mountPath: `${publicUrl.pathname.replace(/\/+$/, '')}/api/${upstream.name}`,
            accessToken,
            requestId,
            deadline: undefined,
          });
          return;
        }
        const upstreamSocket = answer.socket;
        if (socket.destroyed) {
          upstreamSocket.terminate();
          return;
        }
        if (upstreamSocket.protocol) chosenProtocol.set(req, upstreamSocket.protocol);
        res.detachSocket(socket as Socket);
        server.handleUpgrade(req, socket, head, (client) => {
          opened = true;
          observability.socketOpened(upstream.name);
          const bridge = bridgeSockets(client, upstreamSocket, {
            idleMs: config.websocket.idleMs,
            maxLifetimeMs: upstream.websocket.maxLifetimeMs,
            onClientMessage: () => place.active(),
            onClosed: (cause) => {
              place.release();
              observability.socketClosed(upstream.name, cause);
              logger.info('websocket closed', { requestId, upstream: upstream.name, cause });
            },
          });
          place.open(bridge);
          // The 101 was written by ws on the raw socket, not through `res`: "finish" gives the
          // upgrade its one request log line and metrics, as every other answer has.
          res.statusCode = 101;
          res.emit('finish');
        });
        // ws refused the handshake itself (and answered 400): the upstream's socket is not needed.
        if (!opened) upstreamSocket.terminate();
      } finally {
        if (!opened) place.release();
      }
    } catch (error) {
      if (socket.destroyed) return; // the caller went away; nobody to answer
      res.once('finish', () => socket.end());
      sendJsonError(res, caller.apiToken ? apiTokenError(error, res) : error, requestId, logger);
    }
  }

  /** Opens the upstream's socket; its refusal (any answer but 101) comes back to be relayed. */
  function connectUpstream(
    request: GateRequest,
    upstream: Upstream,
    path: string,
    accessToken: string | undefined,
  ): Promise<{ socket: WebSocket } | { refusal: IncomingMessage }> {
    const { req, requestId } = request;
    const headers = upstreamRequestHeaders(req.headers, {
      clientIp: request.address,
      publicUrl,
      prefix: `/api/${upstream.name}`,
      requestId,
      headers: upstream.headers,
      accessToken,
    });
    for (const name of handshakeOnly) delete headers[name];
    const url = new URL(upstream.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const target = `${url.origin}${requestTarget(url.pathname.replace(/\/+$/, ''), path)}`;
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((protocol) => protocol.trim())
      .filter(Boolean);
    return new Promise((resolve, reject) => {
      const upstreamSocket = new WebSocket(target, protocols, {
        headers: headers as Record<string, string>,
        perMessageDeflate: false,
        maxPayload: config.websocket.maxMessageBytes,
        handshakeTimeout: upstream.timeoutMs,
        // A redirect is the upstream's answer to pass back, never one to follow with the token.
        followRedirects: false,
      });
      let settled = false;
      upstreamSocket.once('open', () => {
        settled = true;
        resolve({ socket: upstreamSocket });
      });
      upstreamSocket.once('unexpected-response', (request, response) => {
        settled = true;
        response.once('close', () => request.destroy());
        resolve({ refusal: response });
      });
      upstreamSocket.on('error', (error) => {
        if (settled) return;
        settled = true;
        const timedOut = /timed out/i.test(error.message);
        reject(
          new AppError(
            timedOut ? 'upstream_timeout' : 'upstream_unreachable',
            timedOut
              ? `The ${upstream.name} API did not answer the WebSocket handshake in time.`
              : `The ${upstream.name} API could not be reached.`,
            { cause: error, details: { upstream: upstream.name } },
          ),
        );
      });
      // The browser went away while the upstream was being reached.
      req.socket.once('close', () => {
        if (!settled) upstreamSocket.terminate();
      });
    });
  }

  const handle: UpgradeListener = (req, socket, head) => {
    // Refusals are answered through a response bound to the raw socket, written as any other
    // answer (the error handler's JSON form), and the connection closes after it.
    socket.on('error', () => undefined);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    const request = new GateRequest(req, res, host, proxiedSocketRoute, pathOf(req.url ?? '/'));
    requestContext.run(request.context, () => void serve(request, socket, head));
  };

  async function serve(request: GateRequest, socket: Duplex, head: Buffer): Promise<void> {
    try {
      await passGate(gate, request);
    } catch (error) {
      if (socket.destroyed) return; // the client went away; nobody to answer
      refused(request);
      request.res.once('finish', () => socket.end());
      sendJsonError(request.res, error, request.requestId, logger);
      return;
    }
    await upgrade(request, socket, head);
  }

  return {
    handle,
    registry,
    close: () => {
      registry.closeAll();
      server.close();
    },
  };
}

/** The declared upstream that takes WebSockets, and the checked path. */
function resolveTarget(
  url: string,
  registry: Map<string, Upstream>,
): { upstream: Upstream & { websocket: NonNullable<Upstream['websocket']> }; path: string } {
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  const nameEnd = rawPath.indexOf('/', 1);
  const name = nameEnd === -1 ? rawPath.slice(1) : rawPath.slice(1, nameEnd);
  const upstream = registry.get(name);
  if (!upstream) {
    throw new AppError('unknown_upstream', 'No API is declared under that name.', {
      details: { upstreams: [...registry.keys()] },
    });
  }
  if (!upstream.websocket) {
    throw new AppError(
      'websocket_not_allowed',
      `The ${upstream.name} API does not take WebSockets through Gatehouse (its entry in the APIs file has no "websocket": true).`,
      { details: { upstream: upstream.name } },
    );
  }
  if (upstream.methods && !upstream.methods.includes('GET')) {
    throw new AppError('method_not_allowed', `The ${upstream.name} API accepts only ${upstream.methods.join(', ')}.`, {
      details: { allowed: upstream.methods },
    });
  }
  const path = upstreamPath(nameEnd === -1 ? '' : rawPath.slice(nameEnd));
  return {
    upstream: upstream as Upstream & { websocket: NonNullable<Upstream['websocket']> },
    path: `${path}${query}`,
  };
}

/** 400 unless the request is a WebSocket handshake ws would accept (RFC 6455 §4.2.1). */
function checkHandshake(req: IncomingMessage): void {
  const key = req.headers['sec-websocket-key'];
  if (
    req.method !== 'GET' ||
    req.headers.upgrade?.toLowerCase() !== 'websocket' ||
    typeof key !== 'string' ||
    !websocketKey.test(key.trim()) ||
    req.headers['sec-websocket-version'] !== '13'
  ) {
    throw new AppError(
      'bad_request',
      'Not a WebSocket handshake: GET with Upgrade: websocket, a Sec-WebSocket-Key and Sec-WebSocket-Version: 13.',
    );
  }
}

/**
 * The gate's host for a handshake: the `/api` fast path's (the session record read straight
 * from the store), noting which browser session a cookie caller came with, so its socket can
 * be watched (its id, and when it began: the absolute limit is checked from that).
 */
class UpgradeHost implements GateHost {
  private readonly sessions = new WeakMap<GateRequest, { id: string; createdAt: number }>();

  constructor(
    private readonly fastPath: FastPathHost,
    private readonly sessionCookie: string,
    private readonly secret: readonly string[],
  ) {}

  loadSession(): undefined {
    return undefined;
  }

  async session(request: GateRequest): Promise<BrowserSession> {
    const session = await this.fastPath.session(request);
    const cookie = readCookie(request.req, this.sessionCookie);
    const id = cookie === undefined ? undefined : sessionIdFromCookie(cookie, this.secret);
    if (id !== undefined && session.data?.createdAt)
      this.sessions.set(request, { id, createdAt: session.data.createdAt });
    return session;
  }

  /** The browser session a cookie caller's handshake reached. */
  sessionOf(request: GateRequest): { id: string; createdAt: number } | undefined {
    return this.sessions.get(request);
  }

  declaredMethods(): undefined {
    return undefined; // a handshake is a GET
  }

  formTokens(): undefined {
    return undefined;
  }
}

function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
