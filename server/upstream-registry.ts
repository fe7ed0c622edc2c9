import { existsSync, readFileSync } from 'node:fs';
import { describeJsonError } from './describe-json-error.ts';
import { reservedRequestHeaders } from './http/header-names.ts';

/** Which access token Gatehouse sends to an upstream. */
export type UpstreamTokenKind = 'user' | 'client' | 'none';

/** One upstream API reachable at `/api/<name>/…`, validated. */
export interface Upstream {
  /** The route segment: `/api/<name>/…`. */
  name: string;
  /** Base URL without a trailing slash; request paths are appended to it. */
  url: string;
  /** `user`: the signed-in user's token; `client`: Gatehouse's client-credentials token; `none`. */
  token: UpstreamTokenKind;
  /** The `aud` the access token must carry; a JWT without it is never sent. */
  audience?: string;
  /** RFC 8707 resource indicator Gatehouse asks the IdP for when getting this upstream's token. */
  resource?: string;
  /** Scope requested for this upstream's token (space-separated). */
  scope?: string;
  /** Allowed methods, upper case; undefined allows every method. */
  methods?: string[];
  /** How long the upstream may take to answer (and to go quiet while streaming). */
  timeoutMs: number;
  /** The most bytes of one response passed on; undefined: no cap. */
  maxResponseBytes?: number;
  /** How long one whole exchange may take, response body included; undefined: no deadline. */
  deadlineMs?: number;
  /** Static request headers, values already resolved (some come from environment variables). */
  headers: Record<string, string>;
  /** A path (with query) that answers 200 for a signed-in user, e.g. `/user`: the snippets Gatehouse shows call it. */
  example?: string;
  /** Set when the upstream takes WebSockets at `/api/<name>/…` (`"websocket"` in the file). */
  websocket?: UpstreamWebSocket;
}

/** What an upstream that opted in to WebSockets allows (see docs/apis.md, "WebSockets"). */
export interface UpstreamWebSocket {
  /** Read-only API tokens may open sockets too (a socket carries writes, so off unless declared). */
  readOnlyTokens: boolean;
  /** Sockets are closed after this long, so the client reconnects with a fresh token; undefined: no limit. */
  maxLifetimeMs?: number;
}

/** The registry as written in the `GATEHOUSE_APIS` file (before validation). */
export interface UpstreamDefinition {
  name: string;
  url: string;
  token: UpstreamTokenKind;
  audience?: string;
  resource?: string;
  scopes?: string[] | string;
  methods?: string[];
  timeoutMs?: number;
  maxResponseBytes?: number;
  deadlineMs?: number;
  /** A value is either the header value or `{ "env": "VARIABLE" }` to read it from the environment. */
  headers?: Record<string, string | { env: string }>;
  /** A path below `url` that answers 200 for a signed-in user (`"/user"`), used in the snippets Gatehouse shows. */
  example?: string;
  /** `true`, or `{ "readOnlyTokens": true, "maxLifetimeMs": 3600000 }`. */
  websocket?: boolean | { readOnlyTokens?: boolean; maxLifetimeMs?: number };
}

const defaultTimeoutMs = 30_000;
const knownKeys = new Set([
  'name',
  'url',
  'token',
  'audience',
  'resource',
  'scopes',
  'methods',
  'timeoutMs',
  'maxResponseBytes',
  'deadlineMs',
  'headers',
  'example',
  'websocket',
]);
const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
// Gatehouse forwards only the methods above unless an upstream lists another (WebDAV's PROPFIND,
// say; the gate's method rule). CONNECT asks for a tunnel, which a request proxy cannot give.
const extensionMethod = /^[A-Z][A-Z0-9_-]{0,31}$/;

function isDeclarableMethod(method: string): boolean {
  return knownMethods.has(method) || (method !== 'CONNECT' && extensionMethod.test(method));
}
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
// Headers Gatehouse sets or strips itself: a registry entry may not smuggle them in.
const reservedHeaders = reservedRequestHeaders;

