import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../server/log.ts';
import type { SocketCloseCause } from '../server/observability/observability.ts';
import { SocketRegistry, type WatchedCredential } from '../server/proxy/socket-registry.ts';

/** A credential whose state the test sets: live, ended (a cause), or a store that cannot answer. */
function credential(
  key: string,
): WatchedCredential & { state: SocketCloseCause | 'live' | 'store_down'; checks: number } {
  const watched = {
    key,
    state: 'live' as SocketCloseCause | 'live' | 'store_down',
    checks: 0,
    async check(): Promise<SocketCloseCause | undefined> {
      watched.checks++;
      if (watched.state === 'store_down') throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      return watched.state === 'live' ? undefined : watched.state;
    },
  };
  return watched;
}

function socket() {
  const closes: Array<{ code: number; reason: string; cause: SocketCloseCause }> = [];
  return {
    closes,
    close: (code: number, reason: string, cause: SocketCloseCause) => closes.push({ code, reason, cause }),
  };
}

function registry(logs: string[] = [], limits = { maxPerSession: 2, maxPerInstance: 3 }) {
  // checkMs is long: these tests run the checks themselves (checkAll), never on a timer.
  return new SocketRegistry({ ...limits, checkMs: 1500, logger: createLogger('info', (line) => logs.push(line)) });
}

test("a credential's end closes every one of its sockets with 4401 and the cause, and no one else's", async () => {
  const sockets = registry();
  const alice = credential('session:a');
  const bob = credential('session:b');
  const [a1, a2, b1] = [socket(), socket(), socket()];
  sockets.take(alice).open(a1);
  sockets.take(alice).open(a2);
  sockets.take(bob).open(b1);

  await sockets.checkAll();
  assert.equal(alice.checks, 1, 'one read per credential, however many sockets it has');
  assert.deepEqual([a1.closes, a2.closes, b1.closes], [[], [], []]);

  alice.state = 'grant_ended';
  await sockets.checkAll();
  assert.deepEqual(a1.closes, [{ code: 4401, reason: 'grant_ended', cause: 'grant_ended' }]);
  assert.deepEqual(a2.closes, [{ code: 4401, reason: 'grant_ended', cause: 'grant_ended' }]);
  assert.deepEqual(b1.closes, []);
});

test('a store that cannot answer closes nothing (an outage is not a sign-out), and is logged once', async () => {
  const logs: string[] = [];
  const sockets = registry(logs);
  const alice = credential('session:a');
  const open = socket();
  sockets.take(alice).open(open);
  alice.state = 'store_down';
  await sockets.checkAll();
  await sockets.checkAll();
  assert.deepEqual(open.closes, []);
  assert.equal(logs.filter((line) => line.includes('could not be checked')).length, 1);

  alice.state = 'session_ended';
  await sockets.checkAll();
  assert.deepEqual(open.closes, [{ code: 4401, reason: 'session_ended', cause: 'session_ended' }]);
});

test('the per-session and per-instance limits count handshakes in progress, and a released place is free again', () => {
  const sockets = registry();
  const alice = credential('session:a');
  const first = sockets.take(alice);
  sockets.take(alice).open(socket());
  assert.throws(() => sockets.take(alice), { code: 'websocket_limit', status: 429 });
  sockets.take(credential('session:b'));
  assert.throws(() => sockets.take(credential('session:c')), { code: 'websocket_capacity', status: 503 });
  first.release();
  first.release(); // twice is once
  assert.equal(sockets.size, 2);
  sockets.take(alice);
  assert.equal(sockets.size, 3);
});

test('closing on shutdown closes every socket with 1001', () => {
  const sockets = registry();
  const open = socket();
  sockets.take(credential('apitoken:x')).open(open);
  sockets.closeAll();
  assert.deepEqual(open.closes, [{ code: 1001, reason: 'shutdown', cause: 'shutdown' }]);
});
