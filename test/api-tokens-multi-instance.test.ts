import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiToken, withToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn, startCluster, type TestCluster, type TestGatehouse } from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

describe('API tokens on two instances sharing Redis', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let a: TestGatehouse;
  let b: TestGatehouse;

  before(async () => {
    redis = await startTestRedis();
    cluster = await startCluster(2, { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url });
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

    const [token] = ((await (await browser.request(`${a.url}/auth/tokens`)).json()) as { tokens: Array<{ id: string }> }).tokens;
    assert.equal((await browser.request(`${a.url}/auth/tokens/${token!.id}`, { method: 'DELETE', headers: { 'x-csrf': '1' } })).status, 204);

    for (const instance of [b, a]) {
      const refused = await withToken(`${instance.url}/auth/user`, secret);
      assert.equal(refused.status, 401, instance.url);
      assert.equal(refused.json.error, 'invalid_token');
    }
  });
});
