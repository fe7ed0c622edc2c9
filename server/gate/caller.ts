import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionData } from 'express-session';
import type { Grant } from '../grants/grant-store.ts';
import type { ApiToken } from '../grants/api-token-store.ts';
import type { Credential } from './policy.ts';

/** Who is calling: a grant and how it was reached, or nobody. */
export interface Caller {
  grant?: Grant;
  /** How the request proved who it is: the browser session cookie or a bearer handle. */
  credential?: 'cookie' | 'bearer';
  /** The Gatehouse API token the request came with. */
  apiToken?: ApiToken;
}

/**
 * The browser session as the caller lookup sees it, whoever loaded it: express-session for the
 * pages, the `/api` fast path for proxied calls. Both keep the record in the same place, in the
 * same format (session/session-store.ts).
 */
export interface BrowserSession {
  /** The session cookie's value, if the request sent one. */
  cookie: string | undefined;
  /** The stored session the cookie reaches; undefined when it reaches none. */
  data: SessionData | undefined;
  /** Deletes the session record (the request goes on without a session). */
  end(): Promise<void>;
  /** Records that the session was seen at `now` (stored when the response is written, or now). */
  seen(now: number): void | Promise<void>;
  /** Tells the browser to drop the session cookie. */
  clearCookie(): void;
}

/** The parts of a request the caller lookup reads. */
export interface CallerRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request path without its query (for an API token's scope). */
  path: string;
  /** The client's address as the trusted proxies report it (for the failed-credential limit). */
  clientAddress(): string;
  /** The browser session, loaded only when the request has no bearer credential. */
  session(): BrowserSession | Promise<BrowserSession>;
}

/** The policy's name for how a caller came: its session cookie, a SOAP IdentityToken, an API token, or nothing that reached a grant. */
export function credentialOf(caller: Caller): Credential {
  if (!caller.grant || caller.credential === undefined) return 'none';
  if (caller.credential === 'cookie') return 'session_cookie';
  return caller.apiToken ? 'api_token' : 'identity_token';
}
