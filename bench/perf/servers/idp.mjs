// Identity provider for the perf harness: panva's oidc-provider v9.
//   issuer      http://127.0.0.1:3302
//   user        alice / wonderland   (PERF_USER / PERF_PASSWORD)
//   clients     apache-peer, express-peer, bff  (confidential, auth-code + refresh), and
//               bearer-script (scripts/bearer-token.mjs: a script's own JWT access token)
//   tokens      JWT access tokens for resource urn:perf:api (resourceIndicators)
// Custom minimal login page at /interaction/:uid (username + password form);
// consent is skipped for these first-party clients (grant created on the fly).
// Extra or changed clients: PERF_IDP_CLIENTS_FILE=/path/clients.json (array of
// oidc-provider client metadata), appended to / replacing the defaults by client_id.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3302);
const ISSUER = process.env.PERF_ISSUER || `http://${HOST}:${PORT}`;
const API_RESOURCE = 'urn:perf:api';
const USER = process.env.PERF_USER || 'alice';
const PASSWORD = process.env.PERF_PASSWORD || 'wonderland';
const TOKEN_TTL = Number(process.env.PERF_ACCESS_TOKEN_TTL || 3600);

const accounts = new Map([[USER, { password: PASSWORD, email: `${USER}@example.test`, name: 'Alice Perf' }]]);

const secret = (id) => `${id}-secret-0123456789abcdef0123456789abcdef`;
let clients = [
  {
    client_id: 'apache-peer',
    client_secret: secret('apache-peer'),
    redirect_uris: ['http://127.0.0.1:3310/redirect_uri'],
    post_logout_redirect_uris: ['http://127.0.0.1:3310/'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'express-peer',
    client_secret: secret('express-peer'),
    redirect_uris: ['http://127.0.0.1:3320/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1:3320/'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    // For the future TypeScript BFF (port 3340 by convention). Edit via PERF_IDP_CLIENTS_FILE.
    client_id: 'bff',
    client_secret: secret('bff'),
    redirect_uris: [
      'http://127.0.0.1:3340/callback',
      'http://127.0.0.1:3340/auth/callback',
      'http://127.0.0.1:3340/bff/callback',
      'http://127.0.0.1:3340/oauth/callback',
      'http://127.0.0.1:3340/login/callback',
      // Gatehouse's SOAP external login (the bearer target gatehouse-soap).
      'http://127.0.0.1:3340/external/callback',
    ],
    post_logout_redirect_uris: ['http://127.0.0.1:3340/'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    // A script that signs in once and then calls the API with its own access token, as
    // Authorization: Bearer (the apache-bearer target). Nothing listens at the redirect URI:
    // scripts/bearer-token.mjs takes the code from the redirect and exchanges it itself.
    client_id: 'bearer-script',
    client_secret: secret('bearer-script'),
    redirect_uris: ['http://127.0.0.1:3309/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];
if (process.env.PERF_IDP_CLIENTS_FILE) {
  const extra = JSON.parse(fs.readFileSync(process.env.PERF_IDP_CLIENTS_FILE, 'utf8'));
  for (const c of extra) clients = clients.filter((x) => x.client_id !== c.client_id).concat(c);
}

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'perf-rs256', use: 'sig', alg: 'RS256' };
// mod_auth_openidc takes a key set URI only over https; its resource-server route (apache-bearer)
// reads the signing key from this file instead (OIDCOAuthVerifyCertFiles). Written before the
// IdP listens, so it is there when compare.sh starts Apache.
if (process.env.PERF_DIR) {
  fs.mkdirSync(`${process.env.PERF_DIR}/run`, { recursive: true });
  fs.writeFileSync(`${process.env.PERF_DIR}/run/idp-public-key.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
}

const configuration = {
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: ['perf-cookie-key-1-0123456789abcdef'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false, // userinfo is disabled, so put claims in the ID token
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read'],
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: false }, // access tokens are audience-bound JWTs for urn:perf:api
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => API_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== API_RESOURCE) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: API_RESOURCE,
          accessTokenTTL: TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // Refresh tokens for every client allowed the refresh_token grant, without
  // requiring offline_access + prompt=consent.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // First-party clients: no consent screen.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const g = await ctx.oidc.provider.Grant.find(grantId);
      if (g) return g;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid offline_access profile email');
    grant.addResourceScope(API_RESOURCE, 'api:read');
    await grant.save();
    return grant;
  },
  findAccount: async (_ctx, sub) => {
    const a = accounts.get(sub);
    if (!a) return undefined;
    return { accountId: sub, claims: async () => ({ sub, email: a.email, email_verified: true, name: a.name }) };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  pkce: { required: () => false },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>oops</title><pre>${Object.entries(out)
      .map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`)
      .join('\n')}</pre>`;
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const oidc = provider.callback();

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (uid, clientId, error) => `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head><body>
<h1>Sign-in to ${esc(clientId)}</h1>${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<input type="text" name="login" placeholder="username" autofocus>
<input type="password" name="password" placeholder="password">
<button type="submit">Sign-in</button>
</form></body></html>`;

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction uid mismatch');
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    if (req.method === 'GET' && !action) {
      const html = loginPage(uid, params.client_id);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(html);
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const acct = accounts.get(form.get('login') || '');
      if (!acct || acct.password !== form.get('password')) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(loginPage(uid, params.client_id, 'invalid username or password'));
      }
      return provider.interactionFinished(
        req,
        res,
        { login: { accountId: form.get('login') } },
        { mergeWithLastSubmission: false },
      );
    }
  }
  if (prompt.name === 'consent') {
    // Should not normally happen (loadExistingGrant auto-grants); approve anyway.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [ind, sc] of Object.entries(prompt.details.missingResourceScopes || {}))
      grant.addResourceScope(ind, sc.join(' '));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.writeHead(400, { 'content-type': 'text/plain' });
  res.end(`unsupported prompt ${prompt.name}`);
}

const server = http.createServer(async (req, res) => {
  const m = /^\/interaction\/([^/?]+)(?:\/(login))?(?:\?.*)?$/.exec(req.url);
  if (m) {
    try {
      await interaction(req, res, m[1], m[2]);
    } catch (err) {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction error: ${err.message}`);
    }
    return;
  }
  oidc(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => console.log(`idp listening on ${ISSUER}`));
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => {
    server.close();
    setTimeout(() => process.exit(0), 300).unref();
  });
