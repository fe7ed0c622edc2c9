import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { parseEnv } from 'node:util';
import { loadUpstreamRegistry, type Upstream } from './upstream-registry.ts';

/** Where Gatehouse keeps its state: one process (`memory`) or several instances (`redis`). */
export type StoreKind = 'memory' | 'redis';

/** A Redis node's address, as listed in GATEHOUSE_REDIS_SENTINELS or GATEHOUSE_REDIS_CLUSTER. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/** How to reach the data nodes of a Sentinel or Cluster deployment (the URL says it for one server). */
export interface RedisNodeAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/** Which Redis deployment the store uses: one server, a Sentinel-watched master, or a Cluster. */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | ({ kind: 'sentinel'; sentinels: RedisNodeAddress[]; masterName: string; sentinelPassword?: string } & RedisNodeAuth)
  | ({ kind: 'cluster'; nodes: RedisNodeAddress[] } & RedisNodeAuth);

/** How Gatehouse authenticates to the IdP's token endpoint. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The validated configuration. Only {@link loadConfig} builds it. */
export interface Config {
  production: boolean;
  port: number;
  /** Origin and base path browsers use to reach Gatehouse, without a trailing slash. */
  publicUrl: string;
  /** True when the public URL is https: cookies get `Secure` and the `__Host-` prefix. */
  secureCookies: boolean;
  oidc: {
    /** Undefined in development means "start the embedded IdP". */
    issuer: string | undefined;
    clientId: string;
    clientSecret: string | undefined;
    clientAuth: ClientAuthMethod;
    privateKey: string | undefined;
    privateKeyId: string | undefined;
    scopes: string;
    /** Milliseconds to wait for the IdP (and the SOAP server) before giving up. */
    timeoutMs: number;
    /** The only JWS algorithm accepted on id_tokens (the client's `id_token_signed_response_alg`). */
    idTokenAlg: string;
    /** Milliseconds of clock difference with the IdP tolerated on token timestamps. */
    clockToleranceMs: number;
    /** When to read the user's claims from the UserInfo endpoint after a code exchange. */
    userInfo: 'auto' | 'always' | 'never';
    /** Milliseconds after which a refresh re-reads UserInfo even without a new id_token; 0 = never. */
    userInfoRefreshMs: number;
  };
  session: {
    /** The newest session secret: it signs cookies and seals tokens. */
    secret: string;
    /**
     * Every configured secret, newest first ({@link secret} is the first): each verifies cookies
     * and opens sealed tokens, so an older one keeps working while it is rotated out.
     */
    secrets: readonly string[];
    /** True when no secret was configured and a random one was made for this process. */
    secretGenerated: boolean;
    /** Milliseconds without a request after which a session ends. */
    idleMs: number;
    /** Milliseconds after sign-in after which a session ends, however active. */
    maxMs: number;
  };
  store: StoreKind;
  redisUrl: string | undefined;
  /** The Redis deployment with GATEHOUSE_STORE=redis: one server (GATEHOUSE_REDIS_URL), Sentinel or Cluster. */
  redis: RedisTopology | undefined;
  /** How many worker processes serve requests (node:cluster); 1 = this process alone. */
  workers: number;
  devIdpPort: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Prometheus metrics and OpenTelemetry traces; both off unless configured. */
  observability: {
    /** Port of the metrics listener (`GET /metrics`); undefined: no metrics. 0 picks a free port. */
    metricsPort: number | undefined;
    metricsHost: string;
    /** OTLP/HTTP base URL traces are sent to (`<url>/v1/traces`); undefined: no traces. */
    otlpEndpoint: string | undefined;
  };
  /** The LiveScore-style SOAP service (`/Session`) and its browser side (`/external`). */
  soap: {
    /** `ExternalAuth` in SessionServerInfo; when false, no external login starts here. */
    externalAuth: boolean;
    /** `BypassLoginPage`: anonymous visitors of `/` go straight to `/external/login`. */
    bypassLoginPage: boolean;
    /** RequestURLs GetExternalLoginRedirectURL accepts (each registered at the IdP). */
    redirectUris: string[];
    /** The SOAP server `/external/*` talks to: this Gatehouse or another LiveScore-compatible one. */
    url: string;
  };
  proxy: {
    /** The upstreams from `GATEHOUSE_APIS`; undefined when it is not set (development: the demo APIs). */
    upstreams: Upstream[] | undefined;
    /** Largest request body forwarded to an upstream; larger ones get 413. */
    maxBodyBytes: number;
    /** An access token expiring within this many milliseconds is refreshed before it is sent. */
    refreshSkewMs: number;
  };
  /**
   * Express `trust proxy`: a hop count, or the addresses/CIDRs (and proxy-addr's names
   * `loopback`, `linklocal`, `uniquelocal`) of the proxies allowed to set X-Forwarded-For/-Proto.
   */
  trustProxy: number | string[];
  /** Rate limits; `undefined` turns one off. */
  rateLimits: {
    /**
     * Per client address (IPv6: per /64), per endpoint: anonymous calls that start a sign-in.
     * There is no budget for all addresses together: one that a few addresses could spend
     * would turn sign-in off for everyone (what pending starts may store is bounded instead).
     */
    login: RateLimit | undefined;
    /** Per client address: back-channel logout deliveries. */
    backchannelLogout: RateLimit | undefined;
    backchannelLogoutGlobal: RateLimit | undefined;
    /** Per client address: credentials that reach nothing (cookie, bearer handle, IdentityToken, ContextID, State). */
    failedCredentials: RateLimit | undefined;
  };
  /** Gatehouse API tokens for scripts (`/tokens`, device sign-in at `/device`). */
  apiTokens: {
    /** Scopes of each token's own authorization request at the IdP. */
    scopes: string;
    /** The longest lifetime a user may choose. */
    maxDays: number;
    /**
     * The lifetime /device presets for a device sign-in, at most: what the requesting program
     * asks for is only preselected within it (at most `maxDays`).
     */
    deviceDefaultDays: number;
    /** Send `prompt=consent` with that request (oidc-provider grants offline_access only with it). */
    consentPrompt: boolean;
    /**
     * True in production on the memory store, unless GATEHOUSE_API_TOKENS_ON_MEMORY_STORE=accept:
     * creating a token is refused, since a restart would end it without a word.
     */
    refusedOnMemoryStore: boolean;
  };
  /** WebSockets through `/api` (upstreams with `"websocket"`; see docs/apis.md). */
  websocket: {
    /** Open sockets one session (or API token, or handle) may hold on one instance. */
    maxPerSession: number;
    /** Open sockets one instance holds at most. */
    maxPerInstance: number;
    /** A socket that carries no message either way for this long is closed. */
    idleMs: number;
    /** How often each open socket's session and grant are checked in the store. */
    sessionCheckMs: number;
    /** The largest message relayed either way; a larger one closes the socket with 1009. */
    maxMessageBytes: number;
  };
}

