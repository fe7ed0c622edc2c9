// Gatehouse on Redis Sentinel: a master, its replica and three sentinels, started by the test.
import { after, before, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { RedisStore } from '../server/store/redis-store.ts';
import { redisSkipReason } from './helpers/redis-server.ts';
import { type RedisTopologyFixture, startSentinelTopology } from './helpers/redis-topologies.ts';
import { storeContract } from './helpers/store-contract.ts';
import { topologyScenarios } from './helpers/topology-scenarios.ts';

describe('Redis Sentinel', { skip: redisSkipReason() }, () => {
  // One deployment for the file (it takes seconds to start); the failover test comes last.
  let deployment: RedisTopologyFixture;
  before(async () => {
    deployment = await startSentinelTopology();
  });
  after(async () => {
    await deployment?.close();
  });

  describe('RedisStore keeps the store contract', () => {
    let store: RedisStore;
    before(async () => {
      const { redis } = loadConfig({ NODE_ENV: 'test', ...deployment.env });
      store = await RedisStore.connect({ topology: redis!, logger: createLogger('silent') });
    });
    after(async () => {
      await store?.close();
    });
    storeContract(() => ({ store, shortTtlMs: 50, elapse: (ms) => sleep(ms + 5) }));
  });

  describe('two Gatehouse instances on it (GATEHOUSE_REDIS_SENTINELS)', () => {
    topologyScenarios(() => deployment);
  });
});
