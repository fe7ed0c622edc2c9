import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientMetadata, Configuration, default as Provider, KoaContextWithOIDC } from 'oidc-provider';
import { constantTimeEqual } from '../constant-time.ts';

/** A demo user of the embedded IdP. */
export interface DevUser {
  username: string;
  password: string;
  claims: { name: string; given_name: string; family_name: string; email: string; preferred_username: string };
}

/**
 * The development users. Their passwords are public on purpose: this IdP never starts in
 * production (the config loader refuses it).
 */
export const devUsers: readonly DevUser[] = [
  {
    username: 'alice',
    password: 'alice-dev-password',
    claims: {
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      email: 'alice@example.org',
      preferred_username: 'alice',
    },
  },
  {
    username: 'bob',
    password: 'bob-dev-password',
    claims: {
      name: 'Bob Builder',
      given_name: 'Bob',
      family_name: 'Builder',
      email: 'bob@example.org',
      preferred_username: 'bob',
    },
  },
];

/**
 * Resource indicators the IdP issues JWT access tokens for, and the audiences each token
 * carries. The default one imitates a Keycloak client with audience mappers for the demo APIs.
 */
export const devResources: Readonly<Record<string, readonly string[]>> = {
  'urn:gatehouse:demo-apis': ['renku', 'dataverse', 'account'],
  'urn:gatehouse:stats': ['stats'],
  'urn:gatehouse:opaque': ['opaque-api'],
};

/** The resource whose access tokens are opaque (what many IdPs issue): its audience is known only by introspection. */
export const devOpaqueResource = 'urn:gatehouse:opaque';

const defaultResource = 'urn:gatehouse:demo-apis';

/** Options for {@link startDevIdp}. */
export interface DevIdpOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The client registered for Gatehouse. */
  client: {
    clientId: string;
    clientSecret: string;
    tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
    redirectUris: string[];
    postLogoutRedirectUris: string[];
    backchannelLogoutUri?: string;
  };
  /** More clients, e.g. a second application for cross-application logout tests. */
  extraClients?: ClientMetadata[];
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** Like Keycloak, state the refresh token's life as `refresh_expires_in` in token responses. */
  statesRefreshExpiresIn?: boolean;
  /** Offer token introspection (RFC 7662); default true. */
  introspection?: boolean;
  /**
   * Like LemonLDAP::NG and Authelia: the id_token carries only `sub` and protocol claims
   * (`conformIdTokenClaims`), and names and email come from UserInfo. The access token from
   * the code exchange is then opaque, since an audience-bound JWT is refused at UserInfo.
   */
  claimsFromUserInfo?: boolean;
}

/** Counts what the IdP did, for tests and the benchmark. */
export interface DevIdpStats {
  /** Successful and failed token-endpoint calls, by grant_type. */
  tokenRequests: Record<string, number>;
  backchannelLogouts: number;
  /** Requests to the UserInfo endpoint. */
  userinfoRequests: number;
}

/** What a stand-in token endpoint answers (see {@link DevIdp.tokenEndpointStandIn}). */
export interface StandInAnswer {
  status: number;
  body?: string;
  contentType?: string;
}

/** A running embedded IdP. */
export interface DevIdp {
  issuer: string;
  provider: Provider;
  stats: DevIdpStats;
  /**
   * For tests: while set, answers every token-endpoint request in oidc-provider's place, so a
   * test can play an IdP that refuses differently (Glewlwyd's bare 400 to a revoked refresh
   * token, a 401 `invalid_client`). Gets the request's form parameters.
   */
  tokenEndpointStandIn: ((params: URLSearchParams) => StandInAnswer) | undefined;
  /** For tests: while set, answers every UserInfo request in oidc-provider's place. */
  userinfoStandIn: (() => StandInAnswer) | undefined;
  /**
   * The private JWK the IdP signs with (`kid` and `alg` included). Development only: tests
   * sign logout tokens with it to prove Gatehouse checks what the IdP would send.
   */
  signingJwk: JsonWebKey & { kid: string; alg: string };
  /**
   * For tests: stops listening, so every request to the IdP is refused (an outage), while its
   * grants and sessions are kept for {@link listenAgain}, as a real IdP keeps them in its database.
   */
  stopListening(): Promise<void>;
  /** For tests: listens again on the same port after {@link stopListening}. */
  listenAgain(): Promise<void>;
  close(): Promise<void>;
}

