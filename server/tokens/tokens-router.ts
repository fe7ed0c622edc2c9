import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { AppDeps } from '../deps.ts';
import type { AuthorizationCompletion } from '../auth/auth-router.ts';
import { AppError, unauthenticated } from '../errors.ts';
import type { Grant } from '../grants/grant-store.ts';
import { answersIn } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { TokenCipher } from '../grants/token-cipher.ts';
import { exampleCall } from './example-call.ts';
import { readableTime } from '../readable-time.ts';
import type { ApiToken, ApiTokenStore } from '../grants/api-token-store.ts';
import type { ApiTokenIssuer, PendingToken } from './token-issuer.ts';
import { revokeApiToken } from '../grants/revoke-api-token.ts';
import { lifetimeChoices, parseTokenRequest } from './token-request.ts';

/** What the token routes need besides the app's dependencies. */
export interface TokensRouterOptions {
  apiTokens: ApiTokenStore;
  issuer: ApiTokenIssuer;
  /** Names of the declared upstreams, offered on the form. */
  upstreamNames: readonly string[];
  /** Each upstream's declared `example` path, by name: what the snippets call. */
  upstreamExamples?: Readonly<Record<string, string>>;
}

/** The purpose kind of a token's authorization at the IdP, started from /tokens. */
export const apiTokenPurpose = 'api_token';

/** One token as its user sees it: never the secret. */
export interface TokenSummary {
  id: string;
  name: string;
  createdAt: string;
  /** Null until a script first uses it. */
  lastUsedAt: string | null;
  expiresAt: string;
  upstreams: string[] | 'all';
  readOnly: boolean;
  /** False: the token ends with the IdP session (the IdP did not grant offline_access). */
  offline: boolean;
  /** False once its IdP grant has ended: the token only answers 401 session_expired then. */
  active: boolean;
  clientName?: string;
}

const tokenIdPattern = /^[\w-]{16}$/;

// Bound as associated data: a sealed token secret opens only as the secret of that token id.
const createdSecretContext = (id: string): string => `created-api-token:${id}`;

/** Only a signed-in browser session manages tokens; an API token or a SOAP handle never can. */
const requireBrowserSession: RequestHandler = (req, _res, next) => {
  // The gate refused every other caller (gate/routes.ts: these routes are for browsers only).
  if (!req.grant || req.credential !== 'cookie') return next(unauthenticated());
  next();
};

/**
 * `/tokens` (the page: list, create form, revoke buttons) and `/auth/tokens` (JSON: `GET` lists,
 * `DELETE /:id` with `X-CSRF: 1` revokes). Returns both routers and the callback completion.
 */
