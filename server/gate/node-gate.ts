import { setBounded } from '../bounded-map.ts';
import type { AppDeps } from '../deps.ts';
import { sendJsonError } from '../error-handler.ts';
import { storeUnavailable } from '../errors.ts';
import { clearSessionCookie, readCookie } from '../http/cookies.ts';
import type { RequestListener } from '../http/request-listener.ts';
import { requestContext } from '../log.ts';
import { sessionIdFromCookie } from '../session/session-cookie.ts';
import { sessionStoreFor } from '../session/session-middleware.ts';
import type { SessionStoreAdapter } from '../session/session-store.ts';
import type { BrowserSession } from './caller.ts';
import { type Gate, type GateHost, GateRequest, passGate, refused } from './gate.ts';
import { proxiedApiRoute } from './routes.ts';

/** How many verified session cookies the fast path remembers (about 100 bytes each). */
const maxVerifiedCookies = 10_000;

/** The fast path's side of the gate's host: the session record read straight from the store. */
export class FastPathHost implements GateHost {
  // A browser sends the same cookie on every call: its signature is checked once (HMAC-SHA256),
  // not on every call. Only cookies with a valid signature are remembered.
  private readonly verifiedCookies = new Map<string, string>();
  private readonly sessions: SessionStoreAdapter;

  constructor(
    private readonly deps: Pick<AppDeps, 'config' | 'store' | 'clock'>,
    private readonly sessionCookie: string,
    private readonly methodsOf: (path: string) => readonly string[] | undefined,
  ) {
    this.sessions = sessionStoreFor(deps);
  }

  loadSession(): undefined {
    return undefined;
  }

  /** The browser session the cookie reaches, read from the records express-session keeps. */
  async session(request: GateRequest): Promise<BrowserSession> {
    const { sessions } = this;
    const { secureCookies } = this.deps.config;
    const res = request.res;
    const cookie = readCookie(request.req, this.sessionCookie);
    const id = this.sessionIdOf(cookie);
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
      clearCookie: () => clearSessionCookie(res, secureCookies),
    };
  }

  private sessionIdOf(cookie: string | undefined): string | undefined {
    if (cookie === undefined) return undefined;
    const known = this.verifiedCookies.get(cookie);
    if (known !== undefined) return known;
    const id = sessionIdFromCookie(cookie, this.deps.config.session.secret);
    if (id !== undefined) setBounded(this.verifiedCookies, cookie, id, maxVerifiedCookies);
    return id;
  }

  declaredMethods(request: GateRequest): readonly string[] | undefined {
    return this.methodsOf(request.path);
  }

  formTokens(): undefined {
    return undefined; // `/api` has no forms
  }
}

/** What the fast path serves once the gate has admitted the request. */
export type AdmittedHandler = (request: GateRequest) => Promise<void>;

/**
 * The gate in front of the `/api` fast path (plain node:http): the same steps as the pages,
 * then `handler`. A refusal is the error handler's JSON form. `methodsOf` names the extra
 * methods an upstream declares (from the path below `/api`).
 */
export function nodeGate(
  gate: Gate,
  deps: Pick<AppDeps, 'config' | 'store' | 'clock'>,
  methodsOf: (path: string) => readonly string[] | undefined,
  handler: AdmittedHandler,
): RequestListener {
  const host = new FastPathHost(deps, gate.sessionCookie, methodsOf);
  return (req, res) => {
    const request = new GateRequest(req, res, host, proxiedApiRoute, pathOf(req.url ?? '/'));
    requestContext.run(request.context, serve, gate, request, handler);
  };
}

async function serve(gate: Gate, request: GateRequest, handler: AdmittedHandler): Promise<void> {
  try {
    await passGate(gate, request);
  } catch (error) {
    if (request.req.socket.destroyed) return; // the client went away; nobody to answer
    refused(request);
    sendJsonError(request.res, error, request.requestId, gate.logger);
    return;
  }
  await handler(request);
}

/** The path of a request-target, without its query. */
function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
