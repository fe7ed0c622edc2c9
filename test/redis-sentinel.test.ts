// Gatehouse on Redis Sentinel: a master, its replica and three sentinels, started by the test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../server/config.ts';
import { checkStore } from '../server/doctor/check-store.ts';
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

  test('npm run doctor: the sentinels answer and agree on the master, which never evicts', async () => {
    const checks = await checkStore(loadConfig({ NODE_ENV: 'test', ...deployment.env }));
    const byId = new Map(checks.map((check) => [check.id, check]));
    assert.equal(byId.get('store')?.status, 'ok', JSON.stringify(checks));
    // "3 sentinels agree: …"; on a machine too busy for one to answer within doctor's 2 s,
    // "2 of 3 sentinels answer and agree on master …" (a warning): either way, they agree.
    assert.match(byId.get('store_sentinels')!.detail, /agree(: master "gatehouse" is| on master) 127\.0\.0\.1:\d+/);
    assert.equal(byId.get('store_eviction')?.status, 'ok');
    assert.equal(byId.has('store_replicas'), false, 'the master has a replica');

    const wrongName = await checkStore(
      loadConfig({ NODE_ENV: 'test', ...deployment.env, GATEHOUSE_REDIS_SENTINEL_MASTER: 'other' }),
    );
    assert.equal(wrongName[0]!.status, 'fail');
    assert.match(wrongName[0]!.detail, /does not monitor a master named "other"/);
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
