import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrowserSession } from '../auth/find-caller.ts';
import { setBounded } from '../bounded-map.ts';
import type { AppDeps } from '../deps.ts';
import { storeUnavailable } from '../errors.ts';
import { clearSessionCookie, cookieNames, readCookie } from '../http/cookies.ts';
import { sessionIdFromCookie } from './session-cookie.ts';
import { sessionStoreFor } from './session-middleware.ts';

/** How many verified session cookies a reader remembers (about 100 bytes each). */
const maxVerifiedCookies = 10_000;

/** Reads the browser session a plain node:http request's cookie reaches. */
export interface BrowserSessionReader {
  /** The session as `findCaller` takes it. */
  read(req: IncomingMessage, res: ServerResponse): Promise<BrowserSession & { id: string | undefined }>;
}

/**
 * The browser session outside Express (the WebSocket upgrade), read from the records
 * express-session keeps, with the cookie checked by the same signer. A browser sends the same
 * cookie on every call, so its signature (HMAC-SHA256) is checked once and remembered; only
 * cookies with a valid signature are.
 */
export function browserSessionReader(deps: Pick<AppDeps, 'config' | 'store' | 'clock'>): BrowserSessionReader {
  const { config } = deps;
  const sessions = sessionStoreFor(deps);
  const sessionCookie = cookieNames(config.secureCookies).session;
  const verifiedCookies = new Map<string, string>();
  function sessionIdOf(cookie: string | undefined): string | undefined {
    if (cookie === undefined) return undefined;
    const known = verifiedCookies.get(cookie);
    if (known !== undefined) return known;
    const id = sessionIdFromCookie(cookie, config.session.secret);
    if (id !== undefined) setBounded(verifiedCookies, cookie, id, maxVerifiedCookies);
    return id;
  }

  return {
    async read(req, res) {
      const cookie = readCookie(req, sessionCookie);
      const id = sessionIdOf(cookie);
      const data =
        id === undefined
          ? undefined
          : await sessions.read(id).catch((error: unknown) => {
              throw storeUnavailable(error);
            });
      return {
        id,
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
    },
  };
}
