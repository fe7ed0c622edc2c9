import type { Grant, GrantStore } from '../grants/grant-store.ts';
import { userAgentLabel } from './user-agent-label.ts';

/** One of the user's sessions as they see it: no token, no claim, nothing but what tells them apart. */
export interface SessionSummary {
  /** The grant id: opaque, and only ever shown to the grant's own user, who may end it. */
  id: string;
  current: boolean;
  via: Grant['via'];
  device: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
}

/** The signed-in user's live sessions (grants), the current one first, then the most recently used. */
export async function listSessions(grants: GrantStore, current: Grant): Promise<SessionSummary[]> {
  // An API token's grant is not a session: it is listed (and ended) on /tokens.
  const own = (await grants.listBySub(current.sub)).filter((grant) => grant.purpose !== 'api_token');
  const lastUsed = await Promise.all(own.map((grant) => grants.lastUsedAt(grant)));
  return own
    .map((grant, i) => ({ grant, lastUsedAt: lastUsed[i]! }))
    .sort(
      (a, b) => Number(b.grant.id === current.id) - Number(a.grant.id === current.id) || b.lastUsedAt - a.lastUsedAt,
    )
    .map(({ grant, lastUsedAt }) => ({
      id: grant.id,
      current: grant.id === current.id,
      via: grant.via,
      device: userAgentLabel(grant.userAgent),
      createdAt: new Date(grant.createdAt).toISOString(),
      lastUsedAt: new Date(lastUsedAt).toISOString(),
      expiresAt: new Date(grant.expiresAt).toISOString(),
    }));
}
