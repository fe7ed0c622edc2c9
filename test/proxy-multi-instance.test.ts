import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { writeApisFile } from './helpers/apis-file.ts';
import { EchoUpstream } from './helpers/echo-upstream.ts';
import {
  CookieBrowser,
  signIn,
  startCluster,
  TestClock,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

describe('two instances on one Redis refresh a grant as one', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let echo: EchoUpstream;
  const clock = new TestClock();

  before(async () => {
    redis = await startTestRedis();
    echo = await new EchoUpstream('renku').start();
    const apis = writeApisFile([{ name: 'echo', url: echo.url, token: 'user', audience: 'renku' }]);
    cluster = await startCluster(
      2,
      { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_APIS: apis },
      { clock: clock.read },
    );
    echo.issuer = cluster.idp.issuer;
  });
  after(async () => {
    await cluster?.stop();
    await echo?.stop();
    await redis?.close();
  });

  test('50 concurrent calls with an expired token, split across both instances, cause one refresh and all succeed', async () => {
    const [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(a.url));
    const call = (instance: TestGatehouse) =>
      fetch(`${instance.url}/api/echo/items`, { headers: { cookie, 'x-csrf': '1' } });
    assert.equal((await call(b)).status, 200);
    const refreshes = cluster.idp.stats.tokenRequests.refresh_token ?? 0;
    const seen = echo.requests.length;

    clock.advance(10 * 60_000);
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i % 2 ? a : b)));
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(cluster.idp.stats.tokenRequests.refresh_token ?? 0, refreshes + 1);
    assert.equal(
      new Set(echo.requests.slice(seen).map((r) => r.token)).size,
      1,
      'both instances sent the one refreshed token',
    );

    // The rotated refresh token is in Redis: the next expiry is one more refresh, on either instance.
    clock.advance(10 * 60_000);
    assert.equal((await call(a)).status, 200);
    assert.equal((await call(b)).status, 200);
    assert.equal(cluster.idp.stats.tokenRequests.refresh_token ?? 0, refreshes + 2);
  });
});
