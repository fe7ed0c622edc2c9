import type { IncomingMessage, ServerResponse } from 'node:http';

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