/**
 * Reads and validates the `GATEHOUSE_APIS` file. Problems are appended to `problems` (the
 * config loader reports them all at once); header values named `{ "env": "X" }` are looked up
 * in `env`, the environment the config loader read.
 */
export function loadUpstreamRegistry(
  file: string,
  env: Record<string, string | undefined>,
  problems: string[],
): Upstream[] {
  const where = `GATEHOUSE_APIS (${file})`;
  if (!existsSync(file)) {
    problems.push(`${where}: file not found`);
    return [];
  }
  let parsed: unknown;
  const text = readFileSync(file, 'utf8');
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    problems.push(`${where}: not valid JSON (${describeJsonError(text, error)})`);
    return [];
  }
  const entries = (parsed as { upstreams?: unknown } | null)?.upstreams;
  if (!Array.isArray(entries)) {
    problems.push(
      `${where}: must be an object with an "upstreams" array, e.g. {"upstreams": [{"name": "renku", "url": "https://renku.example/api", "token": "user"}]}`,
    );
    return [];
  }
  return validateUpstreams(entries, env, problems, where);
}

/** Validates registry entries (from the file, or built in code for the demo APIs). */
export function validateUpstreams(
  entries: unknown[],
  env: Record<string, string | undefined>,
  problems: string[],
  where = 'upstream registry',
): Upstream[] {
  const upstreams: Upstream[] = [];
  const names = new Set<string>();
  entries.forEach((entry, index) => {
    const label = `${where}: upstream ${typeof (entry as UpstreamDefinition)?.name === 'string' ? `"${(entry as UpstreamDefinition).name}"` : `#${index + 1}`}`;
    const before = problems.length;
    const upstream = validateUpstream(entry, env, (problem) => problems.push(`${label} ${problem}`));
    if (upstream && names.has(upstream.name)) problems.push(`${label} is declared twice`);
    if (upstream && problems.length === before) {
      names.add(upstream.name);
      upstreams.push(upstream);
    }
  });
  return upstreams;
}

