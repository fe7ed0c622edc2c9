// Peer (c): physical-limit baseline. node:http pass-through proxy, no auth,
// keep-alive agent to the upstream, request/response streamed with pipe().
import http from 'node:http';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3330);
const UP = new URL(process.env.UPSTREAM || 'http://127.0.0.1:3301');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
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
  headers.host = UP.host;
  const up = http.request(
    { host: UP.hostname, port: UP.port, method: req.method, path: req.url, headers, agent },
    (ur) => {
      const out = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode, out);
      ur.pipe(res);
    },
  );
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(`bad gateway: ${e.code}`);
  });
  req.pipe(up);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => console.log(`bare-proxy listening on http://${HOST}:${PORT}`));
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => {
    server.close();
    setTimeout(() => process.exit(0), 300).unref();
  });
