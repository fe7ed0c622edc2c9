import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { demoTokenVerifier } from './demo-token-check.ts';

/** Where the demo Renku-like API takes WebSockets, below its base path: `/api/renku/live` through Gatehouse. */
export const demoEchoSocketPath = '/live';

/**
 * The demo APIs' WebSocket endpoint (development only): it verifies the bearer JWT at the
 * handshake as a resource server must (signature, issuer, audience, expiry; 401 with a Bearer
 * challenge otherwise), then answers every text message with JSON naming who sent it:
 * `{ "echo": <message>, "sub", "name", "email", "aud", "at" }`. What a live feed behind Gatehouse sees.
 */
export function demoEchoSocket(options: {
  issuer: string;
  audience: string;
  /** The full path it answers at (the API's base path + {@link demoEchoSocketPath}). */
  path: string;
}): { upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void; close: () => void } {
  const verify = demoTokenVerifier(options.issuer, options.audience);
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    if ((req.url ?? '').split('?')[0] !== options.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    void (token ? verify(token) : Promise.resolve({ reason: 'a bearer token is required' })).then((verified) => {
      if ('reason' in verified) {
        const body = JSON.stringify({ error: 'invalid_token', message: `Invalid access token: ${verified.reason}.` });
        socket.end(
          `HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="${options.audience}", error="invalid_token"\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      const { claims } = verified;
      server.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => {
          if (isBinary) return; // a text protocol: binary frames are ignored
          ws.send(
            JSON.stringify({
              echo: data.toString().slice(0, 1000),
              sub: claims.sub,
              name: claims.name,
              email: claims.email,
              aud: claims.aud,
              at: new Date().toISOString(),
            }),
          );
        });
      });
    });
  };
  return {
    upgrade,
    // Upgraded sockets are no longer the HTTP server's connections: ended here.
    close: () => {
      for (const client of server.clients) client.terminate();
      server.close();
    },
  };
}
