import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeApisFile } from './helpers/apis-file.ts';
import { eventually } from './helpers/eventually.ts';
import { scrape } from './helpers/prometheus-text.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse } from './helpers/harness.ts';
import { openSocket, opened, type TestSocket } from './helpers/websocket-client.ts';
import { WebSocketUpstream } from './helpers/websocket-upstream.ts';

const minute = 60_000;
let gatehouse: TestGatehouse;
let upstream: WebSocketUpstream;
let origin: string;
const clock = new TestClock();

before(async () => {
  upstream = await new WebSocketUpstream('renku').start();
  const apis = writeApisFile([
    { name: 'live', url: upstream.url, token: 'user', audience: 'renku', websocket: true },
    { name: 'short', url: upstream.url, token: 'user', audience: 'renku', websocket: { maxLifetimeMs: 3000 } },
  ]);
  gatehouse = await startGatehouse(
    {
      GATEHOUSE_APIS: apis,
      GATEHOUSE_WS_IDLE: '2',
      GATEHOUSE_WS_SESSION_CHECK_MS: '100',
      // Idle longer than the maximum, so the clock can pass the maximum without idling first.
      GATEHOUSE_SESSION_IDLE: '86400',
      GATEHOUSE_SESSION_MAX: '3600',
      GATEHOUSE_METRICS_PORT: '0',
      GATEHOUSE_WS_MAX_MESSAGE: '1024',
    },
    { clock: clock.read },
  );
  upstream.issuer = gatehouse.issuer;
  origin = new URL(gatehouse.url).origin;
});
after(async () => {
  await gatehouse?.stop();
  await upstream?.stop();
});

/** A fresh sign-in (the clock moves in these tests) and a socket of it to `name`. */
async function freshSocket(name = 'live'): Promise<{ browser: CookieBrowser; socket: TestSocket }> {
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, 'alice');
  const cookie = browser.cookieHeader(new URL(gatehouse.url));
  const socket = opened(await openSocket(`${gatehouse.url}/api/${name}/feed`, { cookie, origin }));
  return { browser, socket };
}

test('a socket that carries no message for GATEHOUSE_WS_IDLE is closed with 4408 "idle", on both sides, and the metrics count it', async () => {
  const metricsUrl = gatehouse.gh.deps.observability!.metricsUrl!;
  const open = 'gatehouse_websockets_open{upstream="live"}';
  const idleCloses = 'gatehouse_websocket_closes_total{upstream="live",cause="idle"}';
  const before = (await scrape(metricsUrl)).get(idleCloses) ?? 0;
  const { socket } = await freshSocket();
  assert.equal((await scrape(metricsUrl)).get(open), 1);
  assert.deepEqual(await socket.closedWithin(), { code: 4408, reason: 'idle' });
  await eventually(() => upstream.sockets.size === 0, "the upstream's side closed too");
  const after = await scrape(metricsUrl);
  assert.equal(after.get(open), 0);
  assert.equal(after.get(idleCloses), before + 1);
});

test("a busy socket outlives the idle time and is closed at its upstream's maxLifetimeMs with 4410", async () => {
  const { socket } = await freshSocket('short');
  // Messages every 300 ms: never idle for 2 s, so only the 3 s lifetime can end it.
  for (let i = 0; i < 40 && !socket.isClosed(); i++) {
    socket.ws.send('still here');
    await sleep(300);
  }
  assert.deepEqual(await socket.closedWithin(), { code: 4410, reason: 'max_lifetime' });
});

test('a message over GATEHOUSE_WS_MAX_MESSAGE closes the socket with 1009 and is not passed on', async () => {
  const { socket } = await freshSocket();
  // The echo adds the claims: 900 bytes come back as less than 1024.
  assert.equal((await socket.ask('x'.repeat(900))).echo.length, 900, 'within the limit, it goes through');
  const upstreamSocket = [...upstream.sockets].at(-1)!;
  let upstreamGot = 0;
  upstreamSocket.on('message', () => upstreamGot++);
  socket.ws.send('x'.repeat(1025));
  assert.equal((await socket.closedWithin()).code, 1009);
  assert.equal(upstreamGot, 0);
});

test('a session past GATEHOUSE_SESSION_MAX closes its socket with 4401 session_expired', async () => {
  const { socket } = await freshSocket();
  clock.advance(60 * minute + 1000);
  assert.deepEqual(await socket.closedWithin(), { code: 4401, reason: 'session_expired' });
});

test('a refresh the IdP refuses ends the grant, and its socket closes with 4401 grant_ended', async () => {
  const { browser, socket } = await freshSocket();
  const devIdp = gatehouse.gh.devIdp!;
  devIdp.tokenEndpointStandIn = () => ({
    status: 400,
    contentType: 'application/json',
    body: '{"error":"invalid_grant"}',
  });
  try {
    clock.advance(10 * minute); // the access token has expired: the next call refreshes
    const response = await browser.request(`${gatehouse.url}/api/live/anything`, { headers: { 'x-csrf': '1' } });
    assert.equal(response.status, 401);
    assert.deepEqual(await socket.closedWithin(), { code: 4401, reason: 'grant_ended' });
  } finally {
    devIdp.tokenEndpointStandIn = undefined;
  }
});
