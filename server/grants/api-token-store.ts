import type { Clock } from '../clock.ts';
import type { Grant, GrantStore } from './grant-store.ts';
import { hashHandle, randomHandle } from '../random.ts';
import type { Store } from '../store/store.ts';

import { apiTokenPrefix } from './api-token-prefix.ts';

export { apiTokenPrefix };

/** A Gatehouse API token as stored: never its secret, only the secret's hash. */
export interface ApiToken {
  id: string;
  sub: string;
  name: string;
  /** The token's own grant (its own authorization at the IdP). */
  grantId: string;
  createdAt: number;
  /** The end the user chose; the grant may end sooner (its refresh token's end). */
  expiresAt: number;
  /** Upstream names it may reach; null means all. */
  upstreams: string[] | null;
  /** Only GET and HEAD. */
  readOnly: boolean;
  /** True when the IdP granted offline_access: the token outlives the IdP session. */
  offline: boolean;
  /** Set for tokens approved through device sign-in: what asked for it. */
  clientName?: string;
  secretHash: string;
}

/** What a new token is made from. */
export interface NewApiToken {
  name: string;
  grant: Grant;
  upstreams: string[] | null;
  readOnly: boolean;
  offline: boolean;
  clientName?: string;
}

/** What a presented secret reaches. */
export type ResolvedApiToken =
  | { status: 'live'; token: ApiToken; grant: Grant }
  /** The token is alive but its IdP grant ended (refresh refused, back-channel logout). */
  | { status: 'grant_ended'; token: ApiToken }
  | { status: 'invalid' };

/**
 * API tokens in the shared store, so a revocation holds on every instance at once. Keys:
 * `apitoken:<id>` → the record, `apitoken-secret:<sha256(secret)>` → id, and `apitokens:<sub>`
 * (the set of a user's token ids). All live until the token's expiry.
 */
export class ApiTokenStore {
  constructor(
    private readonly store: Store,
    private readonly grants: GrantStore,
    private readonly clock: Clock,
  ) {}

  /** Stores a token for `grant` and returns it with its secret, which is never stored or shown again. */
  async create(input: NewApiToken): Promise<{ token: ApiToken; secret: string }> {
    const now = this.clock();
    const secret = `${apiTokenPrefix}${randomHandle(32)}`;
    const token: ApiToken = {
      id: randomHandle(12),
      sub: input.grant.sub,
      name: input.name,
      grantId: input.grant.id,
      createdAt: now,
      expiresAt: input.grant.maxExpiresAt,
      upstreams: input.upstreams,
      readOnly: input.readOnly,
      offline: input.offline,
      ...(input.clientName ? { clientName: input.clientName } : {}),
      secretHash: hashHandle(secret),
    };
    const ttlMs = Math.max(1, token.expiresAt - now);
    await this.store.set(`apitoken:${token.id}`, JSON.stringify(token), ttlMs);
    await this.store.set(`apitoken-secret:${token.secretHash}`, token.id, ttlMs);
    await this.store.addToSet(`apitokens:${token.sub}`, token.id, ttlMs);
    return { token, secret };
  }

  /** The token a secret reaches, and its grant. */
  async resolve(secret: string): Promise<ResolvedApiToken> {
    const id = await this.store.get(`apitoken-secret:${hashHandle(secret)}`);
    const token = id === undefined ? undefined : await this.get(id);
    if (!token) return { status: 'invalid' };
    const grant = await this.grants.get(token.grantId);
    return grant ? { status: 'live', token, grant } : { status: 'grant_ended', token };
  }

  /** The token, or undefined when revoked or expired. */
  async get(id: string): Promise<ApiToken | undefined> {
    const raw = await this.store.get(`apitoken:${id}`);
    if (raw === undefined) return undefined;
    const token = JSON.parse(raw) as ApiToken;
    return token.expiresAt > this.clock() ? token : undefined;
  }

  /** The user's live tokens, newest first, each with its grant (undefined when that has ended). */
  async listBySub(sub: string): Promise<Array<{ token: ApiToken; grant: Grant | undefined }>> {
    const ids = await this.store.members(`apitokens:${sub}`);
    const tokens = await Promise.all(ids.map((id) => this.get(id)));
    await Promise.all(ids.filter((_id, i) => !tokens[i]).map((id) => this.store.removeFromSet(`apitokens:${sub}`, id)));
    const live = tokens.filter((token): token is ApiToken => token !== undefined && token.sub === sub);
    const grants = await Promise.all(live.map((token) => this.grants.get(token.grantId)));
    return live.map((token, i) => ({ token, grant: grants[i] })).sort((a, b) => b.token.createdAt - a.token.createdAt);
  }

  /** Forgets the token (its secret stops working everywhere); returns it, or undefined when it was gone. */
  async remove(id: string): Promise<ApiToken | undefined> {
    const raw = await this.store.take(`apitoken:${id}`);
    if (raw === undefined) return undefined;
    const token = JSON.parse(raw) as ApiToken;
    await this.store.delete(`apitoken-secret:${token.secretHash}`);
    await this.store.removeFromSet(`apitokens:${token.sub}`, id);
    return token;
  }
}
