// Peer (b): what a Node developer would assemble instead of a dedicated BFF:
// Express 5 + express-openid-connect (auth0) + http-proxy-middleware v3.
// Every route requires a login; /api/* is proxied to the upstream with the
// session's access token as Authorization: Bearer.
// Env overrides (e.g. to run a second copy as a stand-in on 3340 with the IdP's
// "bff" client): PORT, UPSTREAM, PERF_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_CLIENT_AUTH_METHOD.
import express from 'express';
import eoc from 'express-openid-connect';
import { createProxyMiddleware } from 'http-proxy-middleware';
import http from 'node:http';

const { auth } = eoc;
const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3320);
const UPSTREAM = process.env.UPSTREAM || 'http://127.0.0.1:3301';
const ISSUER = process.env.PERF_ISSUER || 'http://127.0.0.1:3302';

const app = express();
app.disable('x-powered-by');
app.use(
  auth({
    issuerBaseURL: ISSUER,
    baseURL: `http://${HOST}:${PORT}`,
    clientID: process.env.OIDC_CLIENT_ID || 'express-peer',
    clientSecret: process.env.OIDC_CLIENT_SECRET || 'express-peer-secret-0123456789abcdef0123456789abcdef',
    clientAuthMethod: process.env.OIDC_CLIENT_AUTH_METHOD || 'client_secret_post',
    secret: 'express-peer-cookie-secret-0123456789abcdef0123456789abcdef',
    authRequired: true,
    idpLogout: false,
    authorizationParams: { response_type: 'code', scope: 'openid profile email offline_access' },
  }),
);

// Keep-alive agent to the upstream (http-proxy's default is a fresh connection per request).
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const apiProxy = createProxyMiddleware({
  target: UPSTREAM,
  pathFilter: '/api',
  changeOrigin: true,
  agent,
  on: {
    proxyReq: (proxyReq, req) => {
      const at = req.oidc?.accessToken?.access_token;
      if (at) proxyReq.setHeader('authorization', `Bearer ${at}`);
      proxyReq.removeHeader('cookie'); // do not leak the session cookie upstream
    },
  },
});
app.use(apiProxy);
app.get('/', (req, res) => res.json({ user: req.oidc.user?.sub ?? null }));

const server = app.listen(PORT, HOST, () => console.log(`express-peer listening on http://${HOST}:${PORT}`));
server.keepAliveTimeout = 65_000;
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => {
    server.close();
    setTimeout(() => process.exit(0), 300).unref();
  });
