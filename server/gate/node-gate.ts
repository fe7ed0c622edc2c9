import { setBounded } from '../bounded-map.ts';
import type { AppDeps } from '../deps.ts';
import { sendJsonError } from '../error-handler.ts';
import { storeUnavailable } from '../errors.ts';
import { clearSessionCookie, readCookie } from '../http/cookies.ts';
import type { RequestListener } from '../http/request-listener.ts';
import { requestContext } from '../log.ts';
import { resignSessionCookie, verifySessionCookie } from '../session/session-cookie.ts';
import { sessionStoreFor } from '../session/session-middleware.ts';
import type { SessionStoreAdapter } from '../session/session-store.ts';
import type { BrowserSession } from './caller.ts';
import { type Gate, type GateHost, GateRequest, passGate, refused } from './gate.ts';
import { proxiedApiRoute } from './routes.ts';

/** How many verified session cookies the fast path remembers (about 100 bytes each). */
const maxVerifiedCookies = 10_000;
/** How many sessions' grant ids the fast path remembers, to read the grant beside the session. */
const maxKnownGrantIds = 10_000;

/** The fast path's side of the gate's host: the session record read straight from the store. */
export class FastPathHost implements GateHost {
  // A browser sends the same cookie on every call: its signature is checked once (HMAC-SHA256),
  // not on every call. Only cookies with a valid signature are remembered.
  private readonly verifiedCookies = new Map<string, string>();
  // A session's grant id is fixed for the session's life (a new sign-in gets a new session id),
  // so the grant record can be read together with the session record: with Redis both reads
  // go out in one write, one round trip. Both are read for this request, after it arrived, so
  // a logout on any instance is seen exactly as before; a grant id that no longer matches the
  // session's is simply read again by the caller lookup.
  private readonly grantIds = new Map<string, string>();
  private readonly sessions: SessionStoreAdapter;

  constructor(
    private readonly deps: Pick<AppDeps, 'config' | 'store' | 'clock' | 'grants'>,
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
    const id = this.sessionIdOf(cookie, res);
    const knownGrantId = id === undefined ? undefined : this.grantIds.get(id);
    const grantRead = knownGrantId === undefined ? undefined : this.deps.grants.get(knownGrantId);
    // Not left unhandled if the session read fails first; the lookup gets the rejection if it asks.
    grantRead?.catch(() => {});
    const data =
      id === undefined
        ? undefined
        : await sessions.read(id).catch((error: unknown) => {
            throw storeUnavailable(error);
          });
    if (id !== undefined) {
      if (data?.grantId) setBounded(this.grantIds, id, data.grantId, maxKnownGrantIds);
      else this.grantIds.delete(id);
    }
    return {
      grant: (grantId) => (grantId === knownGrantId ? grantRead : undefined),
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

  private sessionIdOf(cookie: string | undefined, res: GateRequest['res']): string | undefined {
    if (cookie === undefined) return undefined;
    const known = this.verifiedCookies.get(cookie);
    if (known !== undefined) return known;
    const { secrets } = this.deps.config.session;
    const verified = verifySessionCookie(cookie, secrets);
    if (verified === undefined) return undefined;
    // Signed with an older secret (a rotation): re-signed for the browser, and not remembered,
    // so this costs a few HMACs until the browser sends the new cookie.
    if (!verified.current)
      resignSessionCookie(res, this.sessionCookie, verified.id, secrets, this.deps.config.secureCookies);
    else setBounded(this.verifiedCookies, cookie, verified.id, maxVerifiedCookies);
    return verified.id;
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
  deps: Pick<AppDeps, 'config' | 'store' | 'clock' | 'grants'>,
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
