import { randomInt } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { AppDeps } from '../deps.ts';
import type { AuthorizationCompletion } from '../auth/auth-router.ts';
import { type ErrorCode, errorStatus } from '../error-codes.ts';
import { AppError, rateLimited } from '../errors.ts';
import { TokenCipher, UnknownSecretError } from '../grants/token-cipher.ts';
import { answersIn } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { addressKey, clientAddress, plainAddress } from '../http/rate-limits.ts';
import { hashHandle, randomHandle } from '../random.ts';
import { type PendingEntry, PendingQuota } from '../store/pending-quota.ts';
import type { ApiTokenIssuer, PendingToken } from './token-issuer.ts';
import { lifetimeChoices, parseTokenRequest, type TokenRequest } from './token-request.ts';

/** RFC 8628 §6.1: consonants only, so no word is spelled and no letter is mistaken for another. */
const userCodeAlphabet = 'BCDFGHJKLMNPQRSTVWXZ';
const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';
const expiresInSeconds = 600;
const intervalSeconds = 5;
/**
 * RFC 8628 §5.1: wrong user codes are limited per user (all their sessions, every instance: a
 * new sign-in must not reset the count) and per address (many users behind one guesser). Windows
 * follow the injected clock and the counts live in the store.
 */
const wrongCodeLimits = [
  { counts: 'user', max: 5, windowMs: 60_000 },
  { counts: 'address', max: 20, windowMs: 3_600_000 },
] as const;
/** Draws of a user code before giving up: each collides with a pending one at most 1 in 20^8/pending. */
const maxUserCodeDraws = 5;

// Control characters, and the bidi controls and zero-width characters that would let a program
// name itself so /device shows the user something else than it says (a reversed or hidden word).
const invisibleCharacters =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** Device authorizations one address (or IPv6 /64) may have pending; more ends its oldest. */
export const maxPendingDevicesPerAddress = 20;
/**
 * Device authorizations kept altogether; past it the addresses holding the most lose their
 * oldest (about 1 KB each with its user code and index entry: some 10 MB at the bound).
 */
export const maxPendingDevices = 10_000;

/** Shown when a program gave no `client_name`. */
const unnamedClient = 'an unnamed program';

/** The purpose kind of a device approval's authorization at the IdP. */
export const deviceApprovalPurpose = 'device_approval';

/** One device authorization, stored under the hash of its device_code. */
interface DeviceAuthorization {
  id: string;
  userCode: string;
  clientName: string;
  request: TokenRequest;
  ip: string;
  requestedAt: number;
  expiresAt: number;
  interval: number;
  status: 'pending' | 'approved' | 'denied';
  /** The approved token's secret, sealed, until the device collects it (once). */
  sealedToken?: string;
  tokenExpiresAt?: number;
  /** Where it is listed under the requester's address, to unlist it once answered. */
  pending?: PendingEntry;
}

/**
 * A device's polling, kept under `device-poll:<id>` apart from its authorization: a poll that
 * wrote the whole record back could overwrite an approval or denial made meanwhile.
 */
interface DevicePolling {
  lastPolledAt: number;
  interval: number;
}

/** What the device routes need besides the app's dependencies. */
export interface DeviceRouterOptions {
  issuer: ApiTokenIssuer;
  upstreamNames: readonly string[];
  /**
   * Middleware run before `POST /auth/device/code` (e.g. a per-IP rate limit); it is an open
   * endpoint, so a deployment should limit it.
   */
  codeRequestLimit?: RequestHandler[];
}

/**
 * Device sign-in (RFC 8628) with Gatehouse as the authorization server for its own API tokens:
 * `POST /auth/device/code` and `POST /auth/device/token` for the script (`endpoints`), and
 * `/device` where the signed-in user approves or denies (`page`). An approval creates the token
 * as /tokens does, through the IdP for a grant of its own, so any IdP works.
 */
