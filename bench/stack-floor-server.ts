// One variant of a pass-through proxy, for bench/stack-floor.ts: each variant adds one layer of
// what Gatehouse's app puts in front of every request, and nothing of Gatehouse itself.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';

const [variant, upstreamPort] = [process.argv[2]!, Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function forward(req: http.IncomingMessage, res: http.ServerResponse): void {
  const outgoing = http.request(
    {
      host: '127.0.0.1',
      port: upstreamPort,
      method: req.method,
      path: req.url,
      headers: { accept: 'application/json' },
      agent,
    },
    (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    },
  );
  outgoing.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  outgoing.end();
}

let handler: http.RequestListener = forward;
if (variant !== 'node') {
  const app = express();
  const context = new AsyncLocalStorage<{ requestId: string }>();
  if (variant.includes('log')) {
    // What requestLogging does: an id, a log context for the request, one JSON line at the end.
    app.use((req, res, next) => {
      const requestId = randomUUID();
      res.on('finish', () =>
        process.stdout.write(
          `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'request', requestId, method: req.method, path: req.path, status: res.statusCode })}\n`,
        ),
      );
      context.run({ requestId }, next);
    });
  }
  if (variant.includes('helmet')) app.use(helmet());
  if (variant.includes('session')) {
    app.use(
      session({
        secret: 'stack-floor-secret-stack-floor-secret',
        store: new session.MemoryStore(),
        resave: false,
        saveUninitialized: true,
        cookie: { httpOnly: true, sameSite: 'lax' },
      }),
    );
  }
  app.use((req, res) => forward(req, res));
  handler = app;
}

const server = http.createServer(handler);
server.listen(0, '127.0.0.1', () => process.send!({ ready: (server.address() as { port: number }).port }));
process.once('SIGTERM', () => process.exit(0));
