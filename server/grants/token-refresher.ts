import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.ts';
import { isErrorCode } from '../error-codes.ts';
import { AppError, sessionExpired, storeUnavailable } from '../errors.ts';
import { exchangeFailure } from '../idp/exchange-failure.ts';
import type { IdpAdapter } from '../idp/idp-adapter.ts';
import type { Logger } from '../log.ts';
import { observed } from '../observability/observability.ts';
import { hashHandle, randomHandle } from '../random.ts';
import type { Store } from '../store/store.ts';
import { type Grant, type GrantStore, grantLockKey, type TokenSet } from './grant-store.ts';
import { signOutGrant } from './sign-out-grant.ts';
import { setBounded } from '../bounded-map.ts';

/** Which token an upstream needs: the grant's own, or one for a resource and/or scope. */
export interface TokenNeed {
  /** RFC 8707 resource indicator. */
  resource?: string;
  scope?: string;
}

/** Options for {@link TokenRefresher}. */
export interface TokenRefresherOptions {
  grants: GrantStore;
  idp: IdpAdapter;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** A token expiring within this many milliseconds counts as expired. */
  skewMs: number;
  /** How long a refresh lock lives at most; longer than the IdP timeout, so it outlives the refresh it guards. */
  lockTtlMs: number;
  /** How long to wait for another instance's refresh before answering 503. */
  lockWaitMs: number;
  /** Most tokens kept per cache (resource tokens and client-credentials tokens). */
  maxCachedTokens?: number;
  /**
   * Claims are re-read at a refresh that brings a new id_token, or whose claims are older than
   * this (GATEHOUSE_OIDC_USERINFO_REFRESH); 0 = never. Default 0.
   */
  claimsRefreshMs?: number;
}

/**
 * How long a refresh the IdP refused (a 4xx that does not end the grant, e.g. `invalid_client`
 * or `invalid_target`) is remembered: calls meanwhile get the same error without asking the
 * IdP, so a refused refresh token is not sent again on every call (IdPs log each as an attack,
 * and fail2ban bans the sender: Gatehouse).
 */
export const refreshFailureTtlMs = 30_000;

/**
 * After a refresh failed because the IdP was away (5xx, or no answer), the next attempt waits
 * this long, doubling with each failure in a row up to {@link maxUnavailableBackoffMs}: an IdP
 * that is back is noticed within about 2 s, and one that stays away gets at most one refresh
 * per grant every 2 s from all instances together (the back-off is kept in the store).
 */
export const firstUnavailableBackoffMs = 250;
/** The longest wait between refresh attempts while the IdP is away. */
export const maxUnavailableBackoffMs = 2_000;
/** How long a run of "IdP away" failures is remembered, so the back-off keeps growing across it. */
const unavailableStreakTtlMs = 60_000;

interface CachedToken {
  accessToken: string;
  expiresAt?: number;
}

/**
 * Hands out access tokens that will not expire in flight, refreshing them when needed.
 *
 * A grant's refresh token may be used by one refresh at a time: IdPs that rotate refresh
 * tokens (Keycloak, oidc-provider) revoke the whole grant when a rotated one is used twice.
 * So a refresh runs (1) once per grant and need inside this process (callers share the
 * promise), (2) after any other refresh of the same grant in this process, and (3) under the
 * store lock `lock:refresh:<grantId>`, re-reading the grant once the lock is held, so another
 * instance's fresh tokens are used instead of refreshing again.
 *
 * A refresh token the IdP refuses (`invalid_grant`, or any 4xx that does not blame Gatehouse's
 * client) ends the grant (401 `session_expired`), and so does a refreshed id_token for another
 * sign-in (OpenID Connect Core §12.2); an IdP that is away, or that refuses Gatehouse's client,
 * is a 503 and the grant stays. A failure is remembered in the store, across instances: a
 * refusal for {@link refreshFailureTtlMs}, the IdP being away for a short back-off that grows
 * per failure in a row up to {@link maxUnavailableBackoffMs}. Tokens for a resource or scope other than the grant's own, and
 * client-credentials tokens, are cached in this process until they near expiry.
 */
export class TokenRefresher {
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly sections = new Map<string, Promise<unknown>>();
  private readonly resourceTokens = new Map<string, CachedToken>();
  private readonly clientTokens = new Map<string, CachedToken>();
  private readonly opened = new Map<string, { sealed: string; tokens: TokenSet }>();
  private readonly maxCached: number;

