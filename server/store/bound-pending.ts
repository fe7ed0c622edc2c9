import type { Store } from './store.ts';

/** Options for {@link boundPending}. */
export interface PendingBound {
  /** Most pending records one owner keeps; the oldest beyond it are deleted. */
  max: number;
  /** Lifetime of the record just stored (the index lives as long as its newest member). */
  ttlMs: number;
  /** When the record was stored (the injected clock). */
  now: number;
}

/**
 * Lists a just-stored pending record (a login transaction, a SOAP context) under its owner
 * (a browser, a caller's address) and deletes that owner's oldest records beyond `max`. One
 * owner starting sign-ins over and over then keeps a bounded number alive, and the newest,
 * the one a person is completing, always survives.
 */
export async function boundPending(store: Store, index: string, key: string, bound: PendingBound): Promise<void> {
  // A fixed-width time first: members sort oldest first, in either store.
  await store.addToSet(index, `${String(bound.now).padStart(15, '0')} ${key}`, bound.ttlMs);
  const members = (await store.members(index)).sort();
  const excess = members.slice(0, Math.max(0, members.length - bound.max));
  if (excess.length === 0) return;
  await store.delete(...excess.map((member) => member.slice(member.indexOf(' ') + 1)));
  for (const member of excess) await store.removeFromSet(index, member);
}