let oidcProvider: Promise<typeof import('oidc-provider')> | undefined;

/**
 * oidc-provider, imported when the embedded IdP first starts (production never loads it). Its
 * import warns "Unsupported runtime" on any Node before 22, though every flow Gatehouse uses
 * works on Node 20, which the README supports: that one line is left out, nothing else.
 */
function loadOidcProvider(): Promise<typeof import('oidc-provider')> {
  oidcProvider ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('WARNING: Unsupported runtime')) return;
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return oidcProvider;
}

/**
 * Starts oidc-provider as a development IdP on 127.0.0.1: confidential client for Gatehouse,
 * users alice and bob, its own login page (no external resources), no consent for the
 * first-party client, rotating refresh tokens, RP-initiated and back-channel logout, device
 * flow, client credentials, and JWT access tokens with audiences for the demo APIs.
 */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const { default: Provider, errors } = await loadOidcProvider();
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `the embedded development IdP cannot listen on port ${options.port}: another program holds it (a Gatehouse already running?). Stop that program, or set GATEHOUSE_DEV_IDP_PORT to a free port`,
              { cause: error },
            )
          : error,
      ),
    );
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stats: DevIdpStats = { tokenRequests: {}, backchannelLogouts: 0, userinfoRequests: 0 };

  // Grants made by a consent interaction (an API token's): each belongs to one authorization only.
  const dedicatedGrants = new Set<string>();
  // The browser's own grant, while an API token's authorization runs in the same IdP session.
  const grantBeforeConsent = new WeakMap<object, string>();
  const signingJwk = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid: 'dev-idp-rs256',
    alg: 'RS256',
  };
  const configuration: Configuration = {
    clients: [
      {
        client_id: options.client.clientId,
        client_secret: options.client.clientSecret,
        token_endpoint_auth_method: options.client.tokenEndpointAuthMethod ?? 'client_secret_basic',
        redirect_uris: options.client.redirectUris,
        post_logout_redirect_uris: options.client.postLogoutRedirectUris,
        grant_types: [
          'authorization_code',
          'refresh_token',
          'client_credentials',
          'urn:ietf:params:oauth:grant-type:device_code',
        ],
        response_types: ['code'],
        ...(options.client.backchannelLogoutUri
          ? { backchannel_logout_uri: options.client.backchannelLogoutUri, backchannel_logout_session_required: true }
          : {}),
      },
      ...(options.extraClients ?? []),
    ],
    jwks: { keys: [{ ...signingJwk, use: 'sig' } as never] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Distinct names: cookies are shared across ports of one host, Gatehouse's included.
      names: { session: 'devidp_session', interaction: 'devidp_interaction', resume: 'devidp_resume' },
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Like Keycloak: profile and email claims go in the id_token, since the audience-bound
    // access token is not accepted at userinfo.
    conformIdTokenClaims: options.claimsFromUserInfo === true,
    pkce: { required: () => true },
    findAccount: async (_ctx, sub) => {
      const user = devUsers.find((u) => u.username === sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...user.claims, email_verified: true }) };
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      // Only where the claims live there: the Keycloak-like default's audience-bound access
      // token is refused at UserInfo, so advertising it would only earn every sign-in a 401.
      userinfo: { enabled: options.claimsFromUserInfo === true },
      jwtUserinfo: { enabled: options.claimsFromUserInfo === true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: options.introspection ?? true },
      deviceFlow: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      resourceIndicators: {
        enabled: true,
        // An authorization request without `resource` is granted every demo resource (as a
        // Keycloak client with an audience mapper for each would be), so a refresh-token grant
        // can later ask for any of them; a token request without one gets the demo-apis token.
        defaultResource: async (ctx, _client, oneOf) => {
          // An opaque access token for UserInfo unless the token request names a resource.
          if (oneOf === undefined && options.claimsFromUserInfo && ctx.oidc.route === 'token')
            return undefined as unknown as string;
          if (oneOf === undefined) return ctx.oidc.route === 'token' ? defaultResource : Object.keys(devResources);
          if (Array.isArray(oneOf)) return oneOf.includes(defaultResource) ? defaultResource : oneOf[0]!;
          return oneOf;
        },
        useGrantedResource: async () => options.claimsFromUserInfo !== true,
        getResourceServerInfo: async (_ctx, resource) => {
          const audience = devResources[resource];
          if (!audience) throw new errors.InvalidTarget();
          if (resource === devOpaqueResource) {
            return {
              scope: 'api',
              audience: audience[0]!,
              accessTokenFormat: 'opaque',
              accessTokenTTL: options.accessTokenTtlSeconds ?? 300,
            };
          }
          return {
            scope: 'api',
            audience: audience[0]!,
            accessTokenFormat: 'jwt',
            accessTokenTTL: options.accessTokenTtlSeconds ?? 300,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Keycloak's audience mappers give an array; oidc-provider gives one audience.
        jwt: async (_ctx, token, jwt) => {
          const resource = (token as { resourceServer?: { identifier?: () => string } }).resourceServer?.identifier?.();
          const audience = resource ? devResources[resource] : undefined;
          if (audience) jwt.payload.aud = [...audience];
        },
      },
    },
    // Refresh tokens without the offline_access consent dance, rotated on every use.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      // A later sign-in must not reuse a grant dedicated to an API token: revoking one would end the other.
      const reusable = ctx.oidc.result?.consent?.grantId !== undefined || !dedicatedGrants.has(grantId ?? '');
      const existing = grantId && reusable ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      const before = ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (ctx.oidc.result?.consent?.grantId !== undefined && before) grantBeforeConsent.set(ctx, before);
      // A grant revoked since (with its refresh token) leaves its id in the IdP session: without
      // a fresh grant, every sign-in would end in another login prompt.
      if (existing) return existing;
      // No consent screen: every client registered here is a first-party development client.
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client!.clientId,
        accountId: ctx.oidc.session!.accountId!,
      });
      grant.addOIDCScope('openid profile email offline_access');
      for (const resource of Object.keys(devResources)) grant.addResourceScope(resource, 'api');
      await grant.save();
      return grant;
    },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds ?? 300,
      ClientCredentials: options.accessTokenTtlSeconds ?? 300,
      IdToken: 3600,
      RefreshToken: options.refreshTokenTtlSeconds ?? 86400,
      Interaction: 600,
      Session: 86400,
      Grant: 86400,
      AuthorizationCode: 60,
      DeviceCode: 600,
    },
    // oidc-provider's SSRF guard refuses loopback; the back-channel logout target is local here.
    fetch: (url, init) => {
      const { dispatcher: _ignored, ...rest } = init as RequestInit & { dispatcher?: unknown };
      return fetch(url, rest);
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page(
        'Error',
        `<h1>Error</h1><p>${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p>`,
      );
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => count(stats, ctx));
  // oidc-provider's session keeps one grant per client, and a refresh token that expires with
  // the session is refused once that grant is another. An API token's grant is an offline one
  // of its own (as at Keycloak): once its code is issued, the session's grant is the browser's
  // again, so creating a token does not sign the browser out at its next refresh.
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    const before = grantBeforeConsent.get(ctx);
    if (before !== undefined) ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId, before);
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC) => count(stats, ctx));
  provider.on('backchannel.success', () => stats.backchannelLogouts++);
  provider.on('server_error', () => {}); // shown to the client; keep test output quiet
  if (options.statesRefreshExpiresIn) {
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.path === '/token' && ctx.status === 200 && typeof body?.refresh_token === 'string') {
        body.refresh_expires_in = options.refreshTokenTtlSeconds ?? 86400;
      }
    });
  }

  const oidc = provider.callback();
  const devIdp: DevIdp = {
    issuer,
    provider,
    stats,
    signingJwk,
    tokenEndpointStandIn: undefined,
    userinfoStandIn: undefined,
    stopListening: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    listenAgain: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(new URL(issuer).port), '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === faviconPath) {
      res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=3600' });
      res.end(favicon);
      return;
    }
    if (url.pathname === '/me') {
      stats.userinfoRequests++;
      const answer = devIdp.userinfoStandIn?.();
      if (answer) {
        res.writeHead(answer.status, answer.contentType ? { 'content-type': answer.contentType } : {});
        res.end(answer.body ?? '');
        return;
      }
    }
    const standIn = devIdp.tokenEndpointStandIn;
    if (standIn && req.method === 'POST' && url.pathname === '/token') {
      readBody(req).then(
        (body) => {
          const answer = standIn(new URLSearchParams(body));
          res.writeHead(answer.status, answer.contentType ? { 'content-type': answer.contentType } : {});
          res.end(answer.body ?? '');
        },
        () => res.destroy(),
      );
      return;
    }
    if (url.pathname.startsWith('/interaction/')) {
      handleInteraction(provider, req, res, url, dedicatedGrants).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('interaction failed');
      });
      return;
    }
    oidc(req, res);
  });

  return devIdp;
}