/** At most `points` events per `durationSeconds`, in a fixed window. */
export interface RateLimit {
  points: number;
  durationSeconds: number;
}

/** Thrown by {@link loadConfig} with every problem found, one per line. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

interface Variable {
  name: string;
  /** What it does, for `.env.example` (generated by `npm run env:example`) and the README. */
  doc: string;
  default?: string;
  /** A value to show in `.env.example` when there is no default (or the default shows little). */
  example?: string;
  /** Starts a section of `.env.example`: its heading. */
  group?: string;
}

/**
 * The schema: every variable Gatehouse reads, with its documentation line and default.
 * `.env.example` is generated from this list (`npm run env:example`); a test fails when it is stale.
 */
export const variables: readonly Variable[] = [
  { name: 'NODE_ENV', doc: '`production` refuses http URLs and never starts the embedded IdP', default: 'development' },
  { name: 'GATEHOUSE_PORT', doc: 'TCP port Gatehouse listens on', default: '3000' },
  // No static default: it follows GATEHOUSE_PORT (see loadConfig).
  {
    name: 'GATEHOUSE_PUBLIC_URL',
    doc: 'URL browsers use to reach Gatehouse; the redirect URI is <this>/auth/callback; default http://localhost:<GATEHOUSE_PORT>; required (https) in production',
    example: 'https://gatehouse.example.org',
  },

  {
    group: 'Identity provider (leave GATEHOUSE_OIDC_ISSUER empty in development for the embedded IdP)',
    name: 'GATEHOUSE_OIDC_ISSUER',
    doc: 'issuer URL of the IdP; empty in development starts the embedded IdP',
    example: 'https://keycloak.example/realms/renku',
  },
  {
    name: 'GATEHOUSE_OIDC_CLIENT_ID',
    doc: 'client id registered for Gatehouse at the IdP (a confidential client)',
    default: 'gatehouse',
  },
  { name: 'GATEHOUSE_OIDC_CLIENT_SECRET', doc: 'client secret, for client_secret_basic and client_secret_post' },
  {
    name: 'GATEHOUSE_OIDC_CLIENT_AUTH',
    doc: 'client_secret_basic, client_secret_post or private_key_jwt',
    default: 'client_secret_basic',
  },
  {
    name: 'GATEHOUSE_OIDC_PRIVATE_KEY',
    doc: 'PKCS#8 PEM private key for private_key_jwt (RSA, EC P-256/384/521 or Ed25519); "\\n" may stand for newlines',
  },
  { name: 'GATEHOUSE_OIDC_PRIVATE_KEY_ID', doc: '`kid` of that key as registered at the IdP (optional)' },
  { name: 'GATEHOUSE_OIDC_SCOPES', doc: 'scopes requested at sign-in', default: 'openid profile email offline_access' },
  { name: 'GATEHOUSE_OIDC_TIMEOUT', doc: 'seconds to wait for the IdP before answering 503', default: '10' },
  {
    name: 'GATEHOUSE_OIDC_ID_TOKEN_ALG',
    doc: "the one algorithm id_tokens must be signed with (the client's id_token_signed_response_alg at the IdP; asymmetric only); any other is refused",
    default: 'RS256',
  },
  {
    name: 'GATEHOUSE_CLOCK_TOLERANCE',
    doc: 'seconds of clock difference with the IdP tolerated on id_token timestamps (iat, exp, nbf)',
    default: '60',
  },
  {
    name: 'GATEHOUSE_OIDC_USERINFO',
    doc: "auto, always or never: read name, email etc. from the IdP's UserInfo endpoint after sign-in (auto: when discovery lists one and profile, email, address or phone was granted)",
    default: 'auto',
  },
  {
    name: 'GATEHOUSE_OIDC_USERINFO_REFRESH',
    doc: 'seconds after which a token refresh also re-reads UserInfo (it always does when the refresh brings a new id_token); 0 = never at refresh',
    default: '3600',
  },

  {
    group: 'Sessions',
    name: 'GATEHOUSE_SESSION_SECRET',
    doc: 'at least 32 characters; signs cookies and encrypts tokens at rest; required in production (e.g. `openssl rand -base64 48`). To rotate: a comma-separated list, newest first; the newest signs and seals, every one verifies and opens (docs/multi-instance.md, "Rotating the session secret")',
  },
  { name: 'GATEHOUSE_SESSION_IDLE', doc: 'seconds without a request after which a session ends', default: '1800' },
  {
    name: 'GATEHOUSE_SESSION_MAX',
    doc: 'seconds after sign-in after which a session ends, however active',
    default: '28800',
  },

  {
    group: 'State',
    name: 'GATEHOUSE_STORE',
    doc: 'memory (one process) or redis (several instances)',
    default: 'memory',
  },
  {
    name: 'GATEHOUSE_REDIS_URL',
    doc: 'redis://host:port (one Redis server); with GATEHOUSE_STORE=redis, this or GATEHOUSE_REDIS_SENTINELS or GATEHOUSE_REDIS_CLUSTER is required',
    example: 'redis://127.0.0.1:6379',
  },
  {
    name: 'GATEHOUSE_REDIS_SENTINELS',
    doc: 'Redis Sentinel: the sentinels as host:port,host:port,… (3 are enough); needs GATEHOUSE_REDIS_SENTINEL_MASTER',
    example: 'sentinel-0.redis:26379,sentinel-1.redis:26379,sentinel-2.redis:26379',
  },
  {
    name: 'GATEHOUSE_REDIS_SENTINEL_MASTER',
    doc: "Redis Sentinel: the monitored master's name (`sentinel monitor <name> …`)",
    example: 'mymaster',
  },
  {
    name: 'GATEHOUSE_REDIS_SENTINEL_PASSWORD',
    doc: "Redis Sentinel: the sentinels' own password (requirepass in sentinel.conf), when they have one",
  },
  {
    name: 'GATEHOUSE_REDIS_CLUSTER',
    doc: 'Redis Cluster: some of its nodes as host:port,host:port,… (the rest are discovered)',
    example: 'redis-0:6379,redis-1:6379,redis-2:6379',
  },
  {
    name: 'GATEHOUSE_REDIS_USERNAME',
    doc: 'Sentinel or Cluster: ACL user name on the Redis nodes (with one server, put it in GATEHOUSE_REDIS_URL)',
  },
  {
    name: 'GATEHOUSE_REDIS_PASSWORD',
    doc: 'Sentinel or Cluster: password of the Redis nodes (with one server, put it in GATEHOUSE_REDIS_URL)',
  },
  {
    name: 'GATEHOUSE_REDIS_TLS',
    doc: 'Sentinel or Cluster: true to connect to every node (sentinels included) over TLS, as rediss:// does for one server',
    default: 'false',
  },
  {
    name: 'GATEHOUSE_WORKERS',
    doc: 'worker processes sharing the port, to use every core (node:cluster): a number, or auto = one per core; more than 1 needs GATEHOUSE_STORE=redis, GATEHOUSE_SESSION_SECRET and GATEHOUSE_OIDC_ISSUER',
    default: '1',
  },

  {
    group: 'SOAP external login (LiveScore-style /Session service and its browser side /external)',
    name: 'GATEHOUSE_EXTERNAL_AUTH',
    doc: 'enabled or disabled: the SOAP external login (`/Session`, `/external/login`)',
    default: 'enabled',
  },
  {
    name: 'GATEHOUSE_BYPASS_LOGIN_PAGE',
    doc: 'enabled sends anonymous visitors of `/` straight to the external login (needs GATEHOUSE_EXTERNAL_AUTH=enabled)',
    default: 'disabled',
  },
  {
    name: 'GATEHOUSE_SOAP_REDIRECT_URIS',
    doc: "comma-separated RequestURLs GetExternalLoginRedirectURL accepts, each registered at the IdP as a redirect URI, besides <GATEHOUSE_PUBLIC_URL>/external/callback (Gatehouse's own external login), which is always accepted",
  },
  {
    name: 'GATEHOUSE_SOAP_URL',
    doc: "SOAP endpoint the browser side of the external login calls: another LiveScore-compatible server, or by default this Gatehouse's own <GATEHOUSE_PUBLIC_URL>/Session",
  },

  {
    group: 'Proxied APIs (/api/<name>/...; see docs/apis.md)',
    name: 'GATEHOUSE_APIS',
    doc: 'path to the JSON file declaring the upstream APIs reachable at /api/<name>/; empty in development registers the demo APIs (renku, dataverse)',
    example: 'apis.json',
  },
  {
    name: 'GATEHOUSE_PROXY_MAX_BODY',
    doc: 'largest request body, in bytes, forwarded to an upstream API (larger: 413)',
    default: '10485760',
  },
  {
    name: 'GATEHOUSE_TOKEN_REFRESH_SKEW',
    doc: 'seconds before expiry at which an access token is refreshed before being sent upstream',
    default: '60',
  },

  {
    group: 'Trusted proxies and rate limits (see docs/architecture.md, "Rate limits and bounded state")',
    name: 'GATEHOUSE_TRUST_PROXY',
    doc: "which peers may set X-Forwarded-For/-Proto: a hop count (0 trusts none), or a comma list of addresses, CIDRs and `loopback`, `linklocal`, `uniquelocal`. Name your load balancer here, or client addresses (rate limits, the upstream's X-Forwarded-For) and https are not seen.",
    default: 'loopback',
  },
  {
    name: 'GATEHOUSE_RATE_LIMIT_LOGIN',
    doc: '`<count>/<seconds>` or `off`: sign-in starts per client address (IPv6: per /64), for each of /auth/login, /external/login, GetExternalLoginRedirectURL and POST /auth/device/code; keeps one address from starting sign-ins (and, for the last three, storing pending records) without end. There is no limit for all addresses together, which a few could spend for everyone',
    default: '30/60',
  },
  {
    name: 'GATEHOUSE_RATE_LIMIT_BACKCHANNEL_LOGOUT',
    doc: '`<count>/<seconds>` or `off`: POST /auth/backchannel-logout per client address (the IdP); keeps a caller from making Gatehouse verify logout tokens and end sessions without end',
    default: '600/60',
  },
  {
    name: 'GATEHOUSE_RATE_LIMIT_BACKCHANNEL_LOGOUT_GLOBAL',
    doc: '`<count>/<seconds>` or `off`: POST /auth/backchannel-logout from all addresses together; bounds the work logout-token floods cause overall',
    default: '1200/60',
  },
  {
    name: 'GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS',
    doc: '`<count>/<seconds>` or `off`: unknown session cookies, bearer handles, IdentityTokens, ContextIDs or States per client address; protects against guessing: past it, credentials from that address that reach nothing get 429 until the window ends (valid ones still work)',
    default: '20/300',
  },

  {
    group: 'API tokens for scripts (/tokens, device sign-in at /device; see docs/scripts.md)',
    name: 'GATEHOUSE_API_TOKEN_SCOPES',
    doc: 'scopes of the IdP grant behind each API token; without offline_access a token ends with the IdP session',
    default: 'openid offline_access',
  },
  {
    name: 'GATEHOUSE_API_TOKEN_MAX_DAYS',
    doc: 'longest lifetime, in days, a user may choose for an API token',
    default: '90',
  },
  {
    name: 'GATEHOUSE_DEVICE_TOKEN_DEFAULT_DAYS',
    doc: "the longest lifetime, in days, /device preselects for a device sign-in's token (with read-only access); the program's request is preselected only within it, and more takes the approver's own choice on the page",
    default: '30',
  },
  {
    name: 'GATEHOUSE_API_TOKEN_CONSENT_PROMPT',
    doc: "enabled sends prompt=consent with an API token's authorization request (oidc-provider grants offline_access only with it; Keycloak does not need it)",
    default: 'enabled',
  },
  {
    name: 'GATEHOUSE_API_TOKENS_ON_MEMORY_STORE',
    doc: 'refuse or accept: in production with GATEHOUSE_STORE=memory, creating an API token is refused, since a restart ends every token without a word to its scripts; accept allows it anyway',
    default: 'refuse',
  },

  {
    group: 'WebSockets through /api (upstreams with "websocket": true; see docs/apis.md)',
    name: 'GATEHOUSE_WS_MAX_PER_SESSION',
    doc: 'open WebSockets one browser session, API token or handle may hold on one instance (more: 429)',
    default: '10',
  },
  {
    name: 'GATEHOUSE_WS_MAX_PER_INSTANCE',
    doc: 'open WebSockets one Gatehouse process holds at most (more: 503)',
    default: '1000',
  },
  {
    name: 'GATEHOUSE_WS_IDLE',
    doc: 'seconds without a message either way after which a WebSocket is closed (code 4408)',
    default: '300',
  },
  {
    name: 'GATEHOUSE_WS_MAX_MESSAGE',
    doc: 'largest WebSocket message, in bytes, relayed either way; a larger one closes the socket (code 1009)',
    default: '1048576',
  },
  {
    name: 'GATEHOUSE_WS_SESSION_CHECK_MS',
    doc: "milliseconds between checks of each open WebSocket's session and grant in the store; a sign-out, revocation or expiry anywhere closes the socket within this much plus a store round trip",
    default: '1000',
  },

  {
    group: 'Development and operations',
    name: 'GATEHOUSE_DEV_IDP_PORT',
    doc: 'port of the embedded development IdP',
    default: '3001',
  },
  { name: 'GATEHOUSE_LOG_LEVEL', doc: 'debug, info, warn, error or silent', default: 'info' },
  {
    name: 'GATEHOUSE_METRICS_PORT',
    doc: 'port serving Prometheus metrics at /metrics, on a listener of its own (never the public one); unset: no metrics',
    example: '9464',
  },
  {
    name: 'GATEHOUSE_METRICS_HOST',
    doc: 'address the metrics listener binds to; keep it private (0.0.0.0 only where the network is)',
    default: '127.0.0.1',
  },
  {
    name: 'GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT',
    doc: 'OTLP/HTTP base URL to export OpenTelemetry traces to (spans go to <url>/v1/traces, JSON); unset: no traces',
    example: 'http://127.0.0.1:4318',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    doc: 'the standard OpenTelemetry variable, used when GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT is not set',
  },
];

