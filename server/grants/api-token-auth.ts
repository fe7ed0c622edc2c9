import type { ServerResponse } from 'node:http';
import { AppError } from '../errors.ts';
import type { Grant, GrantStore } from './grant-store.ts';
import type { ApiToken, ApiTokenStore } from './api-token-store.ts';

/** Where users create and revoke tokens. */
export const tokensPageUrl = '/tokens';

const readMethods = new Set(['GET', 'HEAD']);

/**
 * Checks a presented API token and what it may do with this request, and returns its grant.
 * Refusals: unknown, revoked or expired → 401 `invalid_token` (RFC 6750 challenge); its IdP
 * grant ended → 401 `session_expired`; anything but `/api/<name>/…` within its upstreams and
 * methods, or `GET /auth/user` → 403 `token_scope`. A token never reaches the pages or the
 * routes that manage tokens and sessions.
 */
export async function authenticateApiToken(
  tokens: ApiTokenStore,
  grants: GrantStore,
  request: TokenUse,
  res: ServerResponse,
  secret: string,
): Promise<{ grant: Grant; token: ApiToken }> {
  const resolved = await tokens.resolve(secret);
  if (resolved.status === 'invalid') {
    throw invalidBearer(
      res,
      new AppError('invalid_token', 'This API token is unknown, revoked or expired.', {
        details: { tokensUrl: tokensPageUrl },
      }),
    );
  }
  if (resolved.status === 'grant_ended') throw invalidBearer(res, tokenGrantEnded());
  checkTokenScope(resolved.token, request);
  await grants.markUsed(resolved.grant);
  return { grant: resolved.grant, token: resolved.token };
}

/** What an API token is used for: the method and the path (without its query). */
export interface TokenUse {
  method: string;
  path: string;
}

/** `error` with the RFC 6750 challenge that tells a script its bearer token is no good. */
function invalidBearer(res: ServerResponse, error: AppError): AppError {
  res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
  return error;
}

/** 401 when the IdP no longer honours the token's grant: only a new token helps. */
export function tokenGrantEnded(): AppError {
  return new AppError(
    'session_expired',
    `This API token's sign-in at the identity provider has ended; create a new token at ${tokensPageUrl}.`,
    {
      details: { tokensUrl: tokensPageUrl },
    },
  );
}

/** 403 `token_scope` unless the request is one the token may make. */
function checkTokenScope(token: ApiToken, req: TokenUse): void {
  const allowed = { upstreams: token.upstreams ?? 'all', readOnly: token.readOnly };
  const refuse = (message: string): AppError => new AppError('token_scope', message, { details: allowed });
  if (req.path === '/auth/user' && readMethods.has(req.method)) return;
  const api = /^\/api\/([^/]*)/.exec(req.path);
  if (!api) throw refuse('An API token reaches only /api/<name>/… and GET /auth/user.');
  // Raw, as the /api router looks it up: an encoded name reaches no upstream either way.
  const name = api[1]!;
  if (token.upstreams && !token.upstreams.includes(name)) {
    throw refuse(`This API token may reach only ${token.upstreams.map((u) => `/api/${u}/`).join(', ')}.`);
  }
  if (token.readOnly && !readMethods.has(req.method))
    throw refuse('This API token is read-only: it may send only GET and HEAD.');
}

/**
 * For a request made with an API token: a refresh the IdP refused ends the token's grant, and
 * the script is told to make a new token rather than to "sign in again".
 */
export function apiTokenError(err: unknown, res: ServerResponse): unknown {
  return err instanceof AppError && err.code === 'session_expired' ? invalidBearer(res, tokenGrantEnded()) : err;
}
