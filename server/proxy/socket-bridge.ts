import type { RawData, WebSocket } from 'ws';
import type { SocketCloseCause } from '../observability/observability.ts';

/** Close code for a socket that carried no message for GATEHOUSE_WS_IDLE (like HTTP's 408). */
export const idleCloseCode = 4408;
/** Close code for a socket that reached its upstream's `maxLifetimeMs`: reconnect for a fresh token. */
export const lifetimeCloseCode = 4410;

// Past this much unsent data towards one side, reading from the other side pauses (backpressure):
// a fast sender cannot make Gatehouse buffer without bound for a slow receiver.
const highWaterBytes = 1024 * 1024;
const lowWaterBytes = 256 * 1024;

/** What {@link bridgeSockets} needs besides the two sockets. */
export interface BridgeOptions {
  idleMs: number;
  maxLifetimeMs: number | undefined;
  /** A message from the client went upstream. */
  onClientMessage(): void;
  /** Both sides are closing; called once, with the first cause. */
  onClosed(cause: SocketCloseCause): void;
}

/** A running bridge. */
export interface Bridge {
  /** Closes both sides with `code` and `reason`, counting `cause` (the first close wins). */
  close(code: number, reason: string, cause: SocketCloseCause): void;
}

/**
 * Relays messages between the browser's socket and the upstream's, text as text and binary as
 * binary, with backpressure both ways. A close on one side closes the other with the same code
 * where the protocol lets it be sent again (1005 "no status" is sent as no status; 1006,
 * a connection dropped without a close frame, as 1014 "bad gateway" to the browser and 1001
 * "going away" to the upstream). Gatehouse's own closes: idle
 * ({@link idleCloseCode}), the upstream's lifetime ({@link lifetimeCloseCode}), and whatever its
 * caller asks through {@link Bridge.close} (a session that ended).
 */
export function bridgeSockets(client: WebSocket, upstream: WebSocket, options: BridgeOptions): Bridge {
  let closedBy: SocketCloseCause | undefined;
  let lastMessageAt = performance.now();

  const close = (code: number | undefined, reason: string, cause: SocketCloseCause): void => {
    if (closedBy) return;
    closedBy = cause;
    clearTimeout(idleTimer);
    clearTimeout(lifetimeTimer);
    closeWith(client, code, reason);
    closeWith(upstream, code, reason);
    options.onClosed(cause);
  };

  relay(client, upstream, () => {
    lastMessageAt = performance.now();
    options.onClientMessage();
  });
  relay(upstream, client, () => {
    lastMessageAt = performance.now();
  });

  client.on('close', (code, reason) => {
    if (closedBy) return;
    // A browser that went away without a close frame: the upstream hears "going away".
    close(forwardableCode(code, 1001), reason.toString(), 'client_closed');
  });
  upstream.on('close', (code, reason) => {
    if (closedBy) return;
    close(forwardableCode(code, 1014), reason.toString(), 'upstream_closed');
  });
  // 'close' follows every 'error'; without a listener an error would be thrown.
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);

  // Re-armed for the time left rather than on every message: a busy socket costs no timer churn.
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = (ms: number): void => {
    idleTimer = setTimeout(() => {
      const quietFor = performance.now() - lastMessageAt;
      if (quietFor >= options.idleMs) close(idleCloseCode, 'idle', 'idle');
      else armIdle(options.idleMs - quietFor);
    }, ms);
    idleTimer.unref();
  };
  armIdle(options.idleMs);
  const lifetimeTimer =
    options.maxLifetimeMs === undefined
      ? undefined
      : setTimeout(() => close(lifetimeCloseCode, 'max_lifetime', 'max_lifetime'), options.maxLifetimeMs).unref();
  // The upstream may have closed between its handshake and the browser's: its 'close' has passed.
  if (upstream.readyState !== upstream.OPEN) close(1014, 'upstream_closed', 'upstream_closed');

  return { close };
}

function relay(from: WebSocket, to: WebSocket, onMessage: () => void): void {
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (to.readyState !== to.OPEN) return;
    onMessage();
    to.send(data, { binary: isBinary }, () => {
      if (from.isPaused && to.bufferedAmount < lowWaterBytes) from.resume();
    });
    if (to.bufferedAmount > highWaterBytes && !from.isPaused) from.pause();
  });
}

/** Closes `socket` with `code` (no code when undefined), unless it is closing already. */
function closeWith(socket: WebSocket, code: number | undefined, reason: string): void {
  if (socket.readyState === socket.CLOSING || socket.readyState === socket.CLOSED) return;
  if (socket.readyState === socket.CONNECTING) {
    socket.terminate();
    return;
  }
  // A close reason is at most 123 bytes (RFC 6455 §5.5); a longer one passed on is cut.
  const bounded = Buffer.from(reason).subarray(0, 123).toString();
  if (code === undefined) socket.close();
  else socket.close(code, bounded);
  // A peer that never answers the close frame is cut after a while by ws itself (30 s).
}

/**
 * The close code to pass on: the one received when it may be sent (RFC 6455 §7.4), `abnormal`
 * for 1006 (the connection dropped without a close frame), undefined for 1005 (none was given).
 */
function forwardableCode(code: number, abnormal: number): number | undefined {
  if (code === 1005) return undefined;
  if (code === 1006) return abnormal;
  const valid = (code >= 1000 && code <= 1014 && code !== 1004) || (code >= 3000 && code <= 4999);
  return valid ? code : 1000;
}
