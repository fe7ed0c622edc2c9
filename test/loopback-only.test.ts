import assert from 'node:assert/strict';
import { connect, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { loopbackOnlyConnect, refusalOf, refusedCode } from './setup/loopback-guard.ts';

// TEST-NET-3 (RFC 5737): documentation only, routed nowhere.
const outside = '203.0.113.1';

/** Fails, before anything is attempted, unless `npm test`'s setup guards this process. */
function assertGuarded(): void {
  assert.equal(Socket.prototype.connect, loopbackOnlyConnect, 'test/setup/loopback-only.ts is loaded with --import');
}

describe('the test setup lets tests reach loopback only', () => {
  test('loopback addresses, localhost and unix sockets are allowed; any other address or name is refused', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.2',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
      undefined,
    ])
      assert.equal(refusalOf(host), undefined, String(host));
    for (const host of [
      outside,
      '10.0.0.1',
      '192.168.1.1',
      '0.0.0.0',
      '::',
      '2001:db8::1',
      '::ffff:203.0.113.1',
      'example.org',
      'localhost.example.org',
    ]) {
      assert.match(refusalOf(host) ?? '', /loopback only/, host);
    }
  });

  test('a socket connecting to 203.0.113.1 is refused before it connects: an error, never a connection attempt', async () => {
    assertGuarded();
    const socket = connect(443, outside);
    assert.equal(socket.connecting, false, 'no connection under way');
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    assert.equal(error.code, refusedCode);
    assert.match(error.message, /203\.0\.113\.1/);
    assert.equal(socket.destroyed, true);
  });

  test('fetch to 203.0.113.1 is refused the same way', async () => {
    assertGuarded();
    const error = await fetch(`http://${outside}/`).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.equal((error?.cause as NodeJS.ErrnoException | undefined)?.code, refusedCode);
  });

  test('a host name other than localhost is refused before it is looked up', async () => {
    assertGuarded();
    const socket = connect({ port: 443, host: 'gatehouse.example.org', lookup: () => assert.fail('looked up') });
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    assert.equal(error.code, refusedCode);
  });
});
