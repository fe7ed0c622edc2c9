import { after, before, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../server/log.ts';
import { MemoryStore } from '../server/store/memory-store.ts';
import { RedisStore } from '../server/store/redis-store.ts';
import { storeContract } from './helpers/store-contract.ts';
import { TestClock } from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

describe('MemoryStore keeps the store contract', () => {
  const clock = new TestClock();
  const store = new MemoryStore(clock.read);
  after(() => store.close());
  storeContract(() => ({
    store,
    shortTtlMs: 1000,
    elapse: async (ms) => clock.advance(ms),
  }));
});

describe('RedisStore keeps the store contract', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let store: RedisStore;
  before(async () => {
    redis = await startTestRedis();
    store = await RedisStore.connect({ url: redis.url, logger: createLogger('silent') });
  });
  after(async () => {
    await store?.close();
    await redis?.close();
  });
  storeContract(() => ({
    store,
    shortTtlMs: 50,
    // Redis expires on its own clock: wait the TTL out (plus its millisecond rounding).
    elapse: (ms) => sleep(ms + 5),
  }));
});
