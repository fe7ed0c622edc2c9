import type { Clock } from '../clock.ts';
import { hashHandle, randomHandle } from '../random.ts';
import type { Store } from '../store/store.ts';
import { TokenCipher } from './token-cipher.ts';

/** The tokens one login at the IdP gave us. Never leaves the server. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Milliseconds since the epoch; undefined when the IdP did not say. */
  expiresAt?: number;
  scope?: string;
}

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
  createdAt: number;
  /** Absolute end of this grant, milliseconds since the epoch. */
  expiresAt: number;
  userAgent?: string;
  /** SWS_WSID of an external (SOAP) login: the `{GUID}` naming its workspace. */
  workspaceId?: string;
  sealedTokens: string;
}

/** What a new grant is made from. */
export interface NewGrant {
  sub: string;
  sid?: string;
  via: GrantVia;
  claims: Record<string, unknown>;
  tokens: TokenSet;
  lifetimeMs: number;
  userAgent?: string;
  workspaceId?: string;
}

const protocolClaims = new Set(['nonce', 'at_hash', 'c_hash', 's_hash', 'auth_time', 'azp', 'aud', 'iss', 'exp', 'iat', 'nbf', 'jti', 'sid', 'acr', 'amr']);

/**
 * Grants and the handles that reach them. Keys: `grant:<id>`, `handle:<sha256>` → grant id,
 * and the indexes `sid:<sid>` and `sub:<sub>` (sets of grant ids) for logout.
 */
export class GrantStore {
  private readonly cipher: TokenCipher;

  constructor(private readonly store: Store, secret: string, private readonly clock: Clock) {
    this.cipher = new TokenCipher(secret);
  }

  /** Stores a new grant with its tokens sealed, and indexes it by `sid` and `sub`. */
  async create(input: NewGrant): Promise<Grant> {
    const now = this.clock();
    const id = randomHandle(18);
    const claims = Object.fromEntries(Object.entries(input.claims).filter(([k]) => !protocolClaims.has(k)));
    const grant: Grant = {
      id,
      sub: input.sub,
      ...(input.sid ? { sid: input.sid } : {}),
      via: input.via,
      claims,
      createdAt: now,
      expiresAt: now + input.lifetimeMs,
      ...(input.userAgent ? { userAgent: input.userAgent.slice(0, 200) } : {}),
      ...(input.workspaceId ? { workspaceId: input.workspaceId } : {}),
      sealedTokens: this.cipher.seal(JSON.stringify(input.tokens), id),
    };
    await this.store.set(`grant:${id}`, JSON.stringify(grant), input.lifetimeMs);
    if (grant.sid) await this.store.addToSet(`sid:${grant.sid}`, id, input.lifetimeMs);
    await this.store.addToSet(`sub:${grant.sub}`, id, input.lifetimeMs);
    return grant;
  }

  /** The grant, or undefined when it ended or expired. */
  async get(id: string): Promise<Grant | undefined> {
    const raw = await this.store.get(`grant:${id}`);
    if (raw === undefined) return undefined;
    const grant = JSON.parse(raw) as Grant;
    return grant.expiresAt > this.clock() ? grant : undefined;
  }

  /** Opens the grant's sealed tokens. */
  tokens(grant: Grant): TokenSet {
    return JSON.parse(this.cipher.open(grant.sealedTokens, grant.id)) as TokenSet;
  }

  /** Replaces the grant's tokens (after a refresh); a no-op when the grant has ended meanwhile. */
  async replaceTokens(grant: Grant, tokens: TokenSet): Promise<Grant | undefined> {
    const current = await this.get(grant.id);
    if (!current) return undefined;
    const updated: Grant = { ...current, sealedTokens: this.cipher.seal(JSON.stringify(tokens), grant.id) };
    await this.store.set(`grant:${grant.id}`, JSON.stringify(updated), Math.max(1, updated.expiresAt - this.clock()));
    return updated;
  }

  /** Ends a grant: every handle and session on it stops working. */
  async end(id: string): Promise<Grant | undefined> {
    const raw = await this.store.take(`grant:${id}`);
    if (raw === undefined) return undefined;
    const grant = JSON.parse(raw) as Grant;
    if (grant.sid) await this.store.removeFromSet(`sid:${grant.sid}`, id);
    await this.store.removeFromSet(`sub:${grant.sub}`, id);
    return grant;
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
    const handle = randomHandle();
    await this.store.set(`handle:${hashHandle(handle)}`, grant.id, Math.max(1, grant.expiresAt - this.clock()));
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