/**
 * Reads the environment (and a `.env` file in the working directory, which the environment
 * overrides), validates it against {@link variables} and reports every problem at once.
 */
export function loadConfig(env: Env = readEnvironment()): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    if (value) return value;
    return variables.find((v) => v.name === name)?.default;
  };

  const production = get('NODE_ENV') === 'production';
  const port = integer('GATEHOUSE_PORT', get, problems, 0, 65535);
  const devIdpPort = integer('GATEHOUSE_DEV_IDP_PORT', get, problems, 0, 65535);
  const timeoutSeconds = integer('GATEHOUSE_OIDC_TIMEOUT', get, problems, 1, 120);
  const clockToleranceSeconds = integer('GATEHOUSE_CLOCK_TOLERANCE', get, problems, 0, 600);
  const userInfo = oneOf('GATEHOUSE_OIDC_USERINFO', get, problems, ['auto', 'always', 'never'] as const);
  const userInfoRefreshSeconds = integer('GATEHOUSE_OIDC_USERINFO_REFRESH', get, problems, 0, 30 * 86400);
  // Asymmetric only: Gatehouse verifies id_token signatures against the IdP's JWKS (HS* would
  // make the client secret a signing key anyone holding it could forge tokens with).
  const idTokenAlg = oneOf('GATEHOUSE_OIDC_ID_TOKEN_ALG', get, problems, [
    'RS256',
    'RS384',
    'RS512',
    'PS256',
    'PS384',
    'PS512',
    'ES256',
    'ES384',
    'ES512',
    'EdDSA',
    'Ed25519',
  ] as const);
  const idleSeconds = integer('GATEHOUSE_SESSION_IDLE', get, problems, 10, 30 * 86400);
  const maxSeconds = integer('GATEHOUSE_SESSION_MAX', get, problems, 10, 365 * 86400);

  // A newcomer who only moves the port gets redirect URIs and a banner on that port.
  const publicUrl =
    get('GATEHOUSE_PUBLIC_URL') === undefined
      ? `http://localhost:${port}`
      : url('GATEHOUSE_PUBLIC_URL', get, problems, production);
  if (production && get('GATEHOUSE_PUBLIC_URL') === undefined) {
    problems.push(
      'GATEHOUSE_PUBLIC_URL is required in production (the https URL browsers use, e.g. https://gatehouse.example.org)',
    );
  }
  const issuer =
    get('GATEHOUSE_OIDC_ISSUER') === undefined ? undefined : url('GATEHOUSE_OIDC_ISSUER', get, problems, production);
  if (production && issuer === undefined) {
    problems.push('GATEHOUSE_OIDC_ISSUER is required in production (the embedded IdP is for development only)');
  }

  const clientAuth = oneOf('GATEHOUSE_OIDC_CLIENT_AUTH', get, problems, [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
  ] as const);
  const clientSecret = get('GATEHOUSE_OIDC_CLIENT_SECRET');
  const privateKey = get('GATEHOUSE_OIDC_PRIVATE_KEY')?.replace(/\\n/g, '\n');
  if (issuer !== undefined) {
    if (clientAuth === 'private_key_jwt' && !privateKey) {
      problems.push(
        'GATEHOUSE_OIDC_PRIVATE_KEY is required when GATEHOUSE_OIDC_CLIENT_AUTH=private_key_jwt (a PKCS#8 PEM key)',
      );
    }
    if (clientAuth !== 'private_key_jwt' && !clientSecret) {
      problems.push(
        `GATEHOUSE_OIDC_CLIENT_SECRET is required when GATEHOUSE_OIDC_CLIENT_AUTH=${clientAuth} (copy it from the client's credentials at the IdP)`,
      );
    }
  }
  if (privateKey && !privateKey.includes('-----BEGIN PRIVATE KEY-----')) {
    problems.push(
      'GATEHOUSE_OIDC_PRIVATE_KEY must be a PKCS#8 PEM key ("-----BEGIN PRIVATE KEY-----"); convert with `openssl pkcs8 -topk8 -nocrypt`',
    );
  }

  const scopes = get('GATEHOUSE_OIDC_SCOPES')!;
  if (!scopes.split(/\s+/).includes('openid')) {
    problems.push(`GATEHOUSE_OIDC_SCOPES must include "openid" (got "${scopes}")`);
  }

  let secret = get('GATEHOUSE_SESSION_SECRET');
  let secretGenerated = false;
  if (secret === undefined) {
    if (production)
      problems.push(
        'GATEHOUSE_SESSION_SECRET is required in production (at least 32 random characters, e.g. `openssl rand -base64 48`)',
      );
    secret = randomBytes(32).toString('base64url');
    secretGenerated = true;
  }
  const secrets = secretGenerated ? [secret] : sessionSecrets(secret, problems);

  const store = oneOf('GATEHOUSE_STORE', get, problems, ['memory', 'redis'] as const);
  const redisUrl = get('GATEHOUSE_REDIS_URL');
  const redis = store === 'redis' ? redisTopology(get, problems) : undefined;
  const workers = workerCount(get, problems, { store, secretGenerated, issuer });
  const logLevel = oneOf('GATEHOUSE_LOG_LEVEL', get, problems, ['debug', 'info', 'warn', 'error', 'silent'] as const);
  const observability = observabilitySettings(get, problems, port);
  const soap = soapSettings(get, problems, publicUrl.replace(/\/+$/, ''), production);
  const apisFile = get('GATEHOUSE_APIS');
  // The registry resolves `{"env": …}` header values from this same environment map.
  const upstreams = apisFile === undefined ? undefined : loadUpstreamRegistry(apisFile, env, problems);
  const maxBodyBytes = integer('GATEHOUSE_PROXY_MAX_BODY', get, problems, 0, 2 ** 31);
  const refreshSkewSeconds = integer('GATEHOUSE_TOKEN_REFRESH_SKEW', get, problems, 0, 3600);
  const trustProxy = trustedProxies(get, problems);
  const rateLimits: Config['rateLimits'] = {
    login: rateLimit('GATEHOUSE_RATE_LIMIT_LOGIN', get, problems),
    backchannelLogout: rateLimit('GATEHOUSE_RATE_LIMIT_BACKCHANNEL_LOGOUT', get, problems),
    backchannelLogoutGlobal: rateLimit('GATEHOUSE_RATE_LIMIT_BACKCHANNEL_LOGOUT_GLOBAL', get, problems),
    failedCredentials: rateLimit('GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS', get, problems),
  };
  const apiTokenScopes = get('GATEHOUSE_API_TOKEN_SCOPES')!;
  if (!apiTokenScopes.split(/\s+/).includes('openid')) {
    problems.push(`GATEHOUSE_API_TOKEN_SCOPES must include "openid" (got "${apiTokenScopes}")`);
  }
  const apiTokenMaxDays = integer('GATEHOUSE_API_TOKEN_MAX_DAYS', get, problems, 1, 3650);
  const deviceDefaultDays = integer('GATEHOUSE_DEVICE_TOKEN_DEFAULT_DAYS', get, problems, 1, 3650);
  const websocket: Config['websocket'] = {
    maxPerSession: integer('GATEHOUSE_WS_MAX_PER_SESSION', get, problems, 1, 1000),
    maxPerInstance: integer('GATEHOUSE_WS_MAX_PER_INSTANCE', get, problems, 1, 1_000_000),
    idleMs: integer('GATEHOUSE_WS_IDLE', get, problems, 1, 86_400) * 1000,
    // At most 1.5 s: a sign-out must close sockets everywhere within 2 s (issue 25).
    sessionCheckMs: integer('GATEHOUSE_WS_SESSION_CHECK_MS', get, problems, 100, 1500),
    maxMessageBytes: integer('GATEHOUSE_WS_MAX_MESSAGE', get, problems, 1, 2 ** 30),
  };
  const apiTokenConsentPrompt =
    oneOf('GATEHOUSE_API_TOKEN_CONSENT_PROMPT', get, problems, ['enabled', 'disabled'] as const) === 'enabled';
  const apiTokensOnMemoryStore = oneOf('GATEHOUSE_API_TOKENS_ON_MEMORY_STORE', get, problems, [
    'refuse',
    'accept',
  ] as const);

  if (problems.length > 0) throw new ConfigError(problems);

  return deepFreeze<Config>({
    production,
    port,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    // Parsed, not matched: `HTTPS://…` is https too.
    secureCookies: new URL(publicUrl).protocol === 'https:',
    oidc: {
      issuer,
      clientId: get('GATEHOUSE_OIDC_CLIENT_ID')!,
      clientSecret,
      clientAuth,
      privateKey,
      privateKeyId: get('GATEHOUSE_OIDC_PRIVATE_KEY_ID'),
      scopes,
      // Durations become milliseconds here, once; the variables count seconds.
      timeoutMs: timeoutSeconds * 1000,
      idTokenAlg,
      clockToleranceMs: clockToleranceSeconds * 1000,
      userInfo,
      userInfoRefreshMs: userInfoRefreshSeconds * 1000,
    },
    session: {
      secret: secrets[0] ?? secret,
      secrets,
      secretGenerated,
      idleMs: idleSeconds * 1000,
      maxMs: maxSeconds * 1000,
    },
    store,
    redisUrl,
    redis,
    workers,
    devIdpPort,
    logLevel,
    observability,
    soap,
    proxy: { upstreams, maxBodyBytes, refreshSkewMs: refreshSkewSeconds * 1000 },
    trustProxy,
    rateLimits,
    apiTokens: {
      scopes: apiTokenScopes,
      maxDays: apiTokenMaxDays,
      // A default above the maximum would only be refused later: the maximum wins.
      deviceDefaultDays: Math.min(deviceDefaultDays, apiTokenMaxDays),
      consentPrompt: apiTokenConsentPrompt,
      // Development restarts are expected to lose state; production must not lose tokens unannounced.
      refusedOnMemoryStore: production && store === 'memory' && apiTokensOnMemoryStore === 'refuse',
    },
    websocket,
  });
}

