import { isIP, Socket } from 'node:net';

// Installed by ./loopback-only.ts, which `npm test` loads with `node --import` before every test
// file (this module only defines the guard, so importing it installs nothing). A test that reaches past
// this machine depends on a network the suite does not control, and could leak a token to it.
// Every TCP connection goes through `Socket.prototype.connect` (net.connect, http, fetch/undici,
// tls, node-redis), so refusing there stops it before a packet, or a DNS query, leaves.

/** The error code of a refused connection. */
export const refusedCode = 'ERR_TEST_LOOPBACK_ONLY';

/**
 * Why a connection to `host` is refused, or undefined when it may go ahead: loopback addresses,
 * `localhost` and unix sockets only. Any other name is refused too, as resolving it is traffic.
 */
export function refusalOf(host: string | undefined): string | undefined {
  const name = (host ?? 'localhost').replace(/^\[|\]$/g, '').toLowerCase();
  if (name === 'localhost') return undefined;
  if (isIP(name) === 4 && name.startsWith('127.')) return undefined;
  if (name === '::1' || /^::ffff:127\./.test(name)) return undefined;
  return `tests reach loopback only: a connection to ${name} is refused (test/setup/loopback-guard.ts)`;
}

type Connect = (this: Socket, ...args: unknown[]) => Socket;
const original = Socket.prototype.connect as unknown as Connect;

/** `Socket.prototype.connect`, refusing what {@link refusalOf} refuses before connecting. */
export const loopbackOnlyConnect: Connect = function (this: Socket, ...args: unknown[]): Socket {
  const refusal = refusalOf(hostOf(args));
  if (refusal === undefined) return original.apply(this, args);
  const error: NodeJS.ErrnoException = new Error(refusal);
  error.code = refusedCode;
  // As a connection error is reported: asynchronously, on the socket.
  process.nextTick(() => this.destroy(error));
  return this;
};

/** The host of a `connect(options)`, `connect(port, host?)` or `connect(path)` call; '' for a unix socket. */
function hostOf(args: unknown[]): string | undefined {
  // net.connect() passes its arguments on normalized: [options, callback].
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; path?: string };
    return options.path !== undefined ? 'localhost' : options.host;
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return 'localhost'; // a unix socket path
  return typeof args[1] === 'string' ? args[1] : undefined;
}