  constructor(private readonly options: TokenRefresherOptions) {
    this.maxCached = options.maxCachedTokens ?? 5_000;
  }

  /**
   * A fresh access token of `grant` for `need`. `rejected` is a token an upstream has just
   * refused (`invalid_token`): it is refreshed even if it looks fresh, unless someone already has.
   */
  async userAccessToken(grant: Grant, need: TokenNeed = {}, rejected?: string): Promise<string> {
    const cached = isDefault(need) ? this.openTokens(grant) : this.resourceTokens.get(cacheKey(grant.id, need));
    if (cached && this.isFresh(cached, rejected)) return cached.accessToken;
    return this.singleFlight(cacheKey(grant.id, need), () =>
      this.serialized(grant.id, () => this.refreshUnderLock(grant.id, need, rejected)),
    );
  }

  /** A client-credentials access token for `need`, cached until it nears expiry. */
  async clientAccessToken(need: TokenNeed = {}, rejected?: string): Promise<string> {
    const key = cacheKey('', need);
    const cached = this.clientTokens.get(key);
    if (cached && this.isFresh(cached, rejected)) return cached.accessToken;
    return this.singleFlight(`client\n${key}`, async () => {
      const again = this.clientTokens.get(key);
      if (again && this.isFresh(again, rejected)) return again.accessToken;
      let tokens: TokenSet;
      try {
        tokens = await this.options.idp.clientCredentialsGrant(need);
      } catch (error) {
        throw refusedOrUnavailable(error);
      }
      remember(this.clientTokens, key, tokens, this.maxCached);
      return tokens.accessToken;
    });
  }

  /**
   * The grant's tokens, decrypted once per version: the sealed value changes with every
   * refresh, so a cached copy is used only while it matches what the store holds.
   */
  private openTokens(grant: Grant): TokenSet {
    const cached = this.opened.get(grant.id);
    if (cached?.sealed === grant.sealedTokens) return cached.tokens;
    const tokens = this.options.grants.tokens(grant);
    setBounded(this.opened, grant.id, { sealed: grant.sealedTokens, tokens }, this.maxCached);
    return tokens;
  }

  /** Whether this refresh re-reads the user's claims: a new id_token came, or they are old. */
  private claimsDue(grant: Grant, next: TokenSet, current: TokenSet): boolean {
    const everyMs = this.options.claimsRefreshMs ?? 0;
    if (everyMs <= 0) return false;
    if (next.idToken !== undefined && next.idToken !== current.idToken) return true;
    return this.options.clock() - (grant.claimsReadAt ?? grant.createdAt) >= everyMs;
  }

  private isFresh(token: CachedToken, rejected: string | undefined): boolean {
    if (rejected !== undefined && token.accessToken === rejected) return false;
    return token.expiresAt === undefined || token.expiresAt - this.options.skewMs > this.options.clock();
  }

