import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiToken } from './helpers/api-tokens.ts';
import { eventually } from './helpers/eventually.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import {
  CookieBrowser,
  callbackUrlFor,
  signIn,
  startGatehouse,
  TestClock,
  type TestGatehouse,
} from './helpers/harness.ts';
import { callSoap, decodeBase64, text } from './helpers/soap.ts';
import { sessionIdFromCookie } from '../server/session/session-cookie.ts';
import { sessionStoreFor } from '../server/session/session-middleware.ts';
import { openSocket, opened, refused } from './helpers/websocket-client.ts';
import { WebSocketUpstream } from './helpers/websocket-upstream.ts';

let gatehouse: TestGatehouse;
let upstream: WebSocketUpstream;
let browser: CookieBrowser;
let cookie: string;
let origin: string;
const clock = new TestClock();

before(async () => {
  upstream = await new WebSocketUpstream('renku').start();
  const apis = writeApisFile([
    { name: 'live', url: `${upstream.url}/base`, token: 'user', audience: 'renku', websocket: true },
    {
      name: 'feed',
      url: `${upstream.url}/feed`,
      token: 'user',
      audience: 'renku',
      websocket: { readOnlyTokens: true },
    },
    { name: 'plain', url: `${upstream.url}/plain`, token: 'user', audience: 'renku' },
    // The default token's audiences do not include stats: it must never be sent there.
    { name: 'stats', url: `${upstream.url}/stats`, token: 'user', audience: 'stats', websocket: true },
  ]);
  gatehouse = await startGatehouse(
    { GATEHOUSE_APIS: apis, GATEHOUSE_WS_MAX_PER_SESSION: '3', GATEHOUSE_SESSION_IDLE: '1800' },
    { clock: clock.read },
  );
  upstream.issuer = gatehouse.issuer;
  browser = new CookieBrowser();
  await signIn(gatehouse, browser, 'alice');
  cookie = browser.cookieHeader(new URL(gatehouse.url));
  origin = new URL(gatehouse.url).origin;
});
after(async () => {
  await gatehouse?.stop();
  await upstream?.stop();
});

test("a browser's socket with Gatehouse's own Origin exchanges messages with an upstream that verified the user's JWT", async () => {
  const socket = opened(await openSocket(`${gatehouse.url}/api/live/echo?room=1`, { cookie, origin }));
  const answer = await socket.ask('hello');
  assert.equal(answer.echo, 'hello');
  assert.equal(answer.sub, 'alice');
  assert.ok(answer.aud.includes('renku'), 'the upstream checked its audience');
  const binary = Buffer.from([0, 1, 2, 255]);
  socket.ws.send(binary);
  assert.deepEqual(await socket.next(), binary, 'binary frames pass unchanged');
  assert.match(String(socket.headers['x-request-id']), /^[0-9a-f-]{36}$/);

  const handshake = upstream.handshakes.at(-1)!;
  assert.equal(handshake.url, '/base/echo?room=1');
  assert.equal(handshake.claims?.sub, 'alice');
  assert.equal(handshake.headers.cookie, undefined, 'the browser cookie never reaches the upstream');
  assert.equal(handshake.headers.origin, undefined);
  assert.equal(handshake.headers['x-forwarded-prefix'], '/api/live');
  socket.ws.close(1000, 'done');
  assert.deepEqual(await socket.closedWithin(), { code: 1000, reason: 'done' });
  // The upgrade has its one log line, as every request has.
  assert.ok(gatehouse.logs.some((line) => /"path":"\/api\/live\/echo".*"status":101/.test(line)));
});

test('a subprotocol the upstream chooses is the one the browser gets', async () => {
  upstream.protocolChoice = 'v2.echo';
  try {
    const socket = opened(
      await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin }, ['v1.echo', 'v2.echo']),
    );
    assert.equal(socket.ws.protocol, 'v2.echo');
    assert.equal(upstream.handshakes.at(-1)!.headers['sec-websocket-protocol'], 'v1.echo,v2.echo');
    socket.ws.close();
    await socket.closed;
  } finally {
    upstream.protocolChoice = undefined;
  }
});

test('a foreign or missing Origin gets 403 with a cookie, and the upstream sees nothing', async () => {
  const seen = upstream.handshakes.length;
  for (const headers of [{ cookie, origin: 'https://evil.example' }, { cookie }, { cookie, origin: 'null' }]) {
    const refusal = refused(await openSocket(`${gatehouse.url}/api/live/echo`, headers));
    assert.equal(refusal.status, 403, JSON.stringify(headers));
    assert.equal(refusal.json.error, 'websocket_origin_refused');
    assert.equal(refusal.json.expectedOrigin, origin);
  }
  assert.equal(upstream.handshakes.length, seen);
});

