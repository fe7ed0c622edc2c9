import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SocketCloseCause } from '../observability/observability.ts';

/**
 * The credential behind a socket, as the registry watches it: one per browser session, bearer
 * handle or API token, shared by all of that credential's sockets on this instance.
 */
export interface WatchedCredential {
  /** Sockets with the same key are limited and checked together (`session:<id>`, `apitoken:<id>`, …). */
  key: string;
  /**
   * Reads the store: undefined while the credential still reaches a live grant, otherwise why it
   * ended. `active` says that a socket of it carried a message from the client since the last
   * check (a browser session counts that as use, as it counts any request). Rejects when the
   * store cannot answer.
   */
  check(active: boolean): Promise<SocketCloseCause | undefined>;
}

/** An open socket as the registry sees it. */
export interface RegisteredSocket {
  /** Closes both sides with `code` and `reason`, counting `cause`. */
  close(code: number, reason: string, cause: SocketCloseCause): void;
}

/** A place taken for one socket, from before its handshake until it closes. */
export interface SocketPlace {
  /** The handshake completed: the socket is watched from now on. */
  open(socket: RegisteredSocket): void;
  /** A message from the client went through (see {@link WatchedCredential.check}). */
  active(): void;
  /** The socket closed, or its handshake failed: the place is free again. */
  release(): void;
}

/** Close code for a socket whose session, grant or API token ended (the 401 of WebSockets). */
export const sessionEndedCloseCode = 4401;

interface Group {
  credential: WatchedCredential;
  /** Places taken, handshakes in progress included. */
  places: number;
  sockets: Set<RegisteredSocket>;
  active: boolean;
}

/** What the registry needs. */
export interface SocketRegistryOptions {
  maxPerSession: number;
  maxPerInstance: number;
  /** How often every credential with an open socket is checked. */
  checkMs: number;
  logger: Logger;
}

/**
 * The WebSockets this instance holds, by credential: it enforces the per-session and
 * per-instance limits, and closes a credential's sockets (code 4401, the cause as the reason)
 * once its session, grant or API token has ended — whichever instance ended it, and however
 * (sign-out, a session ended from the list, back-channel logout, idle or absolute expiry, a
 * revoked API token, a refresh the IdP refused).
 *
 * How it learns of an end: every {@link SocketRegistryOptions.checkMs} it reads the records
 * each credential depends on, once per credential however many sockets it has. Not Redis
 * pub/sub or keyspace notifications, because (see docs/apis.md, "How a socket learns that its
 * session ended"): expiry by time (idle, absolute) publishes nothing; every path that ends a
 * grant would have to publish, and one that forgot would leave sockets open; a message lost in
 * a Sentinel failover or a reconnect is lost for good, while the next read sees the truth; and
 * plain GETs of single keys work unchanged on the memory store, Redis, Sentinel and Cluster.
 * The cost is a few reads per open credential per interval, on instances that hold sockets.
 * A store that cannot answer closes nothing: an outage is not a sign-out.
 */
export class SocketRegistry {
  private readonly groups = new Map<string, Group>();
  private places = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private storeDownLogged = false;

  constructor(private readonly options: SocketRegistryOptions) {}

  /** Open sockets (and handshakes in progress) on this instance. */
  get size(): number {
    return this.places;
  }

  /**
   * Takes a place for a new socket of `credential`, or refuses: 429 `websocket_limit` past the
   * per-session limit, 503 `websocket_capacity` past the instance's.
   */
  take(credential: WatchedCredential): SocketPlace {
    const existing = this.groups.get(credential.key);
    if (existing && existing.places >= this.options.maxPerSession) {
      throw new AppError(
        'websocket_limit',
        `At most ${this.options.maxPerSession} WebSockets may be open at once for one session or token; close one first.`,
        { details: { limit: this.options.maxPerSession } },
      );
    }
    if (this.places >= this.options.maxPerInstance) {
      throw new AppError('websocket_capacity', 'This Gatehouse holds as many WebSockets as it may; try again later.', {
        retryAfterSeconds: 5,
      });
    }
    const group: Group = existing ?? { credential, places: 0, sockets: new Set(), active: false };
    if (!existing) this.groups.set(credential.key, group);
    group.places++;
    this.places++;
    let socket: RegisteredSocket | undefined;
    let released = false;
    return {
      open: (opened) => {
        if (released) return; // closed before it was registered (its upstream went away)
        socket = opened;
        group.sockets.add(opened);
        this.startTimer();
      },
      active: () => {
        group.active = true;
      },
      release: () => {
        if (released) return;
        released = true;
        if (socket) group.sockets.delete(socket);
        group.places--;
        this.places--;
        if (group.places === 0 && this.groups.get(credential.key) === group) this.groups.delete(credential.key);
        if (this.groups.size === 0) this.stopTimer();
      },
    };
  }

  /** Checks every watched credential now and closes the sockets of those that ended. */
  async checkAll(): Promise<void> {
    if (this.checking) return; // a slow store: the next tick starts when this one is done
    this.checking = true;
    try {
      const groups = [...this.groups.values()].filter((group) => group.sockets.size > 0);
      let failures = 0;
      await Promise.all(
        groups.map(async (group) => {
          const active = group.active;
          group.active = false;
          let cause: SocketCloseCause | undefined;
          try {
            cause = await group.credential.check(active);
          } catch (error) {
            failures++;
            if (!this.storeDownLogged) {
              this.storeDownLogged = true;
              this.options.logger.warn('WebSocket sessions could not be checked; sockets stay open meanwhile', {
                error: error instanceof Error ? error : String(error),
              });
            }
            return;
          }
          if (cause === undefined) return;
          for (const socket of [...group.sockets]) socket.close(sessionEndedCloseCode, cause, cause);
        }),
      );
      if (failures === 0) this.storeDownLogged = false;
    } finally {
      this.checking = false;
    }
  }

  /** Closes every socket (Gatehouse is stopping): code 1001, "going away". */
  closeAll(): void {
    this.stopTimer();
    for (const group of [...this.groups.values()])
      for (const socket of [...group.sockets]) socket.close(1001, 'shutdown', 'shutdown');
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.checkAll(), this.options.checkMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