  private singleFlight(key: string, run: () => Promise<string>): Promise<string> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const promise = run().finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  /** Runs `task` after every earlier task for the same grant in this process has settled. */
  private serialized<T>(grantId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.sections.get(grantId) ?? Promise.resolve();
    const run = previous.then(task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.sections.set(grantId, tail);
    void tail.then(() => {
      if (this.sections.get(grantId) === tail) this.sections.delete(grantId);
    });
    return run;
  }

  private async refreshUnderLock(grantId: string, need: TokenNeed, rejected: string | undefined): Promise<string> {
    const lockKey = grantLockKey(grantId);
    const owner = randomHandle(12);
    let waitedMs = 0;
    for (
      let delayMs = 20;
      !(await fromStore(this.options.store.setIfAbsent(lockKey, owner, this.options.lockTtlMs)));
      delayMs = Math.min(delayMs * 2, 250)
    ) {
      // Another instance is refreshing this grant: its result is as good as ours.
      const fresh = this.freshToken(await this.readTokens(grantId), grantId, need, rejected);
      if (fresh) return fresh;
      if (waitedMs >= this.options.lockWaitMs) {
        observed().refresh('busy', waitedMs);
        throw new AppError('token_refresh_busy', 'Tokens are being renewed elsewhere; try again shortly.');
      }
      await sleep(delayMs);
      waitedMs += delayMs;
    }
    try {
      return await this.refresh(grantId, need, rejected);
    } finally {
      await this.options.store.delete(lockKey).catch(() => undefined);
    }
  }

  private async readTokens(grantId: string): Promise<{ grant: Grant; tokens: TokenSet }> {
    const grant = await fromStore(this.options.grants.get(grantId));
    if (!grant) throw sessionExpired();
    return { grant, tokens: this.options.grants.tokens(grant) };
  }

  /** The token for `need` if the stored grant (or, for a resource, the cache) already has a fresh one. */
  private freshToken(
    stored: { tokens: TokenSet },
    grantId: string,
    need: TokenNeed,
    rejected: string | undefined,
  ): string | undefined {
    const token = isDefault(need) ? stored.tokens : this.resourceTokens.get(cacheKey(grantId, need));
    return token && this.isFresh(token, rejected) ? token.accessToken : undefined;
  }

  private async refresh(grantId: string, need: TokenNeed, rejected: string | undefined): Promise<string> {
    const { grants, idp, logger } = this.options;
    // Re-read under the lock: the refresh token in the caller's copy may have been rotated.
    const { grant, tokens: current } = await this.readTokens(grantId);
    const fresh = this.freshToken({ tokens: current }, grantId, need, rejected);
    if (fresh) return fresh;

    const failureKey = refreshFailureKey(grantId, need);
    const failed = parseFailure(await fromStore(this.options.store.get(failureKey)));
    if (failed && failed.retryAt > this.options.clock()) {
      logger.debug('refresh not retried yet: it failed moments ago', {
        sub: grant.sub,
        ...need,
        retryInMs: failed.retryAt - this.options.clock(),
      });
      throw recalledFailure(failed);
    }

    let next: TokenSet & { refreshToken: string };
    let claims: Record<string, unknown> | undefined;
    const started = performance.now();
    try {
      next = await idp.refreshTokenGrant(current, need, {
        sub: grant.sub,
        ...(grant.originalIdToken ? { originalIdToken: grant.originalIdToken } : {}),
      });
      if (isDefault(need) && this.claimsDue(grant, next, current)) {
        claims = await idp.refreshedClaims(next, grant.sub, next.idToken !== current.idToken);
      }
    } catch (error) {
      if (error instanceof AppError && error.code === 'id_token_refused') {
        observed().refresh('id_token_refused', performance.now() - started);
        // The whole answer is thrown away: its access token is neither used nor stored.
        await fromStore(signOutGrant(grants, idp, grantId));
        logger.info('grant ended: a refresh returned an id_token that does not match its sign-in', {
          sub: grant.sub,
          reason: error.details.reason,
        });
        throw sessionExpired();
      }
      if (error instanceof AppError && error.code === 'invalid_grant') {
        // Re-read once: if another instance rotated the refresh token meanwhile (a lock that
        // expired mid-refresh), its tokens are good and the grant must not end.
        const again = await this.readTokens(grantId);
        if (again.tokens.refreshToken !== current.refreshToken) {
          const fresh = this.freshToken(again, grantId, need, undefined);
          if (fresh) return fresh;
        }
        observed().refresh('invalid_grant', performance.now() - started);
        await fromStore(grants.end(grantId));
        observed().sessionEnd('refresh_refused');
        logger.info('grant ended: the identity provider refused its refresh token', {
          sub: grant.sub,
          idpError: error.details.idpError,
          cause: error,
        });
        throw sessionExpired();
      }
      const refused = refusedOrUnavailable(error);
      observed().refresh('idp_unavailable', performance.now() - started);
      const remembered = rememberedFailure(refused, failed, this.options.clock());
      // Best effort: a store that fails here fails the next call's read anyway.
      await this.options.store.set(failureKey, remembered.raw, remembered.ttlMs).catch(() => undefined);
      throw refused;
    }
    // The IdP answered: a run of failures is over, and the next one starts from the shortest wait.
    if (failed) await this.options.store.delete(failureKey).catch(() => undefined);

    // A resource token leaves the grant's own access token alone, but the refresh token may
    // have rotated: the new one must be stored before anyone refreshes again.
    const stored: TokenSet = isDefault(need)
      ? next
      : {
          ...current,
          refreshToken: next.refreshToken,
          ...(next.idToken ? { idToken: next.idToken } : {}),
          ...(next.refreshExpiresAt ? { refreshExpiresAt: next.refreshExpiresAt } : {}),
        };
    const updated = await fromStore(grants.replaceTokens(grant, stored, claims));
    // Ended meanwhile. The new refresh token is not revoked: when a sign-in in the same IdP
    // session replaced this grant, revoking would end the replacing grant's tokens too.
    if (!updated) throw sessionExpired();
    if (!isDefault(need)) remember(this.resourceTokens, cacheKey(grantId, need), next, this.maxCached);
    observed().refresh(next.refreshToken !== current.refreshToken ? 'rotated' : 'ok', performance.now() - started);
    logger.debug('access token refreshed', {
      sub: grant.sub,
      ...need,
      rotated: next.refreshToken !== current.refreshToken,
    });
    return next.accessToken;
  }
}

/** A store that is down is a 503, never a 500 and never a silent logout. */
async function fromStore<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw storeUnavailable(error);
  }
}

