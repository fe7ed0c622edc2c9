import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { Store } from './store.ts';

/**
 * Builds the store the configuration names; a Redis store is connected and checked first.
 * (The wiring wraps it with `observeStore`: the store layer knows nothing of observability.)
 */
export async function createStore(config: Config, clock: Clock, logger: Logger): Promise<Store> {
  switch (config.store) {
    case 'memory':
      return new MemoryStore(clock);
    case 'redis':
      // Redis keeps its own time for TTLs; the injected clock only drives Gatehouse's checks.
      return RedisStore.connect({ url: config.redisUrl!, logger });
  }
}