export function deviceRouters(
  deps: AppDeps,
  options: DeviceRouterOptions,
): { endpoints: Router; page: Router; complete: AuthorizationCompletion } {
  const { config, store, clock, logger } = deps;
  const cipher = new TokenCipher(config.session.secrets);
  // Kept past its expiry (a late poll learns expired_token), so listed for twice that.
  const pendingDevices = new PendingQuota(store, {
    kind: 'device',
    perOwner: maxPendingDevicesPerAddress,
    total: maxPendingDevices,
    ttlMs: 2 * expiresInSeconds * 1000,
  });
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 20 });
  const verificationUri = `${config.publicUrl}/device`;
  const limits: ApprovalLimits = {
    defaultDays: config.apiTokens.deviceDefaultDays,
    maxDays: config.apiTokens.maxDays,
    upstreams: options.upstreamNames,
  };

  const endpoints = answersIn('json', Router());
  endpoints.use(noStore);

  endpoints.post('/code', ...(options.codeRequestLimit ?? []), form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const clientName =
      typeof body.client_name === 'string' ? body.client_name.trim().slice(0, 64).replace(invisibleCharacters, '') : '';
    const request = parseTokenRequest(
      {
        name: body.token_name,
        expiresInDays: body.expires_in_days,
        upstreams: body.upstreams,
        readOnly: body.read_only,
      },
      { maxDays: config.apiTokens.maxDays, upstreams: options.upstreamNames },
      clientName || 'device sign-in',
    );
    const deviceCode = randomHandle(32);
    const id = hashHandle(deviceCode);
    // Claimed first, so two pending requests never share a user code (20^8 codes: a collision is
    // rare, and a redraw ends it).
    let userCode = newUserCode();
    for (
      let attempt = 1;
      !(await store.setIfAbsent(`device-user:${userCode}`, id, expiresInSeconds * 1000));
      attempt++
    ) {
      if (attempt >= maxUserCodeDraws) throw new AppError('store_unavailable', 'No free user code; try again.');
      userCode = newUserCode();
    }
    const now = clock();
    const pending = pendingDevices.entry(
      addressKey(clientAddress(req)),
      [`device:${id}`, `device-user:${userCode}`],
      now,
    );
    const authorization: DeviceAuthorization = {
      pending,
      id,
      userCode,
      clientName: clientName || unnamedClient,
      request,
      ip: plainAddress(clientAddress(req)),
      requestedAt: now,
      expiresAt: now + expiresInSeconds * 1000,
      interval: intervalSeconds,
      status: 'pending',
    };
    // Kept past its expiry, so a late poll learns expired_token rather than invalid_grant.
    await store.set(`device:${authorization.id}`, JSON.stringify(authorization), 2 * expiresInSeconds * 1000);
    await pendingDevices.add(pending, now);
    const shown = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
    res.json({
      device_code: deviceCode,
      user_code: shown,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${shown}`,
      expires_in: expiresInSeconds,
      interval: intervalSeconds,
    });
  });

  endpoints.post('/token', form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const oauthError = (error: ErrorCode, description: string): void => {
      res.status(errorStatus[error]).json({ error, error_description: description });
    };
    if (typeof body.grant_type !== 'string') return oauthError('invalid_request', 'Send grant_type.');
    if (body.grant_type !== deviceCodeGrantType)
      return oauthError('unsupported_grant_type', `Only ${deviceCodeGrantType} is supported here.`);
    if (typeof body.device_code !== 'string' || body.device_code === '')
      return oauthError('invalid_request', 'Send one device_code.');
    const key = `device:${hashHandle(body.device_code)}`;
    const raw = await store.get(key);
    if (raw === undefined) return oauthError('invalid_grant', 'This device_code is unknown or was already used.');
    const authorization = JSON.parse(raw) as DeviceAuthorization;
    const now = clock();
    if (authorization.status === 'approved') {
      // Taken: of two polls racing for the token, one gets it.
      const taken = await store.take(key);
      if (taken === undefined) return oauthError('invalid_grant', 'This device_code was already used.');
      const approved = JSON.parse(taken) as DeviceAuthorization;
      if (approved.pending) await pendingDevices.release(approved.pending);
      let accessToken: string;
      try {
        accessToken = cipher.open(approved.sealedToken!, approved.id);
      } catch (error) {
        if (!(error instanceof UnknownSecretError)) throw error;
        // Approved, then the secret that sealed it was rotated out before the device collected it.
        logger.warn('device sign-in dropped: its token was sealed under a session secret no longer configured');
        return oauthError('invalid_grant', 'This device_code can no longer be used; start again.');
      }
      return res.json({
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: Math.max(0, Math.floor((approved.tokenExpiresAt! - now) / 1000)),
      });
    }
    if (now >= authorization.expiresAt) {
      if ((await store.take(key)) !== undefined && authorization.pending)
        await pendingDevices.release(authorization.pending);
      return oauthError('expired_token', 'The user did not approve in time; start again.');
    }
    if (authorization.status === 'denied') {
      if ((await store.take(key)) !== undefined && authorization.pending)
        await pendingDevices.release(authorization.pending);
      return oauthError('access_denied', 'The user denied this request.');
    }
    const pollKey = `device-poll:${authorization.id}`;
    const polledRaw = await store.get(pollKey);
    const polled = polledRaw === undefined ? undefined : (JSON.parse(polledRaw) as DevicePolling);
    const pollTtl = Math.max(1, authorization.expiresAt + expiresInSeconds * 1000 - now);
    if (polled !== undefined && now - polled.lastPolledAt < polled.interval * 1000) {
      const slower: DevicePolling = { lastPolledAt: now, interval: polled.interval + 5 };
      await store.set(pollKey, JSON.stringify(slower), pollTtl);
      return oauthError('slow_down', `Poll at most every ${slower.interval} seconds.`);
    }
    const interval = polled?.interval ?? authorization.interval;
    await store.set(pollKey, JSON.stringify({ lastPolledAt: now, interval } satisfies DevicePolling), pollTtl);
    return oauthError('authorization_pending', 'The user has not approved yet.');
  });

  const page = Router();
  page.use(noStore);

  page.get('/', async (req, res) => {
    const typed = typeof req.query.user_code === 'string' ? req.query.user_code.slice(0, 40) : '';
    if (!req.grant) {
      const returnTo = typed ? `/device?user_code=${encodeURIComponent(typed)}` : '/device';
      return res.redirect(302, `/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
    }
    const csrfToken = req.session?.csrfToken ?? '';
    if (!typed)
      return res.render('device', { step: 'enter', csrfToken, userCode: '', error: undefined, request: undefined });
    const found = await lookUp(req, typed);
    if (!found) {
      res.status(400);
      return res.render('device', {
        step: 'enter',
        csrfToken,
        userCode: typed,
        error: 'That code is not valid (or has expired). Check it and try again.',
        request: undefined,
      });
    }
    const approverAddress = plainAddress(clientAddress(req));
    res.render('device', {
      step: 'confirm',
      csrfToken,
      userCode: shownCode(found.userCode),
      error: undefined,
      request: describeRequest(found),
      choices: pageChoices(presetFor(found.request, limits), limits),
      approverAddress,
      // The same host or /64 is no warning: a laptop's two addresses, one NAT.
      addressDiffers: addressKey(approverAddress) !== addressKey(found.ip),
    });
  });

  page.post('/approve', form, async (req, res) => {
    const found = await decided(req);
    const pending: PendingToken = {
      // What the approver chose on the page, never the request's wishes as such.
      request: chosenRequest(found.request, req.body as Record<string, unknown>, limits),
      sub: req.grant!.sub,
      clientName: found.clientName,
      deviceId: found.id,
    };
    const url = await options.issuer.start(req, res, deviceApprovalPurpose, pending, '/device');
    res.redirect(303, url);
  });

  page.post('/deny', form, async (req, res) => {
    const found = await decided(req);
    // An approval's callback may be under way: the first answer stands.
    if (!(await store.setIfAbsent(`device-approved:${found.id}`, 'denied', 2 * expiresInSeconds * 1000)))
      throw new AppError('device_request_gone', 'This device request was already answered.');
    found.status = 'denied';
    await store.setIfPresent(
      `device:${found.id}`,
      JSON.stringify(found),
      Math.max(1, found.expiresAt + expiresInSeconds * 1000 - clock()),
    );
    await store.delete(`device-user:${found.userCode}`);
    logger.info('device sign-in denied', { sub: req.grant!.sub });
    res.render('device', {
      step: 'denied',
      csrfToken: '',
      userCode: '',
      error: undefined,
      request: describeRequest(found),
    });
  });

  // At /auth/callback, whose router sends no-store.
  const complete: AuthorizationCompletion = async (req: Request, res: Response, signIn, data) => {
    const pending = data as PendingToken;
    const key = `device:${pending.deviceId}`;
    const raw = await store.get(key);
    const found = raw === undefined ? undefined : (JSON.parse(raw) as DeviceAuthorization);
    // The code was exchanged: a refusal from here on revokes the new grant's refresh token, so
    // no offline token is left at the IdP that nothing here knows of.
    const refuse = async (message: string): Promise<never> => {
      if (signIn.tokens.refreshToken) await deps.idp.revoke(signIn.tokens.refreshToken, 'refresh_token');
      throw new AppError('device_request_gone', message);
    };
    if (found?.status !== 'pending' || clock() >= found.expiresAt) {
      return refuse('This device request has expired or was already answered; start again on the device.');
    }
    // Of two approvals racing (a double click, two tabs), one creates the token.
    if (!(await store.setIfAbsent(`device-approved:${found.id}`, '1', 2 * expiresInSeconds * 1000))) {
      return refuse('This device request was already answered.');
    }
    let issued: Awaited<ReturnType<ApiTokenIssuer['issue']>>;
    try {
      issued = await options.issuer.issue(req, signIn, pending);
    } catch (error) {
      await store.delete(`device-approved:${found.id}`); // nothing was created: the user may try again
      throw error;
    }
    const { token, secret, grant } = issued;
    found.status = 'approved';
    found.sealedToken = cipher.seal(secret, found.id);
    // The IdP's refresh token may end before the chosen lifetime.
    found.tokenExpiresAt = Math.min(token.expiresAt, grant.expiresAt);
    await store.setIfPresent(
      key,
      JSON.stringify(found),
      Math.max(1, found.expiresAt + expiresInSeconds * 1000 - clock()),
    );
    await store.delete(`device-user:${found.userCode}`);
    res.render('device', {
      step: 'approved',
      csrfToken: '',
      userCode: '',
      error: undefined,
      request: describeRequest(found),
    });
  };

  /**
   * The pending authorization a typed code names. Wrong codes are counted per user and per
   * address; while either is over its limit every code is refused (429 with Retry-After), the
   * right one too, so a guesser learns nothing from a lucky guess.
   */
  async function lookUp(req: Request, typed: string): Promise<DeviceAuthorization | undefined> {
    const now = clock();
    const address = clientAddress(req);
    const counters = wrongCodeLimits.map((limit) => {
      const window = Math.floor(now / limit.windowMs);
      const owner = limit.counts === 'user' ? hashHandle(req.grant!.sub) : addressKey(address);
      return {
        ...limit,
        key: `device-guesses:${limit.counts}:${owner}:${window}`,
        resetAt: (window + 1) * limit.windowMs,
      };
    });
    const locked = [];
    for (const counter of counters) if ((await store.members(counter.key)).length >= counter.max) locked.push(counter);
    if (locked.length > 0) {
      logger.warn('device codes locked', { sub: req.grant!.sub, clientIp: address, by: locked.map((c) => c.counts) });
      throw rateLimited(Math.max(...locked.map((counter) => counter.resetAt - now)) / 1000);
    }
    const code = typed.toUpperCase().replace(/[\s-]/g, '');
    const id =
      code.length === 8 && [...code].every((c) => userCodeAlphabet.includes(c))
        ? await store.get(`device-user:${code}`)
        : undefined;
    const raw = id === undefined ? undefined : await store.get(`device:${id}`);
    const found = raw === undefined ? undefined : (JSON.parse(raw) as DeviceAuthorization);
    if (found && found.status === 'pending' && now < found.expiresAt) return found;
    // Sets in the store (one random member per wrong code), so every instance counts.
    for (const counter of counters) await store.addToSet(counter.key, randomHandle(9), 2 * counter.windowMs);
    return undefined;
  }

  /** The authorization an Approve or Deny form names; only from a signed-in browser with the page's CSRF token. */
  async function decided(req: Request): Promise<DeviceAuthorization> {
    // The gate let only a signed-in browser with the page's form token (or X-CSRF: 1) through.
    if (!req.grant) throw new AppError('unauthenticated', 'Sign in first.');
    const typed = (req.body as Record<string, unknown>).user_code;
    const found = typeof typed === 'string' ? await lookUp(req, typed.slice(0, 40)) : undefined;
    if (!found) throw new AppError('invalid_user_code', 'That code is not valid (or has expired).');
    return found;
  }

  return { endpoints, page, complete };
}

