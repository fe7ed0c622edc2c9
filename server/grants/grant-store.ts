import type { Clock } from '../clock.ts';
import type { OriginalIdToken } from '../idp/check-id-token.ts';
import type { TokenSet } from '../idp/token-set.ts';
import { hashHandle, randomHandle } from '../random.ts';
import type { Store } from '../store/store.ts';
import { apiTokenPrefix } from './api-token-prefix.ts';
import { TokenCipher } from './token-cipher.ts';
import { setBounded } from '../bounded-map.ts';

export type { TokenSet } from '../idp/token-set.ts';

/** How the user signed in. */
export type GrantVia = 'oidc' | 'external';

/** One login at the IdP, as stored. Tokens stay sealed until {@link GrantStore.tokens} opens them. */
export interface Grant {
  id: string;
  sub: string;
  /** The IdP session id (`sid` claim), used by back-channel logout. */
  sid?: string;
  via: GrantVia;
  /** id_token claims, minus protocol members (nonce, at_hash, …). */
  claims: Record<string, unknown>;
  /**
   * The sign-in id_token's `iss`, `sub`, `nonce` and `auth_time`, which a refreshed id_token
   * must repeat (OpenID Connect Core §12.2). Absent on grants stored before it was kept.
   */
  originalIdToken?: OriginalIdToken;
  /** When {@link Grant.claims} were last read (sign-in, or a refresh that re-read them). */
  claimsReadAt?: number;
  createdAt: number;
  /**
   * When this grant ends: its absolute end, or earlier when the IdP says the refresh token
   * ends sooner. Moves with every refresh, never past {@link Grant.maxExpiresAt}.
   */
  expiresAt: number;
  /** The absolute end (sign-in time + GATEHOUSE_SESSION_MAX); store records live this long. */
  maxExpiresAt: number;
  userAgent?: string;
  /** SWS_WSID of an external (SOAP) login: the `{GUID}` naming its workspace. */
  workspaceId?: string;
  /** Set on a grant that backs a Gatehouse API token: it is not a browser session. */
  purpose?: 'api_token';
  sealedTokens: string;
}

/** What a new grant is made from. */
export interface NewGrant {
  sub: string;
  sid?: string;
  via: GrantVia;
  claims: Record<string, unknown>;
  originalIdToken?: OriginalIdToken;
  tokens: TokenSet;
  /** The absolute lifetime (GATEHOUSE_SESSION_MAX). */
  maxLifetimeMs: number;
  userAgent?: string;
  workspaceId?: string;
  purpose?: 'api_token';
}

// "Last used" is shown to the minute; writing it more often would cost a store write per request.
const lastUsedResolutionMs = 60_000;
// Parsed grant records kept for reuse (a cache: a miss costs one JSON.parse). Bounded well
// below the number of sessions a process holds: it serves the callers active right now, and
// its ceiling (about 2.6 KB a grant, so 2.6 MB) must not become a cost per idle session.
const maxParsedGrants = 1_000;
// Bounds the in-process note of recent last-used writes (a cache: losing it costs one write).
const maxRememberedWrites = 10_000;

const protocolClaims = new Set([
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
  'auth_time',
  'azp',
  'aud',
  'iss',
  'exp',
  'iat',
  'nbf',
  'jti',
  'sid',
  'acr',
  'amr',
]);

/**
 * Grants and the handles that reach them. Keys: `grant:<id>`, `handle:<sha256>` → grant id,
 * `used:<id>` → when the grant was last used, and the indexes `sid:<sid>` and `sub:<sub>`
 * (sets of grant ids) for logout and the user's list of sessions.
 */
export class GrantStore {
  private readonly cipher: TokenCipher;
  /** The last parsed copy of each grant record read, with the record it was parsed from. */
  private readonly parsed = new Map<string, { raw: string; grant: Grant }>();
  /** When this instance last wrote each grant's `used:` key. */
  private readonly usedWrittenAt = new Map<string, number>();

