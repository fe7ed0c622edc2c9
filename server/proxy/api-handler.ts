import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { setBounded } from '../bounded-map.ts';
import type { AppDeps } from '../deps.ts';
import { findCaller, requireSignedIn, type Caller, type CallerDeps } from '../auth/find-caller.ts';
import { hasCsrfHeader } from '../auth/csrf.ts';
import { sendJsonError } from '../error-handler.ts';
import { AppError, storeUnavailable } from '../errors.ts';
import type { Grant } from '../grants/grant-store.ts';
import type { TokenRefresher } from '../grants/token-refresher.ts';
import { clearSessionCookie, cookieNames, readCookie } from '../http/cookies.ts';
import { beginRequest } from '../http/request-context.ts';
import type { RequestListener } from '../http/request-listener.ts';
import { clientAddressOf, type TrustProxy } from '../http/trust-proxy.ts';
import { type Logger, requestContext } from '../log.ts';
import { resignSessionCookie, verifySessionCookie } from '../session/session-cookie.ts';
import { sessionStoreFor } from '../session/session-middleware.ts';
import { apiTokenError } from '../tokens/api-token-auth.ts';
import type { ApiTokenStore } from '../tokens/api-token-store.ts';
import { audienceCheck } from './audience-check.ts';
import { upstreamRequestHeaders } from './proxy-headers.ts';
import { relayResponse } from './relay-response.ts';
import { payloadTooLarge, sendUpstream, type UpstreamAddress } from './send-upstream.ts';
import { upstreamPath } from './upstream-path.ts';
import type { Upstream } from './upstream-registry.ts';

/** How many verified session cookies the fast path remembers (about 100 bytes each). */
const maxVerifiedCookies = 10_000;

/** What the `/api` handler needs besides the app's dependencies. */
export interface ApiHandlerOptions {
  upstreams: readonly Upstream[];
  tokens: TokenRefresher;
  /** Gatehouse API tokens, when they are on. */
  apiTokens?: ApiTokenStore;
  /** Who may say who the client is (GATEHOUSE_TRUST_PROXY, compiled). */
  trust: TrustProxy;
  /** The security headers every response carries (helmet's, recorded once). */
  securityHeaders: ReadonlyArray<readonly [string, string]>;
}

/**
 * `ALL /api/<name>/<path>`: forwards to the declared upstream `<name>` with the access token
 * it needs, fresh and for the right audience. Each step either passes or refuses with a JSON
 * error before anything is sent upstream: signed in (401), `X-CSRF: 1` for cookie callers
 * (403), a declared upstream (404), an allowed method (405), a path that stays inside the
 * upstream (400), a body within the limit (413), a token (401/403/502/503). Bodies stream both
 * ways. An upstream 401 `invalid_token` to a request without a body gets one refresh and one retry.
 * The answer goes back through {@link relayResponse}: no policy for Gatehouse's origin, no
 * echoed token, within the upstream's `maxResponseBytes` and `deadlineMs`.
 *
 * This is the hot path, so it runs outside Express, on node:http, but through the same
 * functions as the pages: {@link beginRequest} (request id, one log line), the recorded
 * security headers, {@link findCaller} (who is calling, from the same session records
 * express-session keeps), {@link sendJsonError} (the error handler's JSON form).
 */
