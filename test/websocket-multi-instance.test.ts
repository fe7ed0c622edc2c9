import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiToken } from './helpers/api-tokens.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { eventually } from './helpers/eventually.ts';
import {
  CookieBrowser,
  signIn,
  signOutAtIdp,
  startCluster,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';
import { openSocket, opened, type TestSocket } from './helpers/websocket-client.ts';
import { WebSocketUpstream } from './helpers/websocket-upstream.ts';

/** The bound: a socket closes within 2 s of its session ending, on every instance. */
const closeWithinMs = 2000;

describe('a socket held on instance B closes when its session ends on A', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let upstream: WebSocketUpstream;
  let a: TestGatehouse;
  let b: TestGatehouse;
  let origin: string;

  before(async () => {
    redis = await startTestRedis();
    upstream = await new WebSocketUpstream('renku').start();
    const apis = writeApisFile([
      { name: 'live', url: upstream.url, token: 'user', audience: 'renku', websocket: true },
    ]);
    cluster = await startCluster(2, { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_APIS: apis });
    [a, b] = cluster.instances as [TestGatehouse, TestGatehouse];
    upstream.issuer = cluster.idp.issuer;
    // Instance 0's URL is the public one (the load balancer): the browser's pages come from there.
    origin = new URL(a.url).origin;
  });
  after(async () => {
    await cluster?.stop();
    await upstream?.stop();
    await redis?.close();
  });

  /** Signs alice in on A and opens a socket on B that works. */
  async function socketOnB(): Promise<{ browser: CookieBrowser; socket: TestSocket }> {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(a.url));
    const socket = opened(await openSocket(`${b.url}/api/live/feed`, { cookie, origin }));
    assert.equal((await socket.ask('ping')).echo, 'ping');
    return { browser, socket };
  }

  async function closesWithin2s(socket: TestSocket, reasons: RegExp): Promise<void> {
    await eventually(() => socket.isClosed(), 'the socket on B closed', { timeoutMs: closeWithinMs });
    const { code, reason } = await socket.closed;
    assert.equal(code, 4401);
    assert.match(reason, reasons);
    await eventually(() => upstream.sockets.size === 0, "the upstream's side closed too");
  }

  test('signing out on A closes it within 2 s, with 4401', async () => {
    const { browser, socket } = await socketOnB();
    const response = await browser.request(`${a.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    assert.equal(response.status, 302);
    await closesWithin2s(socket, /^(session_ended|grant_ended)$/);
  });

  test('a back-channel logout delivered to A closes it within 2 s', async () => {
    const { browser, socket } = await socketOnB();
    await signOutAtIdp(browser, `${cluster.idp.issuer}/session/end?client_id=gatehouse`);
    await closesWithin2s(socket, /^(session_ended|grant_ended)$/);
  });

  test('a session ended from the list on A closes its socket within 2 s', async () => {
    const { socket } = await socketOnB();
    const other = new CookieBrowser();
    await signIn(a, other, 'alice');
    const list = (await (await other.request(`${a.url}/auth/sessions`)).json()) as {
      sessions: Array<{ id: string; current: boolean }>;
    };
    const ended = list.sessions.filter((session) => !session.current);
    assert.ok(ended.length >= 1);
    for (const session of ended) {
      const response = await other.request(`${a.url}/auth/sessions/${session.id}`, {
        method: 'DELETE',
        headers: { 'x-csrf': '1' },
      });
      assert.equal(response.status, 204);
    }
    await closesWithin2s(socket, /^(session_ended|grant_ended)$/);
  });

  test('revoking the API token on A closes its socket on B within 2 s', async () => {
    const browser = new CookieBrowser();
    await signIn(a, browser, 'alice');
    const { secret } = await createApiToken(a, browser, { name: 'live feed' });
    const socket = opened(await openSocket(`${b.url}/api/live/feed`, { authorization: `Bearer ${secret}` }));
    assert.equal((await socket.ask('ping')).echo, 'ping');
    const listed = (await (await browser.request(`${a.url}/auth/tokens`)).json()) as { tokens: Array<{ id: string }> };
    const revoked = await browser.request(`${a.url}/auth/tokens/${listed.tokens[0]!.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(revoked.status, 204);
    await closesWithin2s(socket, /^token_revoked$/);
  });
});
