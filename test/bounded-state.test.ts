import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashHandle } from '../server/random.ts';
import { MemoryStore } from '../server/store/memory-store.ts';
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
