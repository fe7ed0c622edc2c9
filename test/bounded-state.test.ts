import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashHandle } from '../server/random.ts';
import { createLogger } from '../server/log.ts';
import { MemoryStore } from '../server/store/memory-store.ts';
import { PendingQuota } from '../server/store/pending-quota.ts';
import { RedisStore } from '../server/store/redis-store.ts';
import type { Store } from '../server/store/store.ts';
import { redisSkipReason, startTestRedis } from './helpers/redis-server.ts';
import { CookieBrowser, TestClock } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { callSoap, text } from './helpers/soap.ts';

describe('pending sign-in state is bounded', () => {
  const gh = gatehouseForSuite();

  test('many /auth/login from one browser keep only its 5 newest login transactions, in its own cookies', async () => {
    const browser = new CookieBrowser();
    const states: string[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await browser.request(`${gh.url}/auth/login`);
      assert.equal(response.status, 302);
      states.push(new URL(response.headers.get('location')!).searchParams.get('state')!);
    }
    const held = browser
      .cookieHeader(new URL(gh.url))
      .split('; ')
      .filter((c) => c.startsWith('gatehouse-login-'))
      .map((c) => c.slice('gatehouse-login-'.length, c.indexOf('=')));
    const kept = states.map((state) => held.includes(hashHandle(state).slice(0, 22)));
    assert.deepEqual(
      kept,
      [...Array(7).fill(false), ...Array(5).fill(true)],
      'the oldest 7 were ended, the newest 5 kept',
    );
    assert.equal(await gh.gh.deps.store.get(`tx:${hashHandle(states.at(-1)!)}`), undefined, 'nothing in the store');
  });

  test('many GetExternalLoginRedirectURL from one address keep only its 50 newest contexts', async () => {
    const contextIds: string[] = [];
    for (let i = 0; i < 55; i++) {
      const answer = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [
        ['RequestURL', `${gh.url}/external/callback`],
      ]);
      assert.equal(answer.status, 200, answer.body);
      contextIds.push(text(answer.body, 'ContextID'));
    }
    const kept = [];
    for (const id of contextIds)
      kept.push((await gh.gh.deps.store.get(`soapctx:${hashHandle(id.toUpperCase())}`)) !== undefined);
    assert.deepEqual(kept, [...Array(5).fill(false), ...Array(50).fill(true)]);
  });
});

describe("the memory store's pending records", () => {
  test('past the bound, the oldest pending record is evicted and the total stays bounded; other records are never evicted', async () => {
    const clock = new TestClock();
    const store = new MemoryStore(clock.read, 60_000, { 'tx:': 5, 'soapctx:': 3 });
    await store.set('grant:kept', 'a grant', 60_000);
    for (let i = 0; i < 50; i++) await store.set(`tx:${i}`, 'pending', 60_000);
    for (let i = 0; i < 10; i++) await store.set(`soapctx:${i}`, 'pending', 60_000);
    assert.equal(store.size, 1 + 5 + 3);
    assert.equal(await store.get('tx:44'), undefined);
    assert.equal(await store.get('tx:45'), 'pending');
    assert.equal(await store.get('tx:49'), 'pending');
    assert.equal(await store.get('soapctx:6'), undefined);
    assert.equal(await store.get('soapctx:9'), 'pending');
    assert.equal(await store.get('grant:kept'), 'a grant');

    // A taken or expired record frees its place: the others are not evicted early.
    assert.equal(await store.take('tx:45'), 'pending');
    await store.set('tx:new', 'pending', 60_000);
    assert.equal(await store.get('tx:46'), 'pending');
    await store.close();
  });
});

/** Floods by two owners, then a newcomer and more floods: what survives, in `store`. */
async function floodAndNewcomer(store: Store): Promise<void> {
  const clock = new TestClock();
  const quota = new PendingQuota(store, { kind: 'test', perOwner: 5, total: 10, ttlMs: 60_000 });
  const start = async (owner: string, name: string): Promise<void> => {
    clock.advance(1);
    await store.set(name, 'pending', 60_000);
    await quota.add(quota.entry(owner, [name], clock.now), clock.now);
  };
  const alive = async (names: string[]): Promise<boolean[]> =>
    Promise.all(names.map(async (name) => (await store.get(name)) !== undefined));

  for (let i = 0; i < 8; i++) await start('203.0.113.1', `a${i}`);
  assert.deepEqual(await alive(['a2', 'a3', 'a7']), [false, true, true], 'an owner keeps its 5 newest');
  for (let i = 0; i < 5; i++) await start('203.0.113.2', `b${i}`);
  // At the bound (10): a newcomer holding none still gets its record; a heaviest owner loses its oldest.
  await start('198.51.100.7', 'bystander');
  assert.equal(await store.get('bystander'), 'pending');
  const aLeft = (await alive(['a3', 'a4', 'a5', 'a6', 'a7'])).filter(Boolean).length;
  const bLeft = (await alive(['b0', 'b1', 'b2', 'b3', 'b4'])).filter(Boolean).length;
  assert.equal(aLeft + bLeft, 9, 'the total stays at 10');
  // The floods go on: they only ever evict their own records, never the bystander's.
  for (let i = 8; i < 30; i++) await start(i % 2 ? '203.0.113.1' : '203.0.113.2', `flood${i}`);
  assert.equal(await store.get('bystander'), 'pending');
  const flooded = (await alive(Array.from({ length: 22 }, (_, i) => `flood${i + 8}`))).filter(Boolean).length;
  assert.ok(flooded <= 9, `flood records kept: ${flooded}`);
  // A record used before it expired frees its place.
  const entry = quota.entry('198.51.100.8', ['used'], clock.now + 1);
  clock.advance(1);
  await store.set('used', 'pending', 60_000);
  await quota.add(entry, clock.now);
  await store.take('used');
  await quota.release(entry);
  await start('198.51.100.9', 'another bystander');
  assert.deepEqual(await alive(['bystander', 'another bystander']), [true, true]);
}

describe('pending records past the total bound (PendingQuota)', () => {
  test('in the memory store, the owners holding the most lose their oldest; an owner holding none is never refused', async () => {
    const store = new MemoryStore(undefined, 60_000, {});
    await floodAndNewcomer(store);
    await store.close();
  });

  test('in Redis, the same', { skip: redisSkipReason() }, async () => {
    const redis = await startTestRedis();
    const store = await RedisStore.connect({ url: redis.url, logger: createLogger('silent') });
    try {
      await floodAndNewcomer(store);
    } finally {
      await store.close();
      await redis.close();
    }
  });
});