function validateUpstream(
  entry: unknown,
  env: Record<string, string | undefined>,
  problem: (text: string) => void,
): Upstream | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    problem('must be an object');
    return undefined;
  }
  const raw = entry as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!knownKeys.has(key)) problem(`has an unknown member "${key}" (known: ${[...knownKeys].join(', ')})`);
  }

  const name = raw.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) {
    problem(`"name" must be 1–63 lower-case letters, digits, "-" or "_" (got ${JSON.stringify(name)})`);
  }

  let url = '';
  if (typeof raw.url !== 'string') {
    problem('"url" is required (the upstream\'s base URL, e.g. "https://renku.example/api")');
  } else {
    try {
      const parsed = new URL(raw.url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        problem(`"url" must be http or https (got "${raw.url}")`);
      if (parsed.search || parsed.hash) problem(`"url" must not have a query or fragment (got "${raw.url}")`);
      if (parsed.username || parsed.password)
        problem('"url" must not carry credentials; use "headers" with an environment variable');
      url = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
    } catch {
      problem(`"url" must be an absolute URL (got "${raw.url}")`);
    }
  }

  const token = raw.token;
  if (token !== 'user' && token !== 'client' && token !== 'none') {
    problem(`"token" must be "user", "client" or "none" (got ${JSON.stringify(token)})`);
  }

  const audience = optionalString(raw, 'audience', problem);
  const resource = optionalString(raw, 'resource', problem);
  if (resource !== undefined) {
    try {
      if (new URL(resource).hash) problem(`"resource" must not have a fragment (RFC 8707; got "${resource}")`);
    } catch {
      problem(`"resource" must be an absolute URI (RFC 8707; got "${resource}")`);
    }
  }

  let scope: string | undefined;
  if (raw.scopes !== undefined) {
    const list = typeof raw.scopes === 'string' ? raw.scopes.split(/\s+/).filter(Boolean) : raw.scopes;
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))
    ) {
      problem(`"scopes" must be a non-empty list of scope names (got ${JSON.stringify(raw.scopes)})`);
    } else {
      scope = list.join(' ');
    }
  }
  if (token === 'none' && (audience !== undefined || resource !== undefined || scope !== undefined)) {
    problem(
      'has "token": "none", so "audience", "resource" and "scopes" would never be used; remove them or choose "user" or "client"',
    );
  }

  let methods: string[] | undefined;
  if (raw.methods !== undefined) {
    const list = Array.isArray(raw.methods)
      ? raw.methods.map((m) => (typeof m === 'string' ? m.toUpperCase() : m))
      : undefined;
    if (!list || list.length === 0 || !list.every((m) => typeof m === 'string' && isDeclarableMethod(m))) {
      problem(
        `"methods" must be a non-empty list of ${[...knownMethods].join(', ')} or other method names such as PROPFIND (not CONNECT) (got ${JSON.stringify(raw.methods)})`,
      );
    } else {
      methods = [...new Set(list as string[])];
    }
  }

  let timeoutMs = defaultTimeoutMs;
  if (raw.timeoutMs !== undefined) {
    if (
      typeof raw.timeoutMs !== 'number' ||
      !Number.isInteger(raw.timeoutMs) ||
      raw.timeoutMs < 100 ||
      raw.timeoutMs > 600_000
    ) {
      problem(`"timeoutMs" must be a whole number from 100 to 600000 (got ${JSON.stringify(raw.timeoutMs)})`);
    } else {
      timeoutMs = raw.timeoutMs;
    }
  }

  // Both off by default: a download API may stream gigabytes for minutes; set them where an
  // upstream's answers have a known size and duration.
  let maxResponseBytes: number | undefined;
  if (raw.maxResponseBytes !== undefined) {
    if (
      typeof raw.maxResponseBytes !== 'number' ||
      !Number.isSafeInteger(raw.maxResponseBytes) ||
      raw.maxResponseBytes < 1
    ) {
      problem(
        `"maxResponseBytes" must be a whole number of bytes, at least 1 (got ${JSON.stringify(raw.maxResponseBytes)})`,
      );
    } else {
      maxResponseBytes = raw.maxResponseBytes;
    }
  }
  let deadlineMs: number | undefined;
  if (raw.deadlineMs !== undefined) {
    if (
      typeof raw.deadlineMs !== 'number' ||
      !Number.isInteger(raw.deadlineMs) ||
      raw.deadlineMs < 100 ||
      raw.deadlineMs > 3_600_000
    ) {
      problem(`"deadlineMs" must be a whole number from 100 to 3600000 (got ${JSON.stringify(raw.deadlineMs)})`);
    } else {
      deadlineMs = raw.deadlineMs;
    }
  }

  const headers: Record<string, string> = {};
  if (raw.headers !== undefined) {
    if (typeof raw.headers !== 'object' || raw.headers === null || Array.isArray(raw.headers)) {
      problem('"headers" must be an object of header names to values');
    } else {
      for (const [header, value] of Object.entries(raw.headers)) {
        const resolved = headerValue(header, value, token, env, problem);
        if (resolved !== undefined) headers[header.toLowerCase()] = resolved;
      }
    }
  }

  const example = examplePath(raw.example, problem);
  const websocket = websocketOption(raw.websocket, problem);

  if (typeof name !== 'string' || !url || (token !== 'user' && token !== 'client' && token !== 'none'))
    return undefined;
  return {
    name,
    url,
    token,
    ...(audience !== undefined ? { audience } : {}),
    ...(resource !== undefined ? { resource } : {}),
    ...(scope !== undefined ? { scope } : {}),
    ...(methods ? { methods } : {}),
    timeoutMs,
    ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    headers,
    ...(example !== undefined ? { example } : {}),
    ...(websocket ? { websocket } : {}),
  };
}

const websocketKeys = new Set(['readOnlyTokens', 'maxLifetimeMs']);

