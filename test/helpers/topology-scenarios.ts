import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { createApiToken, withToken } from './api-tokens.ts';
import { writeApisFile } from './apis-file.ts';
import { EchoUpstream } from './echo-upstream.ts';
import { eventually } from './eventually.ts';
import {
  CookieBrowser,
  signIn,
  signOutAtIdp,
  startCluster,
  TestClock,
  type TestCluster,
  type TestGatehouse,
} from './harness.ts';
import type { RedisTopologyFixture } from './redis-topologies.ts';

const minute = 60_000;

/**
 * The same scenarios on any Redis deployment (Sentinel, Cluster): two Gatehouse instances and
 * one IdP share it. Registers the tests in the calling `describe`; `deployment` gives the
 * file's one deployment, started before (the last test fails its master over).
 */
export function topologyScenarios(deployment: () => RedisTopologyFixture): void {
  let redis: RedisTopologyFixture;
  let cluster: TestCluster;
  let echo: EchoUpstream;
  let a: TestGatehouse;
  let b: TestGatehouse;
  // Gatehouse's clock, advanced past access tokens' lifetimes (Redis keeps its own time for TTLs).
  const clock = new TestClock();

  before(async () => {
    redis = deployment();
    echo = await new EchoUpstream('renku').start();
    cluster = await startCluster(
      2,
      {
        ...redis.env,
        GATEHOUSE_APIS: writeApisFile([{ name: 'echo', url: echo.url, token: 'user', audience: 'renku' }]),
      },
      { clock: clock.read },
    );
    echo.issuer = cluster.idp.issuer;
    [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
  });
  after(async () => {
    await cluster?.stop();
    await echo?.stop();
  });

  const api = (instance: TestGatehouse, browser: CookieBrowser) =>
    browser.request(`${instance.url}/api/echo/items`, { headers: { 'x-csrf': '1' } });
  const user = async (instance: TestGatehouse, browser: CookieBrowser) => {
    const response = await browser.request(`${instance.url}/auth/user`);
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };

  // Before any test moves the clock: a logout_token is checked against it.
  test('a back-channel logout delivered to one instance ends the session on the other', async () => {
    const browser = new CookieBrowser();
    await signIn(b, browser, 'bob');
    assert.equal((await user(b, browser)).status, 200);
    const deliveredBefore = cluster.idp.stats.backchannelLogouts;
    await signOutAtIdp(browser, `${cluster.idp.issuer}/session/end?client_id=gatehouse`);
    assert.equal(cluster.idp.stats.backchannelLogouts, deliveredBefore + 1, 'the IdP delivered a logout_token');
    assert.equal((await user(b, browser)).status, 401);
  });

  test('rate limits count across instances: 3 wrong device codes on one and 2 on the other, then 429 on both', async () => {
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
    for (const instance of [a, b]) assert.equal((await guess(instance, 0)).response.status, 429, instance.url);
  });

  test('a sign-in on one instance calls the API on the other, refreshes its token there, and its API token works on both', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser);
    assert.equal((await api(b, browser)).status, 200);

    const refreshesBefore = cluster.idp.stats.tokenRequests.refresh_token ?? 0;
    clock.advance(10 * minute); // past the access token's lifetime
    assert.equal((await api(b, browser)).status, 200);
    assert.equal(cluster.idp.stats.tokenRequests.refresh_token, refreshesBefore + 1, 'one refresh');
    assert.equal((await api(a, browser)).status, 200, 'the refreshed token, stored, serves the other instance');
    assert.equal(cluster.idp.stats.tokenRequests.refresh_token, refreshesBefore + 1);

    const { secret } = await createApiToken(a, browser);
    for (const instance of [a, b]) assert.equal((await withToken(`${instance.url}/auth/user`, secret)).status, 200);
  });

  test("killing the master of a session's grant: 503 store_unavailable meanwhile, then the same session, API token and refresh work on both instances", async (t: TestContext) => {
    const browser = new CookieBrowser();
    const bobsGrants = async () => new Set(await a.gh.deps.grants.idsBySub('bob'));
    const before = await bobsGrants();
    await signIn(a, browser, 'bob');
    // The grant this sign-in made: bob's other sessions (earlier tests) are not this browser's.
    const made = [...(await bobsGrants())].filter((id) => !before.has(id));
    assert.equal(made.length, 1);
    const grantId = made[0]!;
    const { secret } = await createApiToken(a, browser);
    const master = await redis.masterFor(`grant:${grantId}`);

    await redis.killMaster(master);
    const killedAt = performance.now();
    const during = await user(a, browser);
    assert.equal(during.status, 503, 'the store is away: a 503, not a sign-out');
    assert.equal(during.json.error, 'store_unavailable');

    // Until every call works again, each answers 200 or 503, never 401.
    const seen = new Set<number>();
    await eventually(
      async () => {
        const statuses = [
          (await user(a, browser)).status,
          (await user(b, browser)).status,
          (await api(b, browser)).status,
          (await withToken(`${a.url}/auth/user`, secret)).status,
        ];
        for (const status of statuses) seen.add(status);
        return statuses.every((status) => status === 200);
      },
      'every call works again after the failover',
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    t.diagnostic(`calls worked again ${Math.round(performance.now() - killedAt)} ms after the master was killed`);
    assert.deepEqual(
      [...seen].filter((status) => status !== 200 && status !== 503),
      [],
      'nothing but 200 and 503 meanwhile',
    );
    await redis.promoted(`grant:${grantId}`, master);

    // The refresh token, stored before the failover, still refreshes after it. (The API token's
    // grant: it is the newest one of this IdP session, see sign-out-grant.ts.)
    const refreshesBefore = cluster.idp.stats.tokenRequests.refresh_token ?? 0;
    clock.advance(10 * minute);
    assert.equal((await withToken(`${b.url}/api/echo/items`, secret)).status, 200);
    assert.equal(cluster.idp.stats.tokenRequests.refresh_token, refreshesBefore + 1);
  });
}