  constructor(
    private readonly store: Store,
    secret: string,
    private readonly clock: Clock,
  ) {
    this.cipher = new TokenCipher(secret);
  }

  /** Stores a new grant with its tokens sealed, and indexes it by `sid` and `sub`. */
  async create(input: NewGrant): Promise<Grant> {
    const now = this.clock();
    const id = randomHandle(18);
    const maxExpiresAt = now + input.maxLifetimeMs;
    const claims = withoutProtocolClaims(input.claims);
    const grant: Grant = {
      id,
      sub: input.sub,
      ...(input.sid ? { sid: input.sid } : {}),
      via: input.via,
      claims,
      ...(input.originalIdToken ? { originalIdToken: input.originalIdToken } : {}),
      createdAt: now,
      expiresAt: endOf(maxExpiresAt, input.tokens),
      maxExpiresAt,
      ...(input.userAgent ? { userAgent: input.userAgent.slice(0, 200) } : {}),
      ...(input.workspaceId ? { workspaceId: input.workspaceId } : {}),
      ...(input.purpose ? { purpose: input.purpose } : {}),
      sealedTokens: this.cipher.seal(JSON.stringify(input.tokens), id),
    };
    // Records live until the absolute end: a refresh may move `expiresAt` up to it.
    await this.store.set(`grant:${id}`, JSON.stringify(grant), input.maxLifetimeMs);
    if (grant.sid) await this.store.addToSet(`sid:${grant.sid}`, id, input.maxLifetimeMs);
    await this.store.addToSet(`sub:${grant.sub}`, id, input.maxLifetimeMs);
    // Until first written, "last used" is the creation time: no write needed right after sign-in.
    this.usedWrittenAt.set(id, now);
    return grant;
  }

  /**
   * The grant, or undefined when it ended or expired. Read from the store on every call, so an
   * end or a refresh on any instance is seen at once; only the JSON parse is saved while the
   * stored record is unchanged (the record itself is the version compared).
   */
  async get(id: string): Promise<Grant | undefined> {
    const raw = await this.store.get(`grant:${id}`);
    if (raw === undefined) {
      this.parsed.delete(id);
      return undefined;
    }
    let cached = this.parsed.get(id);
    if (cached?.raw !== raw) {
      // Frozen: the same object is handed to every request that reads this record.
      cached = { raw, grant: Object.freeze(JSON.parse(raw) as Grant) };
      setBounded(this.parsed, id, cached, maxParsedGrants);
    }
    return cached.grant.expiresAt > this.clock() ? cached.grant : undefined;
  }

  /** Opens the grant's sealed tokens. */
  tokens(grant: Grant): TokenSet {
    return JSON.parse(this.cipher.open(grant.sealedTokens, grant.id)) as TokenSet;
  }

  /**
   * Replaces the grant's tokens after a refresh, and moves its end with the new refresh
   * token's (never past the absolute end); a no-op when the grant has ended meanwhile, also
   * when it ends between the read and the write here (another instance's logout). `claims`,
   * when the refresh re-read them, update the stored ones (`sub` stays).
   */
  async replaceTokens(grant: Grant, tokens: TokenSet, claims?: Record<string, unknown>): Promise<Grant | undefined> {
    const current = await this.get(grant.id);
    if (!current) return undefined;
    const updated: Grant = {
      ...current,
      ...(claims
        ? {
            claims: { ...current.claims, ...withoutProtocolClaims(claims), sub: current.sub },
            claimsReadAt: this.clock(),
          }
        : {}),
      expiresAt: endOf(current.maxExpiresAt, tokens),
      sealedTokens: this.cipher.seal(JSON.stringify(tokens), grant.id),
    };
    const written = await this.store.setIfPresent(
      `grant:${grant.id}`,
      JSON.stringify(updated),
      Math.max(1, updated.maxExpiresAt - this.clock()),
    );
    return written ? updated : undefined;
  }

