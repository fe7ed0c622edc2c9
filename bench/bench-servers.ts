// One server per child process, so the proxies under test each have their own event loop:
//   upstream  an echo API answering a ~200-byte JSON document; WebSockets at any path echo each message
//   bare      a plain node:http pass-through proxy (no authentication) in front of it
//   idp       the embedded development IdP (kept out of Gatehouse's process and memory)
//   gatehouse Gatehouse itself, configured with an issuer and a GATEHOUSE_APIS file
// Each reports `{ ready: … }` over IPC; Gatehouse also answers `{ type: 'memory' }`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { startDevIdp } from '../server/dev/dev-idp.ts';
import { createLogger } from '../server/log.ts';
import { start } from '../server/start.ts';
import { MemoryStore } from '../server/store/memory-store.ts';
import { payload } from './bench-payload.ts';

const role = process.argv[2];
// A normal exit on SIGTERM, so `--cpu-prof` (npm run bench -- --profile) can write its profile.
process.once('SIGTERM', () => process.exit(0));
const send = (message: unknown): void => {
  process.send!(message);
};

async function listen(server: http.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

async function upstream(): Promise<void> {
  const body = Buffer.from(payload);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  // The WebSocket benchmark's upstream: echoes every message (no token check, so a direct
  // connection and one through Gatehouse cost the upstream the same).
  const sockets = new WebSocketServer({ server, perMessageDeflate: false });
  sockets.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  send({ ready: await listen(server) });
}

async function bare(upstreamPort: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const outgoing = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    outgoing.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(outgoing);
  });
  send({ ready: await listen(server) });
}

async function idp(port: number, publicUrl: string, clientSecret: string): Promise<void> {
  const devIdp = await startDevIdp({
    port,
    client: {
      clientId: 'gatehouse',
      clientSecret,
      // The SOAP external login's redirect URI too: the bench measures SOAP bearer callers.
      redirectUris: [`${publicUrl}/auth/callback`, `${publicUrl}/external/callback`],
      postLogoutRedirectUris: [`${publicUrl}/`],
    },
  });
  send({ ready: devIdp.issuer });
}

async function gatehouse(env: Record<string, string>): Promise<void> {
  const gh = await start({ env, logger: createLogger(env.GATEHOUSE_LOG_LEVEL as 'info') });
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'memory') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const store = gh.deps.store;
    send({ memory: process.memoryUsage(), storeKeys: store instanceof MemoryStore ? store.size : undefined });
  });
  send({ ready: new URL(gh.url).port });
}

switch (role) {
  case 'upstream':
    await upstream();
    break;
  case 'bare':
    await bare(Number(process.argv[3]));
    break;
  case 'idp':
    await idp(Number(process.argv[3]), process.argv[4]!, process.argv[5]!);
    break;
  case 'gatehouse':
    await gatehouse(JSON.parse(process.argv[3]!) as Record<string, string>);
    break;
  default:
    throw new Error(`unknown role ${role}`);
}
