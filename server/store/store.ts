import type { LimitOptions, RateLimiter } from './rate-limiter.ts';

/**
 * The one place Gatehouse keeps state: grants, handles, browser sessions, login
 * transactions, SOAP contexts, indexes and locks. Values are strings (JSON); keys are
 * namespaced by the caller (`grant:…`, `tx:…`). TTLs are in milliseconds.
 *
 * Two implementations: {@link MemoryStore} for one process and `RedisStore` for several.
 * Every method may reject when the backing service is down; callers turn that into a 503.
 */
export interface Store {
  get(key: string): Promise<string | undefined>;
  /** Sets a value, replacing any; without a TTL the key lives until deleted. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets only when the key is absent; true when this call set it. Used for locks and replay guards. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Replaces a value only while the key exists; true when this call wrote it. An update can
   * then never bring back a record that another instance deleted meanwhile (an ended grant).
   */
  setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Reads and deletes in one step: of concurrent callers, exactly one gets the value. */
  take(key: string): Promise<string | undefined>;
  delete(...keys: string[]): Promise<void>;
  /**
   * Adds a member to a set. With a TTL, a set without one gets it and a set with a shorter one
   * is lengthened to it; a TTL never shortens a set (indexes outlive their longest member).
   */
  addToSet(key: string, member: string, ttlMs?: number): Promise<void>;
  removeFromSet(key: string, member: string): Promise<void>;
  members(key: string): Promise<string[]>;
  /**
   * Adds `by` to a member's score in a scored set (a count per owner) and returns the new score;
   * a member whose score falls to 0 or below is removed. The TTL is given and lengthened as
   * {@link addToSet} does.
   */
  addToScore(key: string, member: string, by: number, ttlMs: number): Promise<number>;
  /** The `count` members with the highest scores, highest first. */
  highestScores(key: string, count: number): Promise<Array<{ member: string; score: number }>>;
  /**
   * A rate limiter whose counters live in this store's backend (`rl:<name>:<key>`), so a limit
   * holds across every instance that shares the store. Build one per limit, at start.
   */
  rateLimiter(name: string, options: LimitOptions): RateLimiter;
  /** Resolves when the store answers; used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
