import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A request handler in plain node:http terms (an Express app is one too). */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

// Case-insensitive, as Express matched the `/api` mount before the fast path took it over.
const apiTarget = /^\/api(?:[/?]|$)/i;

/**
 * Gatehouse's one request listener: `/api/…` goes to the proxy's fast path (plain node:http,
 * no Express), everything else to the Express app. Both start with the same gate (gate/). A
 * proxied call is most of the traffic, and Express's routing and middleware chain cost more
 * than the proxying itself.
 */
export function requestListener(app: RequestListener, api: RequestListener): RequestListener {
  return (req, res) => {
    if (apiTarget.test(req.url ?? '')) api(req, res);
    else app(req, res);
  };
}

/** Node's `'upgrade'` event: the request, its socket and the bytes read past its head. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Gatehouse's one `'upgrade'` listener. `Upgrade: websocket` to `/api/…` goes to the WebSocket
 * proxy (proxy/websocket-upgrade.ts). Any other request with an `Upgrade` header (curl's
 * `--http2` sends `Upgrade: h2c` over http) is answered as the plain request it also is, on a
 * response bound to the raw socket, and the connection closes after it: Node hands every
 * upgrade to this listener once one exists, and without it such requests were served normally.
 */
export function upgradeListener(listener: RequestListener, websocket: UpgradeHandler): UpgradeHandler {
  return (req, socket, head) => {
    if (apiTarget.test(req.url ?? '') && req.headers.upgrade?.toLowerCase() === 'websocket') {
      websocket(req, socket, head);
      return;
    }
    socket.on('error', () => undefined);
    // Bytes past the head are a body (or the next request); a body cannot be read from here.
    if (head.length > 0 || hasBody(req)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    req.push(null); // no body: Express and the fast path may wait for its end
    listener(req, res);
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
