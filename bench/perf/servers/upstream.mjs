// Minimal upstream "API": node:http only, no framework.
//   GET /api/echo -> ~200-byte JSON, says whether a Bearer token arrived
//   GET /api/big  -> 1 MiB body
//   GET /api/headers -> the request headers as received (debugging aid)
//   GET /__stats  -> request counters (with / without Bearer), used by compare.sh
import http from 'node:http';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3301);
const BIG = Buffer.alloc(1024 * 1024, 'x');

// Counters let the load driver verify that every request wrk counted really
// reached the upstream with a Bearer token (a gateway answering 302/401 fast
// would otherwise look great). Read them at GET /__stats (not proxied: not under /api).
const stats = { echo: 0, echoBearer: 0, big: 0, bigBearer: 0, other: 0 };

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  const bearer = /^Bearer\s+\S+/i.test(req.headers.authorization || '');
  if (req.method === 'GET' && path === '/api/echo') {
    const auth = req.headers.authorization;
    stats.echo++;
    if (bearer) stats.echoBearer++;
    const body = JSON.stringify({
      ok: true,
      path,
      bearer,
      tokenPrefix: bearer ? auth.slice(7, 19) : null,
      tokenLength: bearer ? auth.length - 7 : 0,
      ts: Date.now(),
      note: 'upstream echo for BFF perf harness ....................................',
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.method === 'GET' && path === '/api/headers') {
    // debugging aid: what did the gateway forward?
    const h = {};
    for (const [k, v] of Object.entries(req.headers))
      h[k] = String(v).length > 60 ? `${String(v).slice(0, 40)}...(${String(v).length})` : v;
    const body = JSON.stringify(h);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.method === 'GET' && path === '/api/big') {
    stats.big++;
    if (bearer) stats.bigBearer++;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
    res.end(BIG);
    return;
  }
  stats.other++;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not_found"}');
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => console.log(`upstream listening on http://${HOST}:${PORT}`));
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref());