function isDefault(need: TokenNeed): boolean {
  return need.resource === undefined && need.scope === undefined;
}

function cacheKey(grantId: string, need: TokenNeed): string {
  return `${grantId}\n${need.resource ?? ''}\n${need.scope ?? ''}`;
}

/** The store key remembering a failed refresh of one grant for one need. */
function refreshFailureKey(grantId: string, need: TokenNeed): string {
  return isDefault(need)
    ? `refreshfail:${grantId}`
    : `refreshfail:${grantId}:${hashHandle(`${need.resource ?? ''}\n${need.scope ?? ''}`)}`;
}

/** A failed refresh as kept in the store: the error to repeat, and when to ask the IdP again. */
interface RememberedFailure {
  status: number;
  code: unknown;
  message: string;
  details: Record<string, unknown>;
  expose: boolean;
  /** When (injected clock) the next call may ask the IdP again. */
  retryAt: number;
  /** Failures in a row while the IdP was away (0 for a refusal). */
  failures: number;
}

/**
 * What to remember of a failed refresh: a refusal for {@link refreshFailureTtlMs}; the IdP
 * being away (`idp_unavailable`) with a wait that doubles per failure in a row, from
 * {@link firstUnavailableBackoffMs} to {@link maxUnavailableBackoffMs}.
 */
function rememberedFailure(
  error: AppError,
  previous: RememberedFailure | undefined,
  now: number,
): { raw: string; ttlMs: number } {
  const away = error.code === 'idp_unavailable';
  const failures = away ? (previous?.failures ?? 0) + 1 : 0;
  const waitMs = away
    ? Math.min(firstUnavailableBackoffMs * 2 ** (failures - 1), maxUnavailableBackoffMs)
    : refreshFailureTtlMs;
  const record: RememberedFailure = {
    status: error.status,
    code: error.code,
    message: error.message,
    details: error.details,
    expose: error.expose,
    retryAt: now + waitMs,
    failures,
  };
  return { raw: JSON.stringify(record), ttlMs: away ? unavailableStreakTtlMs : refreshFailureTtlMs };
}

function parseFailure(raw: string | undefined): RememberedFailure | undefined {
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as Partial<RememberedFailure>;
  // Written before the back-off was kept: remembered for its TTL, as it was then.
  return { failures: 0, retryAt: Number.POSITIVE_INFINITY, ...parsed } as RememberedFailure;
}

function recalledFailure({ code, message, details, expose }: RememberedFailure): AppError {
  return new AppError(isErrorCode(code) ? code : 'token_unavailable', message, { details, expose });
}

/** Caches a token; the oldest entry goes when the cache is full (tokens can always be fetched again). */
function remember(cache: Map<string, CachedToken>, key: string, tokens: TokenSet, max: number): void {
  setBounded(
    cache,
    key,
    {
      accessToken: tokens.accessToken,
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
    },
    max,
  );
}

/**
 * The IdP being away stays a 503; any other refusal (e.g. `invalid_target`, `invalid_scope`)
 * means this upstream's token cannot be had as configured: a 502 naming the IdP's reason.
 */
function refusedOrUnavailable(error: unknown): AppError {
  return exchangeFailure(
    error,
    (_code, cause) =>
      new AppError('token_unavailable', 'The identity provider refused a token for this API.', {
        cause,
        details: { reason: cause instanceof AppError ? cause.message : 'token request failed' },
      }),
  );
}
