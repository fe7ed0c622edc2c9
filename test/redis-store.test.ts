import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { AppError } from '../server/errors.ts';
import { createLogger } from '../server/log.ts';
import { RedisStore } from '../server/store/redis-store.ts';
import { eventually } from './helpers/eventually.ts';
import { startGatehouse } from './helpers/harness.ts';
import { closedPort } from './helpers/ports.ts';
import { redisSkipReason, restartableRedisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

const skip = redisSkipReason();

function isStoreUnavailable(error: unknown): boolean {
  return error instanceof AppError && error.status === 503 && error.code === 'store_unavailable';
}

/** Waits until the store answers again: reconnecting takes the client a moment. */
async function untilReachable(store: RedisStore): Promise<void> {
  await eventually(() => store.ping(), 'the store answers again');
}

describe('connecting to Redis at start', { skip }, () => {
  test('an unreachable Redis fails the start with its URL named and its password left out', async () => {
    const url = `redis://:hunter2-password@127.0.0.1:${closedPort}`;
    await assert.rejects(startGatehouse({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: url }), (error: Error) => {
      assert.match(error.message, /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(GATEHOUSE_REDIS_URL\): .+/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });
});

describe('RedisStore during a Redis outage', { skip }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(() => redis?.close());

  test('while Redis is down every call fails at once with store_unavailable, and works again by itself with the data intact', {
    skip: restartableRedisSkipReason(),
  }, async () => {
    const logs: string[] = [];
    const store = await RedisStore.connect({ url: redis.url, logger: createLogger('info', (line) => logs.push(line)) });
    try {
      await store.set('outage:kept', 'still here', 60_000);
      await store.addToSet('outage:set', 'member', 60_000);
      await redis.stop();

      // With an offline queue these would wait for Redis instead of failing (the test would time out).
      const calls = [
        () => store.get('outage:kept'),
        () => store.set('outage:new', 'x'),
        () => store.take('outage:kept'),
        () => store.setIfAbsent('outage:lock', 'x', 1000),
        () => store.members('outage:set'),
        () => store.ping(),
      ];
      for (const call of calls) await assert.rejects(call(), isStoreUnavailable);

      await redis.restart();
      await untilReachable(store);
      assert.equal(await store.get('outage:kept'), 'still here');
      assert.deepEqual(await store.members('outage:set'), ['member']);
      const messages = logs.map((line) => JSON.parse(line).msg as string);
      assert.equal(
        messages.filter((m) => m.startsWith('store unreachable')).length,
        1,
        'one warning per outage, not one per retry',
      );
      assert.equal(messages.filter((m) => m === 'store reachable again').length, 1);
    } finally {
      await store.close();
    }
  });

  test('a Redis that stops answering fails calls with store_unavailable after the command timeout, not a hang', {
    skip: restartableRedisSkipReason(),
  }, async () => {
    const store = await RedisStore.connect({ url: redis.url, logger: createLogger('silent'), commandTimeoutMs: 200 });
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await store.set('paused:key', 'v', 60_000);
      // CLIENT PAUSE holds every other client's commands unanswered, like a hung server.
      await admin.sendCommand(['CLIENT', 'PAUSE', '10000', 'ALL']);
      await assert.rejects(store.get('paused:key'), isStoreUnavailable);
      await admin.sendCommand(['CLIENT', 'UNPAUSE']);
      assert.equal(await store.get('paused:key'), 'v');
    } finally {
      await admin.sendCommand(['CLIENT', 'UNPAUSE']).catch(() => {});
      admin.destroy();
      await store.close();
    }
  });
});
