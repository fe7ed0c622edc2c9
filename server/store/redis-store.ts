import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient, type RedisClientType } from 'redis';
import { storeUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { flexibleRateLimiter, type LimitOptions, type RateLimiter } from './rate-limiter.ts';
import type { Store } from './store.ts';

/** Options for {@link RedisStore.connect}. */
export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL, with credentials and database number when needed. */
  url: string;
  logger: Logger;
  /**
   * Milliseconds a command may take before it fails as `store_unavailable`. Short: a hung
   * Redis must cost a request a moment, not hold it until the TCP connection dies.
   */
  commandTimeoutMs?: number;
}

const defaultCommandTimeoutMs = 2000;
const maxReconnectDelayMs = 1000;

/**
 * The store for several instances: every key lives in Redis with its TTL, so any instance
 * can serve any request. While Redis is unreachable every call rejects at once with
 * {@link storeUnavailable} (503), and the client reconnects by itself when Redis is back.
 */
export class RedisStore implements Store {
  private constructor(
    private readonly client: RedisClientType,
    private readonly commandTimeoutMs: number,
  ) {}

  /**
   * Connects and checks the connection. Fails at once (naming the URL without its password)
   * when Redis cannot be reached: a misconfigured URL is an operator error to see at start.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const { url, logger } = options;
    const where = redactRedisUrl(url);
    let connected = false;
    let reachable = true;
    const client: RedisClientType = createClient({
      url,
      // Commands fail at once while disconnected instead of waiting in a queue: the caller
      // gets a 503 now, and nothing replays stale writes when Redis comes back.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 5000,
        // Before the first connection, give up (start() reports it); afterwards retry forever,
        // at least once a second, so service resumes by itself.
        reconnectStrategy: (retries) => (connected ? Math.min(50 * 2 ** retries, maxReconnectDelayMs) : false),
      },
    });
    // node-redis emits 'error' on every failed attempt; without a listener the process dies.
    client.on('error', (error: unknown) => {
      if (!connected || !reachable) return;
      reachable = false;
      logger.warn('store unreachable; requests get 503 until it is back', {
        store: where,
        error: error instanceof Error ? error : String(error),
      });
    });
    client.on('ready', () => {
      if (!reachable) logger.info('store reachable again', { store: where });
      reachable = true;
    });
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      client.destroy();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot reach Redis at ${where} (GATEHOUSE_REDIS_URL): ${reason || 'connection failed'}`, {
        cause: error,
      });
    }
    connected = true;
    return new RedisStore(client, options.commandTimeoutMs ?? defaultCommandTimeoutMs);
  }

  get(key: string): Promise<string | undefined> {
    return this.run(async () => (await this.client.get(key)) ?? undefined);
  }

  set(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.run(async () => {
      await this.client.set(
        key,
        value,
        ttlMs === undefined ? undefined : { expiration: { type: 'PX', value: px(ttlMs) } },
      );
    });
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.run(
      async () =>
        (await this.client.set(key, value, { condition: 'NX', expiration: { type: 'PX', value: px(ttlMs) } })) === 'OK',
    );
  }

  setIfPresent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.run(
      async () =>
        (await this.client.set(key, value, { condition: 'XX', expiration: { type: 'PX', value: px(ttlMs) } })) === 'OK',
    );
  }

  take(key: string): Promise<string | undefined> {
    // GETDEL is one command: of concurrent callers on any instance, exactly one gets the value.
    return this.run(async () => (await this.client.getDel(key)) ?? undefined);
  }

  delete(...keys: string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    return this.run(async () => {
      await this.client.del(keys);
    });
  }

  addToSet(key: string, member: string, ttlMs?: number): Promise<void> {
    return this.run(async () => {
      if (ttlMs === undefined) {
        await this.client.sAdd(key, member);
        return;
      }
      // NX gives a new set its TTL, GT lengthens an existing one: an index outlives its members.
      await this.client.multi().sAdd(key, member).pExpire(key, px(ttlMs), 'NX').pExpire(key, px(ttlMs), 'GT').exec();
    });
  }

  removeFromSet(key: string, member: string): Promise<void> {
    return this.run(async () => {
      await this.client.sRem(key, member);
    });
  }

  members(key: string): Promise<string[]> {
    return this.run(() => this.client.sMembers(key));
  }

  addToScore(key: string, member: string, by: number, ttlMs: number): Promise<number> {
    return this.run(async () => {
      const [score] = (await this.client
        .multi()
        .zIncrBy(key, by, member)
        .pExpire(key, px(ttlMs), 'NX')
        .pExpire(key, px(ttlMs), 'GT')
        .exec()) as unknown as [number | string];
      const value = Number(score);
      if (value <= 0) await this.client.zRem(key, member);
      return value;
    });
  }

  highestScores(key: string, count: number): Promise<Array<{ member: string; score: number }>> {
    return this.run(async () =>
      (await this.client.zRangeWithScores(key, 0, count - 1, { REV: true })).map(({ value, score }) => ({
        member: value,
        score: Number(score),
      })),
    );
  }

  rateLimiter(name: string, options: LimitOptions): RateLimiter {
    const limiter = new RateLimiterRedis({
      storeClient: this.client,
      // node-redis v4+ (this is v5/v6): its camel-cased commands and EVAL with {keys, arguments}.
      useRedisPackage: true,
      keyPrefix: `rl:${name}`,
      points: options.points,
      duration: options.durationSeconds,
    });
    const limited = flexibleRateLimiter(limiter, options);
    // The same bound on a hung Redis as every other command: a 503, not a request held open.
    return {
      consume: (key) => this.run(() => limited.consume(key)),
      peek: (key) => this.run(() => limited.peek(key)),
    };
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.client.ping();
    });
  }

  async close(): Promise<void> {
    if (this.client.isReady) await this.client.close().catch(() => this.client.destroy());
    else if (this.client.isOpen) this.client.destroy();
  }

  /**
   * Runs a command, turning any failure into {@link storeUnavailable}. node-redis times out
   * only commands not yet written; a command sent to a Redis that stopped answering would
   * wait forever, so the wait is bounded here.
   */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    const pending = command();
    pending.catch(() => {}); // it may settle after the timeout: nobody is listening then
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${this.commandTimeoutMs} ms`)),
        this.commandTimeoutMs,
      );
    });
    try {
      return await Promise.race([pending, timeout]);
    } catch (error) {
      throw storeUnavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The Redis URL without user name and password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.href.replace(/\/$/, '');
  } catch {
    return 'the configured URL';
  }
}

// Redis wants a whole, positive number of milliseconds.
function px(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}