test('an anonymous caller gets 401 JSON, and the upstream sees nothing', async () => {
  const seen = upstream.handshakes.length;
  const refusal = refused(await openSocket(`${gatehouse.url}/api/live/echo`, { origin }));
  assert.equal(refusal.status, 401);
  assert.equal(refusal.json.error, 'unauthenticated');
  assert.match(String(refusal.headers['content-type']), /application\/json/);
  assert.equal(upstream.handshakes.length, seen);
});

test('an upstream that has not opted in gets 400 websocket_not_allowed; an undeclared one 404', async () => {
  const seen = upstream.handshakes.length;
  const plain = refused(await openSocket(`${gatehouse.url}/api/plain/echo`, { cookie, origin }));
  assert.equal(plain.status, 400);
  assert.equal(plain.json.error, 'websocket_not_allowed');
  const unknown = refused(await openSocket(`${gatehouse.url}/api/nosuch/echo`, { cookie, origin }));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error, 'unknown_upstream');
  assert.equal(upstream.handshakes.length, seen);
});

test('an API token opens a socket without Origin; a read-only one only where the upstream allows it', async () => {
  const { secret } = await createApiToken(gatehouse, browser, { name: 'socket script' });
  const socket = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { authorization: `Bearer ${secret}` }));
  const answer = await socket.ask('from a script');
  assert.equal(answer.echo, 'from a script');
  assert.equal(answer.sub, 'alice');
  assert.notEqual(
    upstream.handshakes.at(-1)!.headers.authorization,
    `Bearer ${secret}`,
    'the upstream gets a JWT, not the handle',
  );
  socket.ws.close();
  await socket.closed;

  const readOnly = await createApiToken(gatehouse, browser, { name: 'reader', read_only: true });
  const seen = upstream.handshakes.length;
  const refusal = refused(
    await openSocket(`${gatehouse.url}/api/live/echo`, { authorization: `Bearer ${readOnly.secret}` }),
  );
  assert.equal(refusal.status, 403);
  assert.equal(refusal.json.error, 'token_scope');
  assert.equal(upstream.handshakes.length, seen);
  const feed = opened(
    await openSocket(`${gatehouse.url}/api/feed/echo`, { authorization: `Bearer ${readOnly.secret}` }),
  );
  assert.equal((await feed.ask('read')).echo, 'read');
  feed.ws.close();
  await feed.closed;

  const unknown = refused(
    await openSocket(`${gatehouse.url}/api/live/echo`, { authorization: 'Bearer gh_nosuchtoken' }),
  );
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json.error, 'invalid_token');
});

test('a SOAP IdentityToken opens a socket as a bearer caller, and the SOAP Logout closes it with 4401', async () => {
  // The LiveScore client's flow: GetExternalLoginRedirectURL, sign-in at the IdP, ExternalLogin.
  const redirect = await callSoap(gatehouse.url, 'GetExternalLoginRedirectURL', [
    ['RequestURL', `${gatehouse.url}/external/callback`],
  ]);
  const back = new URL(
    await callbackUrlFor(
      gatehouse,
      new CookieBrowser(),
      'alice',
      decodeBase64(text(redirect.body, 'RedirectURL')),
      '/external/callback',
    ),
  );
  const signedIn = await callSoap(gatehouse.url, 'ExternalLogin', [
    ['Code', back.searchParams.get('code') ?? ''],
    ['State', back.searchParams.get('state') ?? ''],
    ['ContextID', text(redirect.body, 'ContextID')],
  ]);
  const identityToken = text(signedIn.body, 'IdentityToken');

  const socket = opened(
    await openSocket(`${gatehouse.url}/api/live/echo`, { authorization: `Bearer ${identityToken}` }),
  );
  assert.equal((await socket.ask('soap client')).sub, 'alice');
  assert.equal((await callSoap(gatehouse.url, 'Logout', [['IdentityToken', identityToken]])).status, 200);
  assert.deepEqual(await socket.closedWithin(), { code: 4401, reason: 'grant_ended' });
});

