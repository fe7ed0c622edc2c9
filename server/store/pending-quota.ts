import type { Store } from './store.ts';

/** The bounds of one kind of pending record (see {@link PendingQuota}). */
export interface PendingQuotaOptions {
  /** Names the keys: `pending:<kind>:<owner>`, `pendingcount:<kind>`, `pendingtotal:<kind>`. */
  kind: string;
  /** Most records one owner (a client address, an IPv6 /64) keeps; its oldest beyond are deleted. */
  perOwner: number;
  /** Most records of this kind altogether; past it, the owners holding the most lose their oldest. */
  total: number;
  /** Lifetime of a record. */
  ttlMs: number;
}

/** Where a record is listed: kept inside the record, to {@link PendingQuota.release} it when it is used. */
export interface PendingEntry {
  owner: string;
  member: string;
}

/** Rounds of eviction per start: counts can drift a little between instances, never by much. */
const maxEvictionsPerAdd = 5;

/**
 * Bounds what anonymous starts make Gatehouse keep (SOAP login contexts, device authorizations),
 * so that a flood still leaves bystanders room. Each owner keeps at most `perOwner` records
 * (the newest: the one a person is completing). Past `total`, the owner holding the most records
 * loses its oldest one, never an owner holding none: a newcomer always gets its record, and a
 * flood only ever evicts its own.
 *
 * Per owner, an index of its records (time-ordered); per kind, a scored set of owners by count
 * and the total. Records that expire leave stale counts behind; they are corrected whenever that
 * owner starts again or is chosen for eviction. Concurrent starts on several instances may
 * overshoot `total` by a few records for a moment.
 */
export class PendingQuota {
  constructor(
    private readonly store: Store,
    private readonly options: PendingQuotaOptions,
  ) {}

  /** Where a record made `now` of `keys` (deleted together on eviction) is listed under `owner`. */
  entry(owner: string, keys: readonly string[], now: number): PendingEntry {
    // A fixed-width time first: members sort oldest first, in either store.
    return { owner, member: `${String(now).padStart(15, '0')} ${keys.join(',')}` };
  }

  /** Lists a just-stored record under its owner and applies both bounds. */
  async add(entry: PendingEntry, now: number): Promise<void> {
    const { store, options } = this;
    const { owner, member } = entry;
    await store.addToSet(this.index(owner), member, options.ttlMs);
    const live = await this.liveMembers(owner, now);
    const excess = live.slice(0, Math.max(0, live.length - options.perOwner));
    await this.drop(owner, excess);
    let total = await this.recount(owner, live.length - excess.length);
    for (let round = 0; round < maxEvictionsPerAdd && total > options.total; round++) {
      const evicted = await this.evictFromHeaviest(owner, now);
      if (evicted === undefined) break;
      total = evicted;
    }
  }

  /** Unlists a record that was used (taken) before it expired. */
  async release(entry: PendingEntry): Promise<void> {
    const { store, options } = this;
    await store.removeFromSet(this.index(entry.owner), entry.member);
    await store.addToScore(this.countsKey(), entry.owner, -1, options.ttlMs);
    await store.addToScore(this.totalKey(), 'all', -1, options.ttlMs);
  }

  /** The heaviest owner (not `newcomer` while it holds only its new record) loses its oldest record; returns the new total. */
  private async evictFromHeaviest(newcomer: string, now: number): Promise<number | undefined> {
    const [first, second] = await this.store.highestScores(this.countsKey(), 2);
    const victim = first?.member === newcomer && first.score <= 1 ? second : first;
    if (!victim) return undefined;
    const live = await this.liveMembers(victim.member, now);
    // Its count may be stale (records expired): the recount alone may free room.
    await this.drop(victim.member, live.slice(0, live.length > 0 ? 1 : 0));
    return this.recount(victim.member, Math.max(0, live.length - 1));
  }

  /** The owner's listed records that have not expired, oldest first; expired ones are unlisted. */
  private async liveMembers(owner: string, now: number): Promise<string[]> {
    const members = (await this.store.members(this.index(owner))).sort();
    const expired = members.filter((member) => Number(member.slice(0, 15)) + this.options.ttlMs <= now);
    for (const member of expired) await this.store.removeFromSet(this.index(owner), member);
    return members.filter((member) => !expired.includes(member));
  }

  private async drop(owner: string, members: readonly string[]): Promise<void> {
    if (members.length === 0) return;
    await this.store.delete(...members.flatMap((member) => member.slice(member.indexOf(' ') + 1).split(',')));
    for (const member of members) await this.store.removeFromSet(this.index(owner), member);
  }

  /** Sets the owner's count to `count` (and moves the total by the difference); returns the total. */
  private async recount(owner: string, count: number): Promise<number> {
    const { store, options } = this;
    const was = await store.addToScore(this.countsKey(), owner, 0, options.ttlMs);
    const delta = count - was;
    if (delta !== 0) await store.addToScore(this.countsKey(), owner, delta, options.ttlMs);
    return store.addToScore(this.totalKey(), 'all', delta, options.ttlMs);
  }

  private index(owner: string): string {
    return `pending:${this.options.kind}:${owner}`;
  }

  private countsKey(): string {
    return `pendingcount:${this.options.kind}`;
  }

  private totalKey(): string {
    return `pendingtotal:${this.options.kind}`;
  }
}
