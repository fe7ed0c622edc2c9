import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppDeps } from '../deps.ts';
import { requireSignedIn } from '../auth/find-caller.ts';
import { sendJsonError } from '../error-handler.ts';
import { AppError } from '../errors.ts';
import { admissionOf, type Gate, type GateRequest } from '../gate/gate.ts';
import { nodeGate } from '../gate/node-gate.ts';
import type { TokenRefresher } from '../grants/token-refresher.ts';
import type { RequestListener } from '../http/request-listener.ts';
import type { Logger } from '../log.ts';
import { apiTokenError } from '../grants/api-token-auth.ts';
import { audienceCheck } from './audience-check.ts';
import { upstreamAccessToken } from './upstream-access-token.ts';
import { upstreamRequestHeaders } from './proxy-headers.ts';
import { relayResponse } from './relay-response.ts';
import { sendUpstream, type UpstreamAddress, type UpstreamResponse, upstreamPool } from './send-upstream.ts';
import { upstreamPath } from './upstream-path.ts';
import type { Upstream } from '../upstream-registry.ts';

/** What the `/api` handler needs besides the app's dependencies. */
export interface ApiHandlerOptions {
  upstreams: readonly Upstream[];
  tokens: TokenRefresher;
  /** The gate every request passes first (the same one the pages pass). */
  gate: Gate;
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
  const { config, logger } = deps;
  const publicUrl = new URL(config.publicUrl);
  const basePath = publicUrl.pathname.replace(/\/+$/, '');
  const registry = new Map(options.upstreams.map((upstream) => [upstream.name, upstream]));
  const addresses = new Map(options.upstreams.map((upstream) => [upstream.name, addressOf(upstream)]));
  const pools = new Map([...addresses].map(([name, address]) => [name, upstreamPool(address)]));
  const accessTokenFor = upstreamAccessToken(options.tokens, audienceCheck(deps.idp.clientId, deps.idp, deps.clock));
  warnAboutUnboundTokens(options.upstreams, deps.logger);
  async function proxy(request: GateRequest): Promise<void> {
    const { req, res, requestId } = request;
    const grant = requireSignedIn(admissionOf(req, logger).caller);
    const { upstream, path } = resolveTarget(mountRelative(req.url ?? '/'), req.method ?? 'GET', res, registry);
    const hasBody = declaresBody(req);

    const address = addresses.get(upstream.name)!;
    const deadline = startDeadline(upstream, res);
    const clientIp = request.address;
    const send = (accessToken: string | undefined): Promise<UpstreamResponse> =>
      sendUpstream({
        upstreamName: upstream.name,
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
        pool: pools.get(upstream.name)!,
        caller: res,
        ...(deadline ? { deadline: { signal: deadline, ms: upstream.deadlineMs! } } : {}),
      });

    let response: UpstreamResponse;
    let accessToken: string | undefined;
    try {
      accessToken = await accessTokenFor(upstream, grant);
      response = await send(accessToken);
      if (accessToken !== undefined && !hasBody && response.statusCode === 401 && rejectsToken(response)) {
        // The upstream says the token is no good although it looked fresh (revoked, clock skew):
        // one forced refresh and one retry. A streamed body cannot be replayed, hence "no body".
        response.body.resume();
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

  /** Serves a request the gate admitted; every refusal is the error handler's JSON form. */
  async function serveAdmitted(request: GateRequest): Promise<void> {
    try {
      await proxy(request);
    } catch (error) {
      if (request.req.socket.destroyed) return; // the browser went away; nobody to answer
      const { res } = request;
      sendJsonError(res, request.caller.apiToken ? apiTokenError(error, res) : error, request.requestId, logger);
    }
  }

  return nodeGate(options.gate, deps, (path) => registry.get(upstreamNameOf(path))?.methods, serveAdmitted);
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

/** True when the request has a body. (A declared length over the limit was refused by the gate.) */
function declaresBody(req: IncomingMessage): boolean {
  const declared = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (declared !== undefined && Number(declared) > 0);
}

/** The upstream name in a path below the site root: `/api/<name>/…` → `<name>`. */
function upstreamNameOf(path: string): string {
  const nameEnd = path.indexOf('/', 5);
  return nameEnd === -1 ? path.slice(5) : path.slice(5, nameEnd);
}

export function rejectsToken(response: Pick<UpstreamResponse, 'headers'>): boolean {
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
export function mountRelative(url: string): string {
  const rest = url.slice('/api'.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The upstream's request-target: its base path and the caller's rest, always starting with `/`. */
export function requestTarget(basePath: string, path: string): string {
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
