import { RateLimiterMemory } from 'rate-limiter-flexible';
import { type Clock, systemClock } from '../clock.ts';
import { flexibleRateLimiter, type LimitOptions, type RateLimiter } from './rate-limiter.ts';
import type { Store } from './store.ts';

/**
 * A backstop for the records anonymous callers create (SOAP login contexts, device
 * authorizations): past it the oldest of the kind is evicted. `PendingQuota` keeps each kind
 * at half of this, fairly; the backstop only matters if its counts ever drift far.
 */
export const defaultPendingBounds: Readonly<Record<string, number>> = {
  'soapctx:': 20_000,
  'device:': 20_000,
};

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/**
 * The single-process store. Expired entries are dropped when read and by a sweep, so an idle
 * process does not keep dead sessions in memory. Pending records (`pendingBounds`, by key
 * prefix) are capped: setting one more than the bound evicts the oldest of its kind.
 */
export class MemoryStore implements Store {
  private readonly values = new Map<string, Entry<string>>();
  private readonly sets = new Map<string, Entry<Set<string>>>();
  private readonly scores = new Map<string, Entry<Map<string, number>>>();
  /** Keys of each bounded prefix, oldest first (a Set keeps insertion order). */
  private readonly pending = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock = systemClock,
    sweepEveryMs = 60_000,
    private readonly pendingBounds: Readonly<Record<string, number>> = defaultPendingBounds,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
    for (const prefix of Object.keys(pendingBounds)) this.pending.set(prefix, new Set());
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(this.values, key)?.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.values.set(key, { value, expiresAt: this.expiry(ttlMs) });
    this.track(key);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(this.values, key)) return false;
    this.values.set(key, { value, expiresAt: this.expiry(ttlMs) });
    this.track(key);
    return true;
  }

  async setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (!this.live(this.values, key)) return false;
    this.values.set(key, { value, expiresAt: this.expiry(ttlMs) });
    return true;
  }

  async take(key: string): Promise<string | undefined> {
    const entry = this.live(this.values, key);
    this.values.delete(key);
    this.untrack(key);
    return entry?.value;
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.dropKey(key);
  }

  async addToSet(key: string, member: string, ttlMs?: number): Promise<void> {
    const entry = this.live(this.sets, key) ?? { value: new Set<string>(), expiresAt: Infinity };
    entry.value.add(member);
    if (!this.sets.has(key)) this.track(key);
    if (ttlMs !== undefined) {
      // Lengthen, never shorten: an index must outlive the longest-lived member it lists.
      const expiresAt = this.expiry(ttlMs);
      entry.expiresAt = entry.expiresAt === Infinity ? expiresAt : Math.max(entry.expiresAt, expiresAt);
    }
    this.sets.set(key, entry);
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const entry = this.live(this.sets, key);
    if (!entry) return;
    entry.value.delete(member);
    if (entry.value.size === 0) this.dropKey(key);
  }

  async members(key: string): Promise<string[]> {
    return [...(this.live(this.sets, key)?.value ?? [])];
  }

  async addToScore(key: string, member: string, by: number, ttlMs: number): Promise<number> {
    const entry = this.live(this.scores, key) ?? { value: new Map<string, number>(), expiresAt: this.expiry(ttlMs) };
    const score = (entry.value.get(member) ?? 0) + by;
    if (score > 0) entry.value.set(member, score);
    else entry.value.delete(member);
    entry.expiresAt = Math.max(entry.expiresAt, this.expiry(ttlMs));
    if (entry.value.size === 0) this.scores.delete(key);
    else this.scores.set(key, entry);
    return score;
  }

  async highestScores(key: string, count: number): Promise<Array<{ member: string; score: number }>> {
    const entry = this.live(this.scores, key);
    return [...(entry?.value ?? [])]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([member, score]) => ({ member, score }));
  }

  rateLimiter(name: string, options: LimitOptions): RateLimiter {
    return flexibleRateLimiter(
      new RateLimiterMemory({ keyPrefix: `rl:${name}`, points: options.points, duration: options.durationSeconds }),
      options,
    );
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** Number of live keys; for tests and the memory benchmark. */
  get size(): number {
    return this.values.size + this.sets.size + this.scores.size;
  }

  private expiry(ttlMs: number | undefined): number {
    return ttlMs === undefined ? Infinity : this.clock() + ttlMs;
  }

  private live<T>(map: Map<string, Entry<T>>, key: string): Entry<T> | undefined {
    const entry = map.get(key);
    if (entry && entry.expiresAt <= this.clock()) {
      map.delete(key);
      this.untrack(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.clock();
    for (const map of [this.values, this.sets, this.scores] as Map<string, Entry<unknown>>[]) {
      for (const [key, entry] of map) {
        if (entry.expiresAt > now) continue;
        map.delete(key);
        this.untrack(key);
      }
    }
  }

  /** Records a pending key as the newest of its kind, evicting the oldest beyond the bound. */
  private track(key: string): void {
    const prefix = this.pendingPrefix(key);
    if (prefix === undefined) return;
    const keys = this.pending.get(prefix)!;
    keys.delete(key);
    keys.add(key);
    const bound = this.pendingBounds[prefix]!;
    for (const oldest of keys) {
      if (keys.size <= bound) break;
      this.dropKey(oldest);
    }
  }

  private untrack(key: string): void {
    const prefix = this.pendingPrefix(key);
    if (prefix !== undefined) this.pending.get(prefix)!.delete(key);
  }

  private dropKey(key: string): void {
    this.values.delete(key);
    this.sets.delete(key);
    this.scores.delete(key);
    this.untrack(key);
  }

  private pendingPrefix(key: string): string | undefined {
    for (const prefix of this.pending.keys()) if (key.startsWith(prefix)) return prefix;
    return undefined;
  }
}
