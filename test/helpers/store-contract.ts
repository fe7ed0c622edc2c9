import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { Store } from '../../server/store/store.ts';
import { eventually } from './eventually.ts';

/** A store under test and how time passes for it. */
export interface Subject {
  store: Store;
  /** A TTL short enough to wait out. */
  shortTtlMs: number;
  /** Lets `ms` pass: the test clock moves for the memory store; real time passes for Redis. */
  elapse(ms: number): Promise<void>;
}

/**
 * The contract every Store keeps, run against each implementation. Keys are unique per test,
 * so a shared Redis (GATEHOUSE_TEST_REDIS_URL) is safe to use.
 */
export function storeContract(subject: () => Subject): void {
  const key = (name: string): string => `contract:${randomUUID()}:${name}`;

  test('a value set without a TTL is read back exactly', async () => {
    const { store } = subject();
    const k = key('plain');
    const value = JSON.stringify({ name: 'Ünïcødé ✓', nested: { n: 7 } });
    await store.set(k, value);
    assert.equal(await store.get(k), value);
  });

  test('reading a key that was never set gives undefined', async () => {
    const { store } = subject();
    assert.equal(await store.get(key('missing')), undefined);
  });

  test('a value is still there before its TTL has passed', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('long');
    await store.set(k, 'v', 60_000);
    await elapse(shortTtlMs);
    assert.equal(await store.get(k), 'v');
  });

  test('a value is gone once its TTL has passed', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('short');
    await store.set(k, 'v', shortTtlMs);
    await elapse(shortTtlMs);
    await eventually(async () => (await store.get(k)) === undefined, 'the value expired');
  });

  test('setting a value again without a TTL makes it permanent', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('made-permanent');
    await store.set(k, 'first', shortTtlMs);
    await store.set(k, 'second');
    await elapse(shortTtlMs);
    assert.equal(await store.get(k), 'second');
  });

  test('setIfAbsent sets a missing key once and leaves an existing value alone', async () => {
    const { store } = subject();
    const k = key('once');
    assert.equal(await store.setIfAbsent(k, 'first', 60_000), true);
    assert.equal(await store.setIfAbsent(k, 'second', 60_000), false);
    assert.equal(await store.get(k), 'first');
  });

  test('setIfAbsent succeeds again after the earlier value expired', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('lock');
    assert.equal(await store.setIfAbsent(k, 'first', shortTtlMs), true);
    await elapse(shortTtlMs);
    await eventually(async () => store.setIfAbsent(k, 'second', 60_000), 'the lock expired');
    assert.equal(await store.get(k), 'second');
  });

  test('of 20 concurrent setIfAbsent calls exactly one wins', async () => {
    const { store } = subject();
    const k = key('race');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.setIfAbsent(k, `caller-${i}`, 60_000)),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await store.get(k), `caller-${results.indexOf(true)}`);
  });

  test('setIfPresent replaces an existing value and never creates a missing one', async () => {
    const { store } = subject();
    const k = key('present');
    assert.equal(await store.setIfPresent(k, 'ghost', 60_000), false);
    assert.equal(await store.get(k), undefined, 'a deleted record is not brought back');
    await store.set(k, 'first', 60_000);
    assert.equal(await store.setIfPresent(k, 'second', 60_000), true);
    assert.equal(await store.get(k), 'second');
  });

  test('setIfPresent does not write a key whose value expired', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('present-expired');
    await store.set(k, 'first', shortTtlMs);
    await elapse(shortTtlMs);
    await eventually(async () => (await store.get(k)) === undefined, 'the value expired');
    assert.equal(await store.setIfPresent(k, 'second', 60_000), false);
    assert.equal(await store.get(k), undefined);
  });

  test('take returns the value and removes it', async () => {
    const { store } = subject();
    const k = key('take');
    await store.set(k, 'v', 60_000);
    assert.equal(await store.take(k), 'v');
    assert.equal(await store.get(k), undefined);
    assert.equal(await store.take(k), undefined);
  });

  test('of 20 concurrent takes exactly one gets the value', async () => {
    const { store } = subject();
    const k = key('take-race');
    await store.set(k, 'the-one', 60_000);
    const results = await Promise.all(Array.from({ length: 20 }, () => store.take(k)));
    assert.deepEqual(
      results.filter((r) => r !== undefined),
      ['the-one'],
    );
  });

  test('take of an expired value gives undefined', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('take-expired');
    await store.set(k, 'v', shortTtlMs);
    await elapse(shortTtlMs);
    await eventually(async () => (await store.take(k)) === undefined, 'the value expired');
  });

  test('delete removes values and sets, and ignores missing keys', async () => {
    const { store } = subject();
    const [value, set, missing] = [key('value'), key('set'), key('missing')];
    await store.set(value, 'v');
    await store.addToSet(set, 'member');
    await store.delete(value, set, missing);
    assert.equal(await store.get(value), undefined);
    assert.deepEqual(await store.members(set), []);
    await store.delete();
  });

  test('a set holds each member once and forgets removed members', async () => {
    const { store } = subject();
    const k = key('set');
    await store.addToSet(k, 'a');
    await store.addToSet(k, 'b');
    await store.addToSet(k, 'a');
    assert.deepEqual((await store.members(k)).sort(), ['a', 'b']);
    await store.removeFromSet(k, 'a');
    await store.removeFromSet(k, 'not-a-member');
    assert.deepEqual(await store.members(k), ['b']);
    await store.removeFromSet(k, 'b');
    assert.deepEqual(await store.members(k), []);
    await store.removeFromSet(key('no-such-set'), 'x');
  });

  test('a set given a TTL is gone once it has passed', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('set-ttl');
    await store.addToSet(k, 'a', shortTtlMs);
    await elapse(shortTtlMs);
    await eventually(async () => (await store.members(k)).length === 0, 'the set expired');
  });

  test('a shorter TTL on a later member does not shorten the set', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('set-extend');
    await store.addToSet(k, 'long-lived', 60_000);
    await store.addToSet(k, 'short-lived', shortTtlMs);
    await elapse(shortTtlMs);
    assert.deepEqual((await store.members(k)).sort(), ['long-lived', 'short-lived']);
  });

  test('a longer TTL on a later member lengthens the set', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('set-lengthen');
    await store.addToSet(k, 'first', shortTtlMs);
    await store.addToSet(k, 'second', 60_000);
    await elapse(shortTtlMs);
    assert.deepEqual((await store.members(k)).sort(), ['first', 'second']);
  });

  test('a scored set counts per member, drops a member at 0 and lists the highest first', async () => {
    const { store } = subject();
    const k = key('scores');
    assert.equal(await store.addToScore(k, 'a', 3, 60_000), 3);
    assert.equal(await store.addToScore(k, 'b', 5, 60_000), 5);
    assert.equal(await store.addToScore(k, 'c', 1, 60_000), 1);
    assert.equal(await store.addToScore(k, 'a', -1, 60_000), 2);
    assert.equal(await store.addToScore(k, 'absent', 0, 60_000), 0, 'adding 0 reads a score');
    assert.deepEqual(await store.highestScores(k, 2), [
      { member: 'b', score: 5 },
      { member: 'a', score: 2 },
    ]);
    assert.equal(await store.addToScore(k, 'b', -5, 60_000), 0);
    assert.deepEqual(
      (await store.highestScores(k, 10)).map((entry) => entry.member),
      ['a', 'c'],
      'a member at 0 is gone',
    );
    assert.deepEqual(await store.highestScores(key('no-such-scores'), 3), []);
  });

  test('a scored set given a TTL is gone once it has passed', async () => {
    const { store, shortTtlMs, elapse } = subject();
    const k = key('scores-ttl');
    await store.addToScore(k, 'a', 1, shortTtlMs);
    await elapse(shortTtlMs);
    await eventually(async () => (await store.highestScores(k, 1)).length === 0, 'the scored set expired');
  });

  test('ping resolves while the store is reachable', async () => {
    await subject().store.ping();
  });
}