export function apiHandler(deps: AppDeps, options: ApiHandlerOptions): RequestListener {
  const { config, logger, clock } = deps;
  const publicUrl = new URL(config.publicUrl);
  const basePath = publicUrl.pathname.replace(/\/+$/, '');
  const registry = new Map(options.upstreams.map((upstream) => [upstream.name, upstream]));
  const addresses = new Map(options.upstreams.map((upstream) => [upstream.name, addressOf(upstream)]));
  const checkAudience = audienceCheck(deps.idp.clientId, deps.idp, deps.clock);
  warnAboutUnboundTokens(options.upstreams, deps.logger);
  // Keep-alive per upstream; idle sockets close before Node's default 5 s server keep-alive would.
  const agents = new Map(
    options.upstreams.map((upstream) => [
      upstream.name,
      new (upstream.url.startsWith('https:') ? https.Agent : http.Agent)({
        keepAlive: true,
        timeout: 4000,
        maxSockets: 256,
      }),
    ]),
  );
  const callerDeps: CallerDeps = {
    grants: deps.grants,
    clock,
    limits: config.session,
    rateLimits: deps.limits,
    ...(options.apiTokens ? { apiTokens: options.apiTokens } : {}),
  };
  const sessions = sessionStoreFor(deps);
  const sessionCookie = cookieNames(config.secureCookies).session;

  // A browser sends the same cookie on every call: its signature is checked once (HMAC-SHA256),
  // not on every call. Only cookies with a valid signature are remembered.
  const verifiedCookies = new Map<string, string>();
  function sessionIdOf(cookie: string | undefined, res: ServerResponse): string | undefined {
    if (cookie === undefined) return undefined;
    const known = verifiedCookies.get(cookie);
    if (known !== undefined) return known;
    const verified = verifySessionCookie(cookie, config.session.secrets);
    if (verified === undefined) return undefined;
    // Signed with an older secret (a rotation): re-signed for the browser, and not remembered,
    // so this costs a few HMACs until the browser sends the new cookie.
    if (!verified.current)
      resignSessionCookie(res, sessionCookie, verified.id, config.session.secrets, config.secureCookies);
    else setBounded(verifiedCookies, cookie, verified.id, maxVerifiedCookies);
    return verified.id;
  }

  /** The browser session the cookie reaches, read from the records express-session keeps. */
  async function browserSession(req: IncomingMessage, res: ServerResponse) {
    const cookie = readCookie(req, sessionCookie);
    const id = sessionIdOf(cookie, res);
    const data =
      id === undefined
        ? undefined
        : await sessions.read(id).catch((error: unknown) => {
            throw storeUnavailable(error);
          });
    return {
      cookie,
      data: data?.createdAt ? data : undefined,
      end: async () => {
        if (id !== undefined) await sessions.remove(id);
      },
      // Only while the record exists: a logout meanwhile must not be undone by this write.
      seen: async (now: number) => {
        if (id !== undefined && data) await sessions.writeIfPresent(id, { ...data, lastSeenAt: now });
      },
      clearCookie: () => clearSessionCookie(res, config.secureCookies),
    };
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, requestId: string, caller: Caller): Promise<void> {
    const grant = requireSignedIn(caller);
    if (caller.credential === 'cookie' && !hasCsrfHeader(req)) {
      // A page on another site can make the browser send Gatehouse's cookie, but not a custom
      // header without a CORS preflight, which Gatehouse never grants. Bearer callers (scripts,
      // SOAP handles) carry no ambient credential and need no such proof.
      throw new AppError('csrf_header_missing', 'API calls from the browser must send the header X-CSRF: 1.');
    }
    const { upstream, path } = resolveTarget(mountRelative(req.url ?? '/'), req.method ?? 'GET', res, registry);
    const hasBody = refuseLargeBody(req, res, config.proxy.maxBodyBytes);

    const address = addresses.get(upstream.name)!;
    const deadline = startDeadline(upstream, res);
    const clientIp = clientAddressOf(req, options.trust);
    const send = (accessToken: string | undefined): Promise<IncomingMessage> =>
      sendUpstream({
        upstreamName: upstream.name,
        address,
        path: requestTarget(address.basePath, path),
        method: req.method ?? 'GET',
        headers: upstreamRequestHeaders(req.headers, {
          clientIp,
          publicUrl,
          prefix: `/api/${upstream.name}`,
          requestId,
          headers: upstream.headers,
          accessToken,
        }),
        body: hasBody ? req : undefined,
        maxBodyBytes: config.proxy.maxBodyBytes,
        timeoutMs: upstream.timeoutMs,
        agent: agents.get(upstream.name)!,
        caller: res,
        ...(deadline ? { deadline: { signal: deadline, ms: upstream.deadlineMs! } } : {}),
      });

    let response: IncomingMessage;
    let accessToken: string | undefined;
    try {
      accessToken = await accessTokenFor(upstream, grant);
      response = await send(accessToken);
      if (accessToken !== undefined && !hasBody && response.statusCode === 401 && rejectsToken(response)) {
        // The upstream says the token is no good although it looked fresh (revoked, clock skew):
        // one forced refresh and one retry. A streamed body cannot be replayed, hence "no body".
        response.resume();
        accessToken = await accessTokenFor(upstream, grant, accessToken);
        response = await send(accessToken);
      }
    } catch (error) {
      // The rest of an oversized body is still on the connection: close it rather than read it.
      if (error instanceof AppError && error.status === 413) res.setHeader('Connection', 'close');
      throw error;
    }
    await relayResponse(response, res, {
      upstream,
      mountPath: `${basePath}/api/${upstream.name}`,
      accessToken,
      requestId,
      deadline,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    for (const [name, value] of options.securityHeaders) res.setHeader(name, value);
    let caller: Caller = {};
    try {
      caller = await findCaller(
        {
          req,
          res,
          path: pathOf(req.url ?? '/'),
          clientAddress: () => clientAddressOf(req, options.trust),
          session: () => browserSession(req, res),
        },
        callerDeps,
      );
      await proxy(req, res, requestId, caller);
    } catch (error) {
      if (req.socket.destroyed) return; // the browser went away; nobody to answer
      sendJsonError(res, caller.apiToken ? apiTokenError(error, res) : error, requestId, logger);
    }
  }

  async function accessTokenFor(upstream: Upstream, grant: Grant, rejected?: string): Promise<string | undefined> {
    if (upstream.token === 'none') return undefined;
    const need = {
      ...(upstream.resource !== undefined ? { resource: upstream.resource } : {}),
      ...(upstream.scope !== undefined ? { scope: upstream.scope } : {}),
    };
    const accessToken =
      upstream.token === 'user'
        ? await options.tokens.userAccessToken(grant, need, rejected)
        : await options.tokens.clientAccessToken(need, rejected);
    await checkAudience(accessToken, upstream);
    return accessToken;
  }

  return (req, res) => {
    const context = beginRequest(req, res, logger, clock, deps.observability);
    requestContext.run(context, () => void handle(req, res, context.requestId));
  };
}

/**
 * An upstream that gets the user's token with neither `audience` nor `resource` gets a token
 * that every API trusting this IdP accepts: it could replay it against them, and nothing checks
 * that the token was meant for it. Legitimate for some (Dataverse checks bearer tokens through
 * UserInfo, with no audience), so a warning at start, not an error.
 */
function warnAboutUnboundTokens(upstreams: readonly Upstream[], logger: Logger): void {
  for (const upstream of upstreams) {
    if (upstream.token !== 'user' || upstream.audience !== undefined || upstream.resource !== undefined) continue;
    logger.warn("upstream gets the user's access token without an audience or resource", {
      upstream: upstream.name,
      reason:
        'the token is not bound to this API: it can replay it against any other API that trusts the same IdP; declare "audience" (checked before sending) or "resource" (RFC 8707, a token minted for this API) where the IdP allows',
    });
  }
}

/** The declared upstream and the checked path, from the raw request target (not Express's decoded params). */
function resolveTarget(
  url: string,
  method: string,
  res: ServerResponse,
  registry: Map<string, Upstream>,
): { upstream: Upstream; path: string } {
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  const nameEnd = rawPath.indexOf('/', 1);
  const name = nameEnd === -1 ? rawPath.slice(1) : rawPath.slice(1, nameEnd);
  const upstream = registry.get(name);
  if (!upstream) {
    throw new AppError('unknown_upstream', 'No API is declared under that name.', {
      details: { upstreams: [...registry.keys()] },
    });
  }
  if (
    upstream.methods &&
    !upstream.methods.includes(method) &&
    !(method === 'HEAD' && upstream.methods.includes('GET'))
  ) {
    res.setHeader('Allow', upstream.methods.join(', '));
    throw new AppError('method_not_allowed', `The ${upstream.name} API accepts only ${upstream.methods.join(', ')}.`, {
      details: { allowed: upstream.methods },
    });
  }
  const path = upstreamPath(nameEnd === -1 ? '' : rawPath.slice(nameEnd));
  return { upstream, path: `${path}${query}` };
}

/** True when the request has a body; refuses a declared length over the limit before anything is sent. */
function refuseLargeBody(req: IncomingMessage, res: ServerResponse, maxBodyBytes: number): boolean {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBodyBytes) {
    // The unread body is still on its way: close the connection rather than read it all.
    res.setHeader('Connection', 'close');
    throw payloadTooLarge(maxBodyBytes);
  }
  return req.headers['transfer-encoding'] !== undefined || (declared !== undefined && Number(declared) > 0);
}

function rejectsToken(response: IncomingMessage): boolean {
  const challenge = response.headers['www-authenticate'];
  return (
    typeof challenge === 'string' && /^\s*bearer\b/i.test(challenge) && /error\s*=\s*"?invalid_token"?/i.test(challenge)
  );
}

/** An upstream's overall deadline as a signal, from now until the browser's response is done. */
function startDeadline(upstream: Upstream, res: ServerResponse): AbortSignal | undefined {
  if (upstream.deadlineMs === undefined) return undefined;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), upstream.deadlineMs);
  res.once('close', () => clearTimeout(timer));
  return controller.signal;
}

/**
 * The request-target below `/api`, as the old Express mount saw it: `/api/u/x?q` → `/u/x?q`,
 * `/api` → `/`. The listener sends only targets starting with `/api` (any case) here.
 */
function mountRelative(url: string): string {
  const rest = url.slice('/api'.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The path of a request-target, without its query. */
function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

/** The upstream's request-target: its base path and the caller's rest, always starting with `/`. */
function requestTarget(basePath: string, path: string): string {
  const target = `${basePath}${path}`;
  return target.startsWith('/') ? target : `/${target}`;
}

function addressOf(upstream: Upstream): UpstreamAddress & { basePath: string } {
  const url = new URL(upstream.url);
  return {
    protocol: url.protocol as 'http:' | 'https:',
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
    basePath: url.pathname.replace(/\/+$/, ''),
  };
}