/** What the embedded development IdP registered Gatehouse with. */
export interface EmbeddedIdpRegistration {
  issuer: string;
  clientSecret: string;
}

/**
 * The configuration to run with once the embedded IdP has started: a frozen copy of `config`
 * naming that IdP and the client secret registered there. The embedded IdP registers a
 * client secret, so `private_key_jwt` falls back to `client_secret_basic`.
 */
export function withEmbeddedIdp(config: Config, registration: EmbeddedIdpRegistration): Config {
  return deepFreeze<Config>({
    ...config,
    oidc: {
      ...config.oidc,
      issuer: registration.issuer,
      clientSecret: registration.clientSecret,
      clientAuth: config.oidc.clientAuth === 'private_key_jwt' ? 'client_secret_basic' : config.oidc.clientAuth,
    },
  });
}

/** Freezes `value` and everything reachable from it, so no module can change the configuration. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The process environment over the `.env` file, if there is one. */
export function readEnvironment(): Env {
  const file = '.env';
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {};
  return { ...fromFile, ...process.env };
}

type Getter = (name: string) => string | undefined;

/**
 * GATEHOUSE_WORKERS: a number, or `auto` for one per core. More than one worker is refused
 * where workers could not act as one Gatehouse: with the memory store (a session made on one
 * worker would be unknown to the others), a random session secret (each worker would draw its
 * own) or the embedded IdP (it runs inside one process).
 */
