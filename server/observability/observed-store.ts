import type { LimitOptions, RateLimiter } from '../store/rate-limiter.ts';
import type { Store } from '../store/store.ts';
import type { Observability } from './observability.ts';

/**
 * A {@link Store} whose every operation is timed and traced by {@link Observability.storeCall}.
 * Wraps either implementation once, at creation, so neither needs to know.
 */
export class ObservedStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly observability: Observability,
  ) {}

  get(key: string): Promise<string | undefined> {
    return this.observability.storeCall('get', this.inner.get(key));
  }

  set(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.observability.storeCall('set', this.inner.set(key, value, ttlMs));
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.observability.storeCall('set_if_absent', this.inner.setIfAbsent(key, value, ttlMs));
  }

  setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.observability.storeCall('set_if_present', this.inner.setIfPresent(key, value, ttlMs));
  }

  take(key: string): Promise<string | undefined> {
    return this.observability.storeCall('take', this.inner.take(key));
  }

  delete(...keys: string[]): Promise<void> {
    return this.observability.storeCall('delete', this.inner.delete(...keys));
  }

  addToSet(key: string, member: string, ttlMs?: number): Promise<void> {
    return this.observability.storeCall('add_to_set', this.inner.addToSet(key, member, ttlMs));
  }

  removeFromSet(key: string, member: string): Promise<void> {
    return this.observability.storeCall('remove_from_set', this.inner.removeFromSet(key, member));
  }

  members(key: string): Promise<string[]> {
    return this.observability.storeCall('members', this.inner.members(key));
  }

  addToScore(key: string, member: string, by: number, ttlMs: number): Promise<number> {
    return this.observability.storeCall('add_to_score', this.inner.addToScore(key, member, by, ttlMs));
  }

  highestScores(key: string, count: number): Promise<Array<{ member: string; score: number }>> {
    return this.observability.storeCall('highest_scores', this.inner.highestScores(key, count));
  }

  rateLimiter(name: string, options: LimitOptions): RateLimiter {
    const limiter = this.inner.rateLimiter(name, options);
    const { observability } = this;
    return {
      consume: (key) => observability.storeCall('rate_limit_consume', limiter.consume(key)),
      peek: (key) => observability.storeCall('rate_limit_peek', limiter.peek(key)),
    };
  }

  ping(): Promise<void> {
    return this.observability.storeCall('ping', this.inner.ping());
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
