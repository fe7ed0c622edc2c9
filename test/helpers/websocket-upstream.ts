import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { type WebSocket, WebSocketServer } from 'ws';

/** One handshake the upstream saw, accepted or not. */
export interface HandshakeRecord {
  url: string;
  headers: IncomingHttpHeaders;
  /** The verified claims; undefined when the token was refused. */
  claims: JWTPayload | undefined;
}

/**
 * A real WebSocket upstream (npm `ws`) for proxy tests. At the handshake it verifies the bearer
 * JWT as a resource server must (the IdP's JWKS, issuer, `audience`), refusing with 401 and a
 * Bearer challenge otherwise. It echoes every message as JSON `{ echo, sub, aud }` (binary
 * messages come back as binary, unchanged), and records every handshake that arrived.
 */
export class WebSocketUpstream {
  readonly handshakes: HandshakeRecord[] = [];
  /** The sockets it holds open. */
  readonly sockets = new Set<WebSocket>();
  /** The issuer whose tokens are verified; set once Gatehouse has started its IdP. */
  issuer: string | undefined;
  url = '';
  /** The subprotocol it picks when the client offers it; undefined: none. */
  protocolChoice: string | undefined;
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) =>
      this.protocolChoice !== undefined && offered.has(this.protocolChoice) ? this.protocolChoice : false,
  });
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(private readonly audience: string) {}

  async start(): Promise<this> {
    this.server = createServer((_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end());
    this.server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => undefined);
      void this.verify(req.headers.authorization).then((claims) => {
        this.handshakes.push({ url: req.url!, headers: req.headers, claims });
        if (!claims) {
          const body = '{"error":"invalid_token"}';
          socket.end(
            `HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error="invalid_token"\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          this.sockets.add(ws);
          ws.on('close', () => this.sockets.delete(ws));
          ws.on('message', (data, isBinary) => {
            if (isBinary) ws.send(data, { binary: true });
            else ws.send(JSON.stringify({ echo: data.toString(), sub: claims.sub, aud: claims.aud }));
          });
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async verify(authorization: string | undefined): Promise<JWTPayload | undefined> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token || !this.issuer) return undefined;
    this.jwks ??= createRemoteJWKSet(new URL(`${this.issuer}/jwks`));
    try {
      const { payload } = await jwtVerify(token, this.jwks, { issuer: this.issuer, audience: this.audience });
      return payload;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }
}
