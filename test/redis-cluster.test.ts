// Gatehouse on Redis Cluster: three masters with a replica each, created by the test with
// `redis-cli --cluster create`.
import { after, before, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { RedisStore } from '../server/store/redis-store.ts';
import { redisSkipReason } from './helpers/redis-server.ts';
import { type RedisTopologyFixture, startClusterTopology } from './helpers/redis-topologies.ts';
import { storeContract } from './helpers/store-contract.ts';
import { topologyScenarios } from './helpers/topology-scenarios.ts';

describe('Redis Cluster', { skip: redisSkipReason() }, () => {
  // One deployment for the file (it takes seconds to start); the failover test comes last.
  let deployment: RedisTopologyFixture;
  before(async () => {
    deployment = await startClusterTopology();
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

  describe('two Gatehouse instances on it (GATEHOUSE_REDIS_CLUSTER)', () => {
    topologyScenarios(() => deployment);
  });
});
