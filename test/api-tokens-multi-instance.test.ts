import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiToken, withToken } from './helpers/api-tokens.ts';
import {
  CookieBrowser,
  signIn,
  startCluster,
  TestClock,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

describe('API tokens on two instances sharing Redis', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let a: TestGatehouse;
  let b: TestGatehouse;
  // Stopped at the start of a minute, so the wrong-code window cannot roll over mid-test.
  const clock = new TestClock(Math.floor(Date.now() / 60_000) * 60_000 + 1_000);

  before(async () => {
    redis = await startTestRedis();
    cluster = await startCluster(
      2,
      { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url },
      { clock: clock.read },
    );
    [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
  });
  after(async () => {
    await cluster?.stop();
    await redis?.close();
  });

  test('a token created on one instance works on the other, and once revoked there gets 401 invalid_token on both', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser);
    const { secret } = await createApiToken(a, browser);
    assert.equal((await withToken(`${b.url}/auth/user`, secret)).status, 200);

    const [token] = (
      (await (await browser.request(`${a.url}/auth/tokens`)).json()) as { tokens: Array<{ id: string }> }
    ).tokens;
    assert.equal(
      (await browser.request(`${a.url}/auth/tokens/${token!.id}`, { method: 'DELETE', headers: { 'x-csrf': '1' } }))
        .status,
      204,
    );

    for (const instance of [b, a]) {
      const refused = await withToken(`${instance.url}/auth/user`, secret);
      assert.equal(refused.status, 401, instance.url);
      assert.equal(refused.json.error, 'invalid_token');
    }
  });

  test('wrong device codes are counted across instances: 3 on one and 2 on the other, then 429 on both', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser);
    const guess = (instance: TestGatehouse, i: number) =>
      browser.navigate(`${instance.url}/device?user_code=BBBB-BB${'CDFGH'[i]}B`);
    for (const [instance, i] of [
      [a, 0],
      [a, 1],
      [a, 2],
      [b, 3],
      [b, 4],
    ] as const) {
      assert.equal((await guess(instance, i)).response.status, 400);
    }
    for (const instance of [a, b]) {
      const limited = await guess(instance, 0);
      assert.equal(limited.response.status, 429, instance.url);
      assert.equal(limited.response.headers.get('retry-after'), '59');
    }
  });
});
