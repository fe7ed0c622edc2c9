import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { MemoryStore } from './memory-store.ts';
import type { Store } from './store.ts';

/** Builds the store the configuration names. */
export async function createStore(config: Config, clock: Clock): Promise<Store> {
  switch (config.store) {
    case 'memory':
      return new MemoryStore(clock);
    case 'redis':
      throw new Error('GATEHOUSE_STORE=redis is not available yet');
  }
}