/** `"websocket"`: absent or false (no sockets), true, or an object of {@link UpstreamWebSocket} options. */
function websocketOption(value: unknown, problem: (text: string) => void): UpstreamWebSocket | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { readOnlyTokens: false };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem(
      `"websocket" must be true, false or an object such as {"readOnlyTokens": true, "maxLifetimeMs": 3600000} (got ${JSON.stringify(value)})`,
    );
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  let valid = true;
  for (const key of Object.keys(raw)) {
    if (!websocketKeys.has(key)) {
      problem(`"websocket" has an unknown member "${key}" (known: ${[...websocketKeys].join(', ')})`);
      valid = false;
    }
  }
  if (raw.readOnlyTokens !== undefined && typeof raw.readOnlyTokens !== 'boolean') {
    problem(`"websocket.readOnlyTokens" must be true or false (got ${JSON.stringify(raw.readOnlyTokens)})`);
    valid = false;
  }
  const lifetime = raw.maxLifetimeMs;
  if (
    lifetime !== undefined &&
    (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime < 1000 || lifetime > 7 * 86_400_000)
  ) {
    problem(
      `"websocket.maxLifetimeMs" must be a whole number from 1000 to 604800000 (got ${JSON.stringify(lifetime)})`,
    );
    valid = false;
  }
  if (!valid) return undefined;
  return {
    readOnlyTokens: raw.readOnlyTokens === true,
    ...(typeof lifetime === 'number' ? { maxLifetimeMs: lifetime } : {}),
  };
}

/**
 * `"example"`: a path below the upstream's `url`, with an optional query, that answers 200 for a
 * signed-in user. It is pasted into snippets as `/api/<name><example>`, so it must be a plain
 * path that the proxy would accept: no scheme or host, no `..`, no fragment, no spaces.
 */
function examplePath(value: unknown, problem: (text: string) => void): string | undefined {
  if (value === undefined) return undefined;
  const valid =
    typeof value === 'string' &&
    // URL characters that need no quoting in a shell, Python or R string literal.
    /^\/[A-Za-z0-9\-._~%!*+,;=:@/?&]*$/.test(value) &&
    !value.startsWith('//') &&
    !value
      .split('?')[0]!
      .split('/')
      .some((segment) => segment === '..' || segment === '.');
  if (!valid) {
    problem(
      `"example" must be a path starting with "/" (a query may follow; no spaces, quotes, "..", "#" or host), e.g. "/user" (got ${JSON.stringify(value)})`,
    );
    return undefined;
  }
  return value;
}

function headerValue(
  header: string,
  value: unknown,
  token: unknown,
  env: Record<string, string | undefined>,
  problem: (text: string) => void,
): string | undefined {
  const lower = header.toLowerCase();
  if (!headerName.test(header)) {
    problem(`header "${header}" is not a valid header name`);
    return undefined;
  }
  // An upstream without a Gatehouse token may take a static Authorization (an API key scheme).
  if (
    (reservedHeaders.has(lower) && !(lower === 'authorization' && token === 'none')) ||
    lower.startsWith('x-forwarded-')
  ) {
    problem(`header "${header}" is set by Gatehouse and cannot be configured`);
    return undefined;
  }
  let resolved: string | undefined;
  if (typeof value === 'string') {
    resolved = value;
  } else if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { env?: unknown }).env === 'string' &&
    Object.keys(value).length === 1
  ) {
    const variable = (value as { env: string }).env;
    resolved = env[variable]?.trim();
    if (!resolved) {
      problem(`header "${header}" reads the environment variable ${variable}, which is not set`);
      return undefined;
    }
  } else {
    problem(`header "${header}" must be a string or {"env": "VARIABLE_NAME"}`);
    return undefined;
  }
  if (/[\r\n\0]/.test(resolved)) {
    problem(`header "${header}" has a line break or NUL in its value`);
    return undefined;
  }
  return resolved;
}

function optionalString(
  raw: Record<string, unknown>,
  key: string,
  problem: (text: string) => void,
): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    problem(`"${key}" must be a non-empty string (got ${JSON.stringify(value)})`);
    return undefined;
  }
  return value.trim();
}