function count(stats: DevIdpStats, ctx: KoaContextWithOIDC): void {
  const grantType = String((ctx.oidc?.params as { grant_type?: unknown } | undefined)?.grant_type ?? 'unknown');
  stats.tokenRequests[grantType] = (stats.tokenRequests[grantType] ?? 0) + 1;
}

async function handleInteraction(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  dedicatedGrants: Set<string>,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent' && details.session?.accountId) {
    // Asked with prompt=consent (how oidc-provider grants offline_access): first-party clients
    // get it without a screen, in a grant of its own, as Keycloak's offline sessions are.
    const grant = new provider.Grant({
      clientId: String(details.params.client_id),
      accountId: details.session.accountId,
    });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    for (const resource of Object.keys(devResources)) grant.addResourceScope(resource, 'api');
    const grantId = await grant.save();
    dedicatedGrants.add(grantId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'GET') {
    sendHtml(res, 200, loginPage(details.uid, String(details.params.login_hint ?? ''), undefined));
    return;
  }
  if (req.method !== 'POST' || !url.pathname.endsWith('/login')) {
    sendHtml(res, 405, page('Not allowed', '<p>Method not allowed.</p>'));
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const user = devUsers.find((u) => u.username === form.get('username'));
  if (!user || !constantTimeEqual(user.password, form.get('password') ?? '')) {
    sendHtml(res, 200, loginPage(details.uid, form.get('username') ?? '', 'Wrong username or password.'));
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.username } },
    { mergeWithLastSubmission: false },
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return body;
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function loginPage(uid: string, username: string, error: string | undefined): string {
  return page(
    'Sign in — development IdP',
    `
    <h1>Development IdP</h1>
    <p class="note">Embedded identity provider for development. Users: <code>alice</code> / <code>alice-dev-password</code>, <code>bob</code> / <code>bob-dev-password</code>.</p>
    ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
    <form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
      <label>Username <input name="username" value="${escapeHtml(username)}" required autofocus></label>
      <label>Password <input name="password" type="password" required></label>
      <button type="submit">Sign in</button>
    </form>`,
  );
}

async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  // The form submits itself: Gatehouse already asked the user, like Keycloak with an id_token_hint.
  ctx.body = page(
    'Signing out',
    `
    <h1>Signing out of the development IdP…</h1>
    ${form}
    <button type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
    <script>document.getElementById('op.logoutForm').insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.getElementById('op.logoutForm').submit();</script>`,
  );
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1>You are signed out of the development IdP.</h1>');
}

// Its own icon (an amber key), so a developer sees at a glance which server a tab shows, and
// no page of the IdP logs a favicon 404.
const faviconPath = '/favicon.svg';
const favicon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><title>Development IdP</title><rect width="32" height="32" rx="6" fill="#b36b00"/><circle cx="11" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path fill="#fff" d="M15 14.5h12v3h-2v4h-3v-4h-2v3h-3v-3h-2z"/></svg>';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${faviconPath}" type="image/svg+xml">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.75rem 0}input{display:block;width:100%;padding:.4rem;font-size:1rem}button{margin-top:1rem;padding:.5rem 1rem;font-size:1rem}.error{color:#a00}.note{color:#555;font-size:.9rem}</style>
</head><body>${body}</body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
