import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import { eventually } from './helpers/eventually.ts';
import {
  callbackUrlFor,
  CookieBrowser,
  signIn,
  signOutAtIdp,
  startCluster,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { redisSkipReason, restartableRedisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

describe('two Gatehouse instances on one Redis behave as one', { skip: redisSkipReason() }, () => {
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

  /** The signed-in user's `sub` as `instance` sees this browser, or undefined when signed out. */
  async function userOn(instance: TestGatehouse, browser: CookieBrowser): Promise<string | undefined> {
    const response = await browser.request(`${instance.url}/auth/user`);
    if (response.status === 401) return undefined;
    assert.equal(response.status, 200, `unexpected ${response.status} from ${instance.url}`);
    return ((await response.json()) as { sub: string }).sub;
  }

  /** Waits until the instance is ready again: its Redis client reconnects on a backoff. */
  async function untilReady(instance: TestGatehouse): Promise<void> {
    await eventually(
      async () => (await fetch(`${instance.url}/readyz`)).status === 200,
      `${instance.url} is ready again`,
    );
  }

  test('a sign-in on instance A works on instance B', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    assert.equal(await userOn(b, browser), 'alice');
    const home = await browser.navigate(`${b.url}/`);
    assert.match(home.body, /id="user-name">Alice Liddell</);
  });

  test('a sign-in started on A and finished on B works on both', async () => {
    const browser = new CookieBrowser();
    const callback = new URL(await callbackUrlFor(a, browser, 'bob'));
    const onB = new URL(callback.pathname + callback.search, b.url);
    const response = await browser.request(onB.href);
    assert.equal(response.status, 302, 'B finds the login transaction A stored');
    assert.equal(response.headers.get('location'), '/');
    assert.equal(await userOn(a, browser), 'bob');
    assert.equal(await userOn(b, browser), 'bob');
  });

  test('signing out on B ends the session on A', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    assert.equal(await userOn(a, browser), 'alice');
    const cookie = `gatehouse=${browser.cookie('localhost', 'gatehouse')}`;
    const loggedOut = await browser.request(`${b.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    assert.equal(loggedOut.status, 302);
    assert.ok(
      loggedOut.headers.get('location')?.startsWith(cluster.idp.issuer),
      'B knew the session and ends it at the IdP too',
    );
    // The logout response cleared the cookie in this browser; a copy of it (another tab, a
    // stolen cookie) must be refused by A as well.
    const onA = await fetch(`${a.url}/auth/user`, { headers: { cookie } });
    assert.equal(onA.status, 401);
  });

  test('a back-channel logout delivered to A ends a session used on B', async () => {
    const browser = new CookieBrowser();
    await signIn(b, browser, 'alice');
    assert.equal(await userOn(b, browser), 'alice');

    // The user signs out at the IdP itself; the IdP tells the public URL (instance A).
    const deliveredBefore = cluster.idp.stats.backchannelLogouts;
    await signOutAtIdp(browser, `${cluster.idp.issuer}/session/end?client_id=gatehouse`);
    assert.equal(cluster.idp.stats.backchannelLogouts, deliveredBefore + 1, 'the IdP delivered a logout_token');
    assert.ok(
      a.logs.some((line) => line.includes('"msg":"back-channel logout"') && line.includes('"ended":1')),
      'A received it and ended the grant',
    );

    assert.equal(await userOn(b, browser), undefined);
  });

  test('a logout_token replayed to the other instance is refused', async () => {
    const key = await importJWK(cluster.idp.signingJwk, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      iss: cluster.idp.issuer,
      aud: 'gatehouse',
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      sid: 'an-idp-session-that-has-no-grants',
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    })
      .setProtectedHeader({ alg: 'RS256', kid: cluster.idp.signingJwk.kid })
      .sign(key);
    const deliver = (instance: TestGatehouse): Promise<Response> =>
      fetch(`${instance.url}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }).toString(),
      });
    assert.equal((await deliver(a)).status, 200);
    const replay = await deliver(b);
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { reason: string }).reason, 'jti_replayed');
  });

  test('a session ended from the session list on A is refused on B', async () => {
    const laptop = new CookieBrowser();
    const phone = new CookieBrowser();
    await signIn(a, laptop, 'alice');
    await signIn(a, phone, 'alice');
    const listed = await laptop.request(`${b.url}/auth/sessions`);
    const { sessions } = (await listed.json()) as { sessions: Array<{ id: string; current: boolean }> };
    const phoneSession = sessions.find((s) => !s.current);
    assert.ok(phoneSession, 'B lists the sessions made on A');
    const ended = await laptop.request(`${a.url}/auth/sessions/${phoneSession.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(ended.status, 204);
    assert.equal(await userOn(b, phone), undefined);
    assert.equal(await userOn(b, laptop), 'alice');
  });

  test('while Redis is down both instances answer 503 and sign nobody out; once it is back the same session works on both', {
    skip: restartableRedisSkipReason(),
  }, async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    assert.equal(await userOn(b, browser), 'alice');
    const cookieBefore = browser.cookie('localhost', 'gatehouse');
    assert.ok(cookieBefore);

    await redis.stop();
    try {
      const api = await browser.request(`${a.url}/auth/user`);
      assert.equal(api.status, 503);
      assert.equal(((await api.json()) as { error: string }).error, 'store_unavailable');

      const page = await browser.request(`${b.url}/`, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 503);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await page.text(), /<code id="error-code">store_unavailable<\/code>/);

      const signOut = await browser.request(`${b.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
      assert.equal(signOut.status, 503, 'not even a sign-out can half-happen while the store is away');

      for (const instance of [a, b]) assert.equal((await fetch(`${instance.url}/readyz`)).status, 503);
      assert.equal(browser.cookie('localhost', 'gatehouse'), cookieBefore, 'no response cleared the session cookie');
    } finally {
      await redis.restart();
    }

    await untilReady(a);
    await untilReady(b);
    assert.equal(await userOn(a, browser), 'alice');
    assert.equal(await userOn(b, browser), 'alice');
  });
});
