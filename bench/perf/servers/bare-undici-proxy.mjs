// Peer (c'): physical-limit baseline with undici. Same pass-through as bare-proxy.mjs, but the
// upstream call goes through an undici Pool (keep-alive), the client Node projects pick for speed.
import http from 'node:http';
import { Pool } from 'undici';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3331);
const UP = new URL(process.env.UPSTREAM || 'http://127.0.0.1:3301');
const pool = new Pool(UP.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

const server = http.createServer((req, res) => {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.request({ method: req.method, path: req.url, headers, body: hasBody ? req : null }).then(
    (ur) => {
      const out = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode, out);
      ur.body.pipe(res);
    },
    (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`bad gateway: ${e.code}`);
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => console.log(`bare-undici-proxy listening on http://${HOST}:${PORT}`));
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => {
    server.close();
    setTimeout(() => process.exit(0), 300).unref();
  });