function workerCount(
  get: Getter,
  problems: string[],
  setup: { store: StoreKind; secretGenerated: boolean; issuer: string | undefined },
): number {
  const raw = get('GATEHOUSE_WORKERS') ?? '1';
  const workers = raw === 'auto' ? availableParallelism() : integer('GATEHOUSE_WORKERS', get, problems, 1, 256);
  if (workers <= 1) return 1;
  const why = `GATEHOUSE_WORKERS=${raw} runs ${workers} processes that must act as one Gatehouse`;
  if (setup.store !== 'redis')
    problems.push(
      `${why}: set GATEHOUSE_STORE=redis (with the memory store, a session made on one worker is unknown to the others)`,
    );
  if (setup.secretGenerated) problems.push(`${why}: set GATEHOUSE_SESSION_SECRET (each would draw its own random one)`);
  if (setup.issuer === undefined)
    problems.push(`${why}: set GATEHOUSE_OIDC_ISSUER (the embedded development IdP runs inside one process)`);
  return workers;
}

function integer(name: string, get: Getter, problems: string[], min: number, max: number): number {
  const raw = get(name) ?? '';
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
    return min;
  }
  return value;
}

function observabilitySettings(get: Getter, problems: string[], port: number): Config['observability'] {
  const metricsPort =
    get('GATEHOUSE_METRICS_PORT') === undefined
      ? undefined
      : integer('GATEHOUSE_METRICS_PORT', get, problems, 0, 65535);
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    problems.push(
      'GATEHOUSE_METRICS_PORT must differ from GATEHOUSE_PORT: metrics are never served on the public listener',
    );
  }
  const endpointName = get('GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT')
    ? 'GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT'
    : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  // Trace export may be plain http inside a cluster even in production: no https rule here.
  const otlpEndpoint = get(endpointName) === undefined ? undefined : url(endpointName, get, problems, false);
  return { metricsPort, metricsHost: get('GATEHOUSE_METRICS_HOST')!, otlpEndpoint };
}

