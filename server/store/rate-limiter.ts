import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { storeUnavailable } from '../errors.ts';

/** A limit: at most `points` events per key in a fixed window of `durationSeconds`. */
export interface LimitOptions {
  points: number;
  durationSeconds: number;
}

/** Where one key stands after an event (or without one, for {@link RateLimiter.peek}). */
export interface LimitState {
  /** False once the key has used up its points in this window. */
  allowed: boolean;
  /** Milliseconds until the window ends and the key starts again from zero. */
  msBeforeReset: number;
}

/**
 * Counts events per key in the store's backend, so every instance on one Redis shares the
 * count. Handed out by {@link Store.rateLimiter}; built on rate-limiter-flexible.
 */
export interface RateLimiter {
  /** Counts one event; `allowed` is false from the event past the limit on. */
  consume(key: string): Promise<LimitState>;
  /** Where the key stands, without counting: `allowed` is false once it has used all its points. */
  peek(key: string): Promise<LimitState>;
}

/**
 * Adapts a rate-limiter-flexible limiter to {@link RateLimiter}. Its "over the limit" answer
 * is a rejection with a RateLimiterRes; any other rejection is the backend failing, a 503.
 */
export function flexibleRateLimiter(limiter: RateLimiterAbstract, options: LimitOptions): RateLimiter {
  return {
    async consume(key) {
      try {
        const result = await limiter.consume(key);
        return { allowed: true, msBeforeReset: result.msBeforeNext };
      } catch (error) {
        if (error instanceof RateLimiterRes) return { allowed: false, msBeforeReset: error.msBeforeNext };
        throw storeUnavailable(error);
      }
    },
    async peek(key) {
      let result: RateLimiterRes | null;
      try {
        result = await limiter.get(key);
      } catch (error) {
        throw storeUnavailable(error);
      }
      if (!result) return { allowed: true, msBeforeReset: 0 };
      return { allowed: result.consumedPoints < options.points, msBeforeReset: result.msBeforeNext };
    },
  };
}