  /** Ends a grant: every handle and session on it stops working. */
  async end(id: string): Promise<Grant | undefined> {
    const raw = await this.store.take(`grant:${id}`);
    if (raw === undefined) return undefined;
    const grant = JSON.parse(raw) as Grant;
    if (grant.sid) await this.store.removeFromSet(`sid:${grant.sid}`, id);
    await this.store.removeFromSet(`sub:${grant.sub}`, id);
    await this.store.delete(`used:${id}`);
    this.usedWrittenAt.delete(id);
    return grant;
  }

  /**
   * Notes that the grant was used now. Writes at most once a minute per grant (and instance),
   * so "last used" costs no store write on most requests.
   */
  async markUsed(grant: Grant): Promise<void> {
    const now = this.clock();
    const written = this.usedWrittenAt.get(grant.id);
    if (written !== undefined && now - written < lastUsedResolutionMs) return;
    await this.store.set(`used:${grant.id}`, String(now), Math.max(1, grant.maxExpiresAt - now));
    if (this.usedWrittenAt.size >= maxRememberedWrites) {
      for (const [id, at] of this.usedWrittenAt) if (now - at >= lastUsedResolutionMs) this.usedWrittenAt.delete(id);
    }
    this.usedWrittenAt.set(grant.id, now);
  }

  /** When the grant was last used, to within a minute (its creation time until then). */
  async lastUsedAt(grant: Grant): Promise<number> {
    return (await this.usedAt(grant)) ?? grant.createdAt;
  }

  /** When the grant was last used, to within a minute; undefined when it never was (an API token not yet used). */
  async usedAt(grant: Grant): Promise<number | undefined> {
    const raw = await this.store.get(`used:${grant.id}`);
    const at = Number(raw);
    return raw !== undefined && Number.isFinite(at) ? at : undefined;
  }

  /** The live grants of one user; ids of grants that expired meanwhile are dropped from the index. */
  async listBySub(sub: string): Promise<Grant[]> {
    const ids = await this.idsBySub(sub);
    const found = await Promise.all(ids.map((id) => this.get(id)));
    const stale = ids.filter((_id, i) => !found[i]);
    await Promise.all(stale.map((id) => this.store.removeFromSet(`sub:${sub}`, id)));
    return found.filter((grant): grant is Grant => grant !== undefined);
  }

  /** Ids of the live grants made in one IdP session. */
  async idsBySid(sid: string): Promise<string[]> {
    return this.store.members(`sid:${sid}`);
  }

  /** Ids of the live grants of one user. */
  async idsBySub(sub: string): Promise<string[]> {
    return this.store.members(`sub:${sub}`);
  }

  /** Issues an opaque handle (e.g. a SOAP IdentityToken) that reaches this grant until it ends. */
  async issueHandle(grant: Grant): Promise<string> {
    const handle = drawHandle();
    await this.store.set(`handle:${hashHandle(handle)}`, grant.id, Math.max(1, grant.maxExpiresAt - this.clock()));
    return handle;
  }

  /** The grant a handle reaches, or undefined. */
  async resolveHandle(handle: string): Promise<Grant | undefined> {
    const id = await this.store.get(`handle:${hashHandle(handle)}`);
    return id === undefined ? undefined : this.get(id);
  }

  /** Forgets a handle without ending its grant. */
  async dropHandle(handle: string): Promise<void> {
    await this.store.delete(`handle:${hashHandle(handle)}`);
  }
}

function withoutProtocolClaims(claims: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(claims).filter(([k]) => !protocolClaims.has(k)));
}

/** A grant ends at its absolute end, or when its refresh token does if that is sooner. */
function endOf(maxExpiresAt: number, tokens: TokenSet): number {
  return Math.min(maxExpiresAt, tokens.refreshExpiresAt ?? Infinity);
}

/**
 * A new handle that never starts like an API token (`gh_`, 1 in 262,144 random handles): such
 * a handle would be taken for an API token and never reach its grant. Redraws until it does not.
 */
export function drawHandle(draw: () => string = randomHandle): string {
  for (;;) {
    const handle = draw();
    if (!handle.startsWith(apiTokenPrefix)) return handle;
  }
}