function url(name: string, get: Getter, problems: string[], production: boolean): string {
  const raw = get(name) ?? '';
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    problems.push(`${name} must be an absolute http(s) URL (got "${raw}")`);
    return raw;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    problems.push(`${name} must be an http(s) URL (got "${raw}")`);
  } else if (production && parsed.protocol === 'http:') {
    problems.push(`${name} must use https in production (got "${raw}")`);
  }
  if (parsed.search || parsed.hash) problems.push(`${name} must not have a query or fragment (got "${raw}")`);
  return raw;
}

function oneOf<const T extends readonly string[]>(
  name: string,
  get: Getter,
  problems: string[],
  allowed: T,
): T[number] {
  const raw = get(name) ?? '';
  if (!(allowed as readonly string[]).includes(raw)) {
    problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
    return allowed[0] as T[number];
  }
  return raw as T[number];
}

/** `<count>/<seconds>` (e.g. `30/60`), or `off`. */
function rateLimit(name: string, get: Getter, problems: string[]): RateLimit | undefined {
  const raw = get(name) ?? '';
  if (raw === 'off') return undefined;
  const match = /^(\d+)\/(\d+)$/.exec(raw);
  const points = Number(match?.[1]);
  const durationSeconds = Number(match?.[2]);
  if (!match || points < 1 || points > 1_000_000 || durationSeconds < 1 || durationSeconds > 86_400) {
    problems.push(`${name} must be <count>/<seconds> (count 1 to 1000000, seconds 1 to 86400) or off (got "${raw}")`);
    return undefined;
  }
  return { points, durationSeconds };
}

