import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { observeStore } from '../observability/create-observability.ts';
import { noObservability, type Observability } from '../observability/observability.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { Store } from './store.ts';

/**
 * Builds the store the configuration names; a Redis store is connected and checked first.
 * With observability on, every operation of it is timed and traced.
 */
export async function createStore(
  config: Config,
  clock: Clock,
  logger: Logger,
  observability: Observability = noObservability,
): Promise<Store> {
  return observeStore(await connectStore(config, clock, logger), observability);
}

async function connectStore(config: Config, clock: Clock, logger: Logger): Promise<Store> {
  switch (config.store) {
    case 'memory':
      return new MemoryStore(clock);
    case 'redis':
      // Redis keeps its own time for TTLs; the injected clock only drives Gatehouse's checks.
      return RedisStore.connect({ topology: config.redis!, logger });
  }
}