test('a session may hold GATEHOUSE_WS_MAX_PER_SESSION sockets; the next gets 429 until one closes', async () => {
  const sockets = [];
  for (let i = 0; i < 3; i++)
    sockets.push(opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin })));
  const seen = upstream.handshakes.length;
  const refusal = refused(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin }));
  assert.equal(refusal.status, 429);
  assert.equal(refusal.json.error, 'websocket_limit');
  assert.equal(upstream.handshakes.length, seen);

  // Another user's session has its own places.
  const bob = new CookieBrowser();
  await signIn(gatehouse, bob, 'bob');
  const bobs = opened(
    await openSocket(`${gatehouse.url}/api/live/echo`, { cookie: bob.cookieHeader(new URL(gatehouse.url)), origin }),
  );
  assert.equal((await bobs.ask('hi')).sub, 'bob');
  bobs.ws.close();

  sockets[0]!.ws.close();
  await sockets[0]!.closed;
  // The place is free once Gatehouse has seen the close too.
  const again = await eventually(
    async () => opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin })),
    'a socket opens again after one of the three closed',
  );
  for (const socket of [...sockets.slice(1), again]) socket.ws.close();
  await Promise.all([...sockets.slice(1), again].map((socket) => socket.closed));
});

test('signing out closes the socket with 4401 and a reason', async () => {
  const other = new CookieBrowser();
  await signIn(gatehouse, other, 'alice');
  const otherCookie = other.cookieHeader(new URL(gatehouse.url));
  const socket = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie: otherCookie, origin }));
  const response = await other.request(`${gatehouse.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
  assert.ok(response.status < 400, `sign-out answered ${response.status}`);
  const closed = await socket.closedWithin();
  assert.equal(closed.code, 4401);
  assert.match(closed.reason, /^(session_ended|grant_ended)$/);
});

test('an upgrade to a page is answered as the plain request it is', async () => {
  const refusal = refused(await openSocket(`${gatehouse.url}/healthz`, {}));
  assert.equal(refusal.status, 200);
});

/** A browser signed in as alice just now, by its cookie. */
async function freshCookie(): Promise<string> {
  const fresh = new CookieBrowser();
  await signIn(gatehouse, fresh, 'alice');
  return fresh.cookieHeader(new URL(gatehouse.url));
}

test("the upstream's handshake carries a fresh token: one about to expire is refreshed first", async () => {
  const cookie = await freshCookie();
  const first = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin }));
  first.ws.close();
  await first.closedWithin();
  const before = upstream.handshakes.at(-1)!.headers.authorization;
  clock.advance(10 * 60_000); // past the access token's lifetime, as Gatehouse's clock sees it
  const second = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin }));
  const handshake = upstream.handshakes.at(-1)!;
  assert.notEqual(handshake.headers.authorization, before, 'a refreshed token, not the expired one');
  assert.equal(handshake.claims?.sub, 'alice', 'and the upstream verified it');
  second.ws.close();
  await second.closedWithin();
});

test("a token without the upstream's audience is never sent: 403 audience_mismatch before the handshake reaches it", async () => {
  const cookie = await freshCookie();
  const seen = upstream.handshakes.length;
  const refusal = refused(await openSocket(`${gatehouse.url}/api/stats/echo`, { cookie, origin }));
  assert.equal(refusal.status, 403);
  assert.equal(refusal.json.error, 'audience_mismatch');
  assert.equal(upstream.handshakes.length, seen);
});

test('messages the page sends over its socket count as use of its session, as requests do', async () => {
  const browserCookie = await freshCookie();
  const value = decodeURIComponent(/(?:^|; )gatehouse=([^;]+)/.exec(browserCookie)![1]!);
  const sessionId = sessionIdFromCookie(value, gatehouse.gh.config.session.secret)!;
  const sessions = sessionStoreFor(gatehouse.gh.deps);
  const socket = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie: browserCookie, origin }));
  clock.advance(1000_000); // idle limit 1800 s: 1000 s without a request
  assert.equal((await socket.ask('still typing')).echo, 'still typing');
  await eventually(
    async () => (await sessions.read(sessionId))?.lastSeenAt === clock.now,
    "the socket's traffic was recorded as the session's last use",
  );
  clock.advance(1000_000); // 2000 s after the last request, 1000 s after the last message
  const user = await fetch(`${gatehouse.url}/auth/user`, { headers: { cookie: browserCookie } });
  assert.equal(user.status, 200, 'the session is alive');
  socket.ws.close();
  await socket.closedWithin();
});

// Last: it moves the clock past every session's idle limit.
test('a session idle for GATEHOUSE_SESSION_IDLE closes its socket with 4401 session_idle, though the socket is open', async () => {
  const cookie = await freshCookie();
  const socket = opened(await openSocket(`${gatehouse.url}/api/live/echo`, { cookie, origin }));
  clock.advance(1801_000);
  assert.deepEqual(await socket.closedWithin(), { code: 4401, reason: 'session_idle' });
});