/** A hop count, or a list Express's `trust proxy` (proxy-addr) accepts; checked here so a typo fails at start. */
function trustedProxies(get: Getter, problems: string[]): number | string[] {
  const raw = get('GATEHOUSE_TRUST_PROXY') ?? '';
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops <= 10) return hops;
  }
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const bad = entries.filter((entry) => !isProxyEntry(entry));
  if (entries.length === 0 || bad.length > 0) {
    problems.push(
      `GATEHOUSE_TRUST_PROXY must be a hop count from 0 to 10 or a comma list of addresses, CIDRs, loopback, linklocal, uniquelocal (got "${raw}")`,
    );
    return ['loopback'];
  }
  return entries;
}

function isProxyEntry(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function soapSettings(get: Getter, problems: string[], publicUrl: string, production: boolean): Config['soap'] {
  const externalAuth = oneOf('GATEHOUSE_EXTERNAL_AUTH', get, problems, ['enabled', 'disabled'] as const) === 'enabled';
  const bypassLoginPage =
    oneOf('GATEHOUSE_BYPASS_LOGIN_PAGE', get, problems, ['enabled', 'disabled'] as const) === 'enabled';
  if (bypassLoginPage && !externalAuth) {
    problems.push(
      'GATEHOUSE_BYPASS_LOGIN_PAGE=enabled needs GATEHOUSE_EXTERNAL_AUTH=enabled (there would be no way to sign in)',
    );
  }
  // The defaults derive from GATEHOUSE_PUBLIC_URL, which is checked on its own: only configured values are checked here.
  const configuredUris = get('GATEHOUSE_SOAP_REDIRECT_URIS')
    ?.split(',')
    .map((uri) => uri.trim())
    .filter((uri) => uri !== '');
  for (const uri of configuredUris ?? []) {
    // The code exchange sends redirect_uri without a query, so a RequestURL must have none.
    checkUrl('GATEHOUSE_SOAP_REDIRECT_URIS', uri, problems, production, { query: false, loopbackHttp: false });
  }
  const configuredUrl = get('GATEHOUSE_SOAP_URL');
  // Behind a TLS-terminating proxy Gatehouse may call its own /Session over loopback http.
  if (configuredUrl)
    checkUrl('GATEHOUSE_SOAP_URL', configuredUrl, problems, production, { query: true, loopbackHttp: true });
  return {
    externalAuth,
    bypassLoginPage,
    // Gatehouse's own browser side (/external/login) must keep working whatever else is listed.
    redirectUris: [...new Set([...(configuredUris ?? []), `${publicUrl}/external/callback`])],
    url: configuredUrl ?? `${publicUrl}/Session`,
  };
}

/** An absolute http(s) URL without fragment; https in production unless `loopbackHttp` and a loopback host. */
function checkUrl(
  name: string,
  raw: string,
  problems: string[],
  production: boolean,
  allow: { query: boolean; loopbackHttp: boolean },
): void {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    problems.push(`${name} must hold absolute http(s) URLs (got "${raw}")`);
    return;
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    problems.push(`${name} must hold http(s) URLs (got "${raw}")`);
  } else if (production && parsed.protocol === 'http:' && !(allow.loopbackHttp && loopback)) {
    problems.push(`${name} must use https in production (got "${raw}")`);
  }
  if (raw.includes('#')) problems.push(`${name} must not have a fragment (got "${raw}")`);
  if (!allow.query && parsed.search) problems.push(`${name} must not have a query (got "${raw}")`);
}

