import { type Clock, systemClock } from '../clock.ts';
import type { Store } from './store.ts';

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/**
 * The single-process store. Expired entries are dropped when read and by a sweep, so an idle
 * process does not keep dead sessions in memory.
 */
export class MemoryStore implements Store {
  private readonly values = new Map<string, Entry<string>>();
  private readonly sets = new Map<string, Entry<Set<string>>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: Clock = systemClock, sweepEveryMs = 60_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(this.values, key)?.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.values.set(key, { value, expiresAt: this.expiry(ttlMs) });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(this.values, key)) return false;
    this.values.set(key, { value, expiresAt: this.expiry(ttlMs) });
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
    return entry?.value;
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) {
      this.values.delete(key);
      this.sets.delete(key);
    }
  }

  async addToSet(key: string, member: string, ttlMs?: number): Promise<void> {
    const entry = this.live(this.sets, key) ?? { value: new Set<string>(), expiresAt: Infinity };
    entry.value.add(member);
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
    if (entry.value.size === 0) this.sets.delete(key);
  }

  async members(key: string): Promise<string[]> {
    return [...(this.live(this.sets, key)?.value ?? [])];
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** Number of live keys; for tests and the memory benchmark. */
  get size(): number {
    return this.values.size + this.sets.size;
  }

  private expiry(ttlMs: number | undefined): number {
    return ttlMs === undefined ? Infinity : this.clock() + ttlMs;
  }

  private live<T>(map: Map<string, Entry<T>>, key: string): Entry<T> | undefined {
    const entry = map.get(key);
    if (entry && entry.expiresAt <= this.clock()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.clock();
    for (const map of [this.values, this.sets] as Map<string, Entry<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }
}