export function tokensRouters(
  deps: AppDeps,
  options: TokensRouterOptions,
): { page: Router; json: Router; complete: AuthorizationCompletion } {
  const { config, grants } = deps;
  const { apiTokens, issuer } = options;
  const choices = lifetimeChoices(config.apiTokens.maxDays);
  const cipher = new TokenCipher(config.session.secrets);
  const upstreams = options.upstreamNames.map((name) => {
    const example = options.upstreamExamples?.[name];
    return example === undefined ? { name } : { name, example };
  });
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 50 });

  const page = Router();
  page.use(noStore);

  page.get('/', async (req, res) => {
    if (!req.grant) return res.redirect(302, '/auth/login?returnTo=%2Ftokens');
    res.render('tokens', {
      tokens: await summaries(req.grant),
      csrfToken: req.session?.csrfToken ?? '',
      choices,
      upstreamNames: options.upstreamNames,
      offlineRequested: config.apiTokens.scopes.split(/\s+/).includes('offline_access'),
      publicUrl: config.publicUrl,
      example: exampleCall(upstreams),
      memoryStore: config.store === 'memory',
      readableTime,
    });
  });

  // The one-time page of a new token: the callback redirects here, so a reload or a restored tab
  // asks for this page again, never the spent callback URL. The secret waits sealed in the
  // session and is taken on the first view; later views say where the token is listed.
  page.get('/:id/created', async (req, res) => {
    // The gate refused every caller but a browser session (gate/routes.ts).
    if (!req.grant) return res.redirect(302, '/auth/login?returnTo=%2Ftokens');
    const id = String(req.params.id);
    const token = tokenIdPattern.test(id) ? await apiTokens.get(id) : undefined;
    if (!token || token.sub !== req.grant.sub)
      throw new AppError('token_not_found', 'You have no such token; it may have been revoked or expired.');
    let secret: string | undefined;
    const waiting = req.session?.createdApiToken;
    if (waiting?.id === id) {
      delete req.session!.createdApiToken;
      try {
        secret = cipher.open(waiting.sealedSecret, createdSecretContext(id));
      } catch {
        // Sealed under another session secret (a restart in development): it cannot be shown.
      }
    }
    const grant = await grants.get(token.grantId);
    res.render('token-created', {
      token: summary(token, grant, undefined),
      secret,
      publicUrl: config.publicUrl,
      example: exampleCall(upstreams, token.upstreams),
      readableTime,
    });
  });

  page.post('/', form, requireBrowserSession, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const request = parseTokenRequest(
      { name: body.name, expiresInDays: body.expires_in_days, upstreams: body.upstreams, readOnly: body.read_only },
      { maxDays: config.apiTokens.maxDays, upstreams: options.upstreamNames },
    );
    const pending: PendingToken = { request, sub: req.grant!.sub };
    const url = await issuer.start(req, res, apiTokenPurpose, pending, '/tokens');
    res.redirect(303, url);
  });

  page.post('/:id/revoke', form, requireBrowserSession, async (req, res) => {
    await revokeOwn(req);
    res.redirect(303, '/tokens');
  });

  const json = answersIn('json', Router());
  json.use(noStore);
  json.get('/', requireBrowserSession, async (req, res) => {
    res.json({ tokens: await summaries(req.grant!) });
  });
  json.delete('/:id', requireBrowserSession, async (req, res) => {
    await revokeOwn(req);
    res.status(204).end();
  });

  /** Revokes one of the caller's tokens and ends its grant at the IdP; anyone else's is "not found". */
  async function revokeOwn(req: Request): Promise<void> {
    const id = String(req.params.id);
    const caller = req.grant!;
    const token = tokenIdPattern.test(id) ? await apiTokens.get(id) : undefined;
    if (!token || token.sub !== caller.sub)
      throw new AppError('token_not_found', 'You have no such token; it may have been revoked or expired.');
    // Its own grant: revoking its refresh token ends only that grant at the IdP.
    await revokeApiToken(deps, apiTokens, token);
  }

  async function summaries(caller: Grant): Promise<TokenSummary[]> {
    const list = await apiTokens.listBySub(caller.sub);
    // A token whose grant has ended is of no use any more: it is listed until revoked, as ended.
    return Promise.all(
      list.map(async ({ token, grant }) => summary(token, grant, grant ? await grants.usedAt(grant) : undefined)),
    );
  }

  const complete: AuthorizationCompletion = async (req: Request, res: Response, signIn, data) => {
    const pending = data as PendingToken;
    const { token, secret } = await issuer.issue(req, signIn, pending);
    // issue() checked the browser is signed in (a cookie session): the secret waits there,
    // sealed, for the one-time page. It never goes into a URL.
    req.session!.createdApiToken = { id: token.id, sealedSecret: cipher.seal(secret, createdSecretContext(token.id)) };
    res.redirect(303, `/tokens/${token.id}/created`);
  };

  return { page, json, complete };
}

function summary(token: ApiToken, grant: Grant | undefined, lastUsedAt: number | undefined): TokenSummary {
  return {
    id: token.id,
    name: token.name,
    createdAt: new Date(token.createdAt).toISOString(),
    lastUsedAt: lastUsedAt === undefined ? null : new Date(lastUsedAt).toISOString(),
    expiresAt: new Date(Math.min(token.expiresAt, grant?.expiresAt ?? token.expiresAt)).toISOString(),
    upstreams: token.upstreams ?? 'all',
    readOnly: token.readOnly,
    offline: token.offline,
    active: grant !== undefined,
    ...(token.clientName ? { clientName: token.clientName } : {}),
  };
}