function newUserCode(): string {
  return Array.from({ length: 8 }, () => userCodeAlphabet[randomInt(userCodeAlphabet.length)]).join('');
}

function shownCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** What bounds the token a device approval makes. */
interface ApprovalLimits {
  /** `GATEHOUSE_DEVICE_TOKEN_DEFAULT_DAYS` (never above the maximum). */
  defaultDays: number;
  maxDays: number;
  upstreams: readonly string[];
}

/**
 * What /device preselects: the request's wishes only within the defaults (its lifetime up to
 * the default, its APIs or all, and always read-only). An Approve click on a link a stranger
 * sent never gives more; more is the approver's own choice on the page.
 */
export function presetFor(wished: TokenRequest, limits: ApprovalLimits): TokenRequest {
  return {
    name: wished.name,
    days: Math.min(wished.days, limits.defaultDays),
    upstreams: wished.upstreams ?? [...limits.upstreams],
    readOnly: true,
  };
}

/** The form fields /device renders from a preset. */
function pageChoices(preset: TokenRequest, limits: ApprovalLimits): Record<string, unknown> {
  return {
    days: preset.days,
    lifetimes: lifetimeChoices(limits.maxDays)
      .concat(preset.days)
      .filter((d, i, all) => all.indexOf(d) === i)
      .sort((a, b) => a - b),
    upstreams: limits.upstreams.map((name) => ({ name, checked: preset.upstreams?.includes(name) ?? true })),
    readOnly: preset.readOnly,
  };
}

