// Gatehouse on Redis Cluster: three masters with a replica each, created by the test with
// `redis-cli --cluster create`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../server/config.ts';
import { checkStore } from '../server/doctor/check-store.ts';
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

  test('npm run doctor: cluster_state:ok, and noeviction on every master', async () => {
    const checks = await checkStore(loadConfig({ NODE_ENV: 'test', ...deployment.env }));
    const byId = new Map(checks.map((check) => [check.id, check]));
    assert.equal(byId.get('store')?.status, 'ok', JSON.stringify(checks));
    assert.match(byId.get('store')!.detail, /3 masters and 3 replicas: cluster_state:ok/);
    assert.equal(byId.get('store_eviction')?.status, 'ok');
    assert.match(byId.get('store_eviction')!.detail, /all 3 masters/);
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