/**
 * GATEHOUSE_SESSION_SECRET as a list, newest first. One secret (the usual case) is a list of
 * one; a comma separates secrets, which base64 and hex secrets never contain.
 */
function sessionSecrets(raw: string, problems: string[]): string[] {
  const secrets = raw.split(',').map((part) => part.trim());
  if (secrets.length === 1) {
    if (raw.length < 32) problems.push(`GATEHOUSE_SESSION_SECRET must be at least 32 characters (got ${raw.length})`);
    return [raw];
  }
  secrets.forEach((part, i) => {
    if (part.length < 32)
      problems.push(
        `GATEHOUSE_SESSION_SECRET: secret ${i + 1} of ${secrets.length} must be at least 32 characters (got ${part.length}); the list is comma-separated, newest first`,
      );
  });
  if (new Set(secrets).size !== secrets.length)
    problems.push('GATEHOUSE_SESSION_SECRET lists the same secret twice; list each once, newest first');
  return secrets;
}

/**
 * The Redis deployment: exactly one of GATEHOUSE_REDIS_URL (one server),
 * GATEHOUSE_REDIS_SENTINELS with GATEHOUSE_REDIS_SENTINEL_MASTER, or GATEHOUSE_REDIS_CLUSTER.
 */
function redisTopology(get: Getter, problems: string[]): RedisTopology | undefined {
  const url = get('GATEHOUSE_REDIS_URL');
  const sentinels = get('GATEHOUSE_REDIS_SENTINELS');
  const cluster = get('GATEHOUSE_REDIS_CLUSTER');
  const given = [
    url && 'GATEHOUSE_REDIS_URL',
    sentinels && 'GATEHOUSE_REDIS_SENTINELS',
    cluster && 'GATEHOUSE_REDIS_CLUSTER',
  ];
  const named = given.filter((name): name is string => Boolean(name));
  if (named.length === 0) {
    problems.push(
      'GATEHOUSE_REDIS_URL is required when GATEHOUSE_STORE=redis (e.g. redis://127.0.0.1:6379), or GATEHOUSE_REDIS_SENTINELS or GATEHOUSE_REDIS_CLUSTER',
    );
    return undefined;
  }
  if (named.length > 1) {
    problems.push(`${named.join(' and ')} are both set: set one of them, for the one Redis deployment to use`);
    return undefined;
  }
  if (url) {
    if (!/^rediss?:\/\//.test(url)) {
      problems.push(
        'GATEHOUSE_REDIS_URL must start with redis:// or rediss:// (e.g. redis://:password@host:6379; the value is not shown, it may hold a password)',
      );
      return undefined;
    }
    return { kind: 'single', url };
  }
  const tls = oneOf('GATEHOUSE_REDIS_TLS', get, problems, ['false', 'true'] as const) === 'true';
  const username = get('GATEHOUSE_REDIS_USERNAME');
  const password = get('GATEHOUSE_REDIS_PASSWORD');
  const auth = { tls, ...(username ? { username } : {}), ...(password ? { password } : {}) };
  if (cluster) return { kind: 'cluster', nodes: nodeAddresses('GATEHOUSE_REDIS_CLUSTER', cluster, problems), ...auth };
  const masterName = get('GATEHOUSE_REDIS_SENTINEL_MASTER');
  if (!masterName)
    problems.push(
      "GATEHOUSE_REDIS_SENTINEL_MASTER is required with GATEHOUSE_REDIS_SENTINELS: the master's name in `sentinel monitor <name> …` (e.g. mymaster)",
    );
  const sentinelPassword = get('GATEHOUSE_REDIS_SENTINEL_PASSWORD');
  return {
    kind: 'sentinel',
    sentinels: nodeAddresses('GATEHOUSE_REDIS_SENTINELS', sentinels!, problems),
    masterName: masterName ?? '',
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...auth,
  };
}

/** `host:port,host:port` as addresses; each bad entry is a problem naming it. */
function nodeAddresses(name: string, raw: string, problems: string[]): RedisNodeAddress[] {
  const nodes: RedisNodeAddress[] = [];
  for (const entry of raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      problems.push(`${name}: "${entry}" is not host:port (e.g. redis-0.redis:6379)`);
      continue;
    }
    nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  if (nodes.length === 0 && !problems.some((problem) => problem.startsWith(name)))
    problems.push(`${name} lists no node: give host:port,host:port,…`);
  return nodes;
}