/**
 * The token the approver chose: the page's fields, each falling back to the preset when absent
 * (`access` absent is read-only; an unchecked box sends nothing, so read-write is a radio of its
 * own). `choices` marks a post from the page, where no API ticked means none, which is refused.
 */
export function chosenRequest(
  wished: TokenRequest,
  body: Record<string, unknown>,
  limits: ApprovalLimits,
): TokenRequest {
  const preset = presetFor(wished, limits);
  const fromPage = body.choices !== undefined;
  const upstreams = fromPage ? (body.upstreams ?? []) : preset.upstreams!;
  if (
    fromPage &&
    limits.upstreams.length > 0 &&
    (Array.isArray(upstreams) ? upstreams.length === 0 : upstreams === '')
  ) {
    throw new AppError('invalid_request', 'Choose at least one API the token may call.', {
      details: { field: 'upstreams' },
    });
  }
  if (body.access !== undefined && body.access !== 'read-only' && body.access !== 'read-write') {
    throw new AppError('invalid_request', 'Choose read-only or read-write.', { details: { field: 'access' } });
  }
  return parseTokenRequest(
    {
      name: wished.name,
      expiresInDays: body.expires_in_days ?? String(preset.days),
      upstreams,
      readOnly: body.access === 'read-write' ? '' : 'on',
    },
    { maxDays: limits.maxDays, upstreams: limits.upstreams },
  );
}

/** What the page shows about a request: what asks, for what, from where and when. */
function describeRequest(found: DeviceAuthorization): Record<string, unknown> {
  return {
    clientName: found.clientName,
    named: found.clientName !== unnamedClient,
    tokenName: found.request.name,
    days: found.request.days,
    upstreams: found.request.upstreams?.join(', ') ?? 'all',
    readOnly: found.request.readOnly,
    ip: plainAddress(found.ip),
    requestedAt: new Date(found.requestedAt).toISOString(),
  };
}
