import { RateLimiterRedis } from 'rate-limiter-flexible';
import {
  createClient,
  createCluster,
  createSentinel,
  type RedisClientType,
  type RedisClusterType,
  type RedisSentinelType,
} from 'redis';
import type { RedisTopology } from '../config.ts';
import { storeUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { flexibleRateLimiter, type LimitOptions, type RateLimiter } from './rate-limiter.ts';
import type { Store } from './store.ts';

/** Options for {@link RedisStore.connect}. */
export interface RedisStoreOptions {
  /** One Redis server: `redis://` or `rediss://` URL, with credentials and database number when needed. */
  url?: string;
  /** The deployment (one server, Sentinel or Cluster); takes the place of `url`. */
  topology?: RedisTopology;
  logger: Logger;
  /**
   * Milliseconds a command may take before it fails as `store_unavailable`. Short: a hung
   * Redis must cost a request a moment, not hold it until the TCP connection dies.
   */
  commandTimeoutMs?: number;
}

const defaultCommandTimeoutMs = 2000;
const maxReconnectDelayMs = 1000;

/** Any of node-redis's three clients: they take the same commands (a Cluster routes each by its key). */
type AnyRedis = RedisClientType | RedisSentinelType | RedisClusterType;

/**
 * The store for several instances: every key lives in Redis with its TTL, so any instance
 * can serve any request. While Redis is unreachable every call rejects at once with
 * {@link storeUnavailable} (503), and the client reconnects by itself when Redis is back.
 *
 * Three deployments, one behaviour: one server (`createClient`); a master watched by Sentinel
 * (`createSentinel`: asks the sentinels for the master and follows a failover); a Cluster
 * (`createCluster`: routes each command to the master of its key's slot and follows slot
 * moves and failovers). Every command Gatehouse sends names one key, except a DEL of several,
 * which node-redis splits per slot on a Cluster (see docs/multi-instance.md, "Key layout").
 */
export class RedisStore implements Store {
  /** The commands, typed as the plain client's: Sentinel and Cluster take the same ones. */
  private readonly client: RedisClientType;

  private constructor(
    private readonly connection: AnyRedis,
    private readonly topology: RedisTopology,
    private readonly commandTimeoutMs: number,
  ) {
    this.client = connection as unknown as RedisClientType;
  }

  /**
   * Connects and checks the connection. Fails at once (naming where, without a password)
   * when Redis cannot be reached: a misconfigured deployment is an operator error to see at start.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const { logger } = options;
    const topology: RedisTopology = options.topology ?? { kind: 'single', url: options.url! };
    const where = describeTopology(topology);
    const state = { connected: false, reachable: true };
    const connection = createConnection(topology, state);
    // node-redis emits 'error' on every failed attempt; without a listener the process dies.
    connection.on('error', (error: unknown) => {
      if (!state.connected || !state.reachable) return;
      state.reachable = false;
      logger.warn('store unreachable; requests get 503 until it is back', {
        store: where,
        error: error instanceof Error ? error : String(error),
      });
    });
    const back = (): void => {
      if (!state.reachable) logger.info('store reachable again', { store: where });
      state.reachable = true;
    };
    connection.on('ready', back);
    try {
      await connection.connect();
      const store = new RedisStore(connection, topology, options.commandTimeoutMs ?? defaultCommandTimeoutMs);
      await store.pingAll();
      state.connected = true;
      return store;
    } catch (error) {
      await Promise.resolve(connection.destroy()).catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot reach Redis at ${where}: ${reason || 'connection failed'}`, { cause: error });
    }
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
      // On a Cluster, node-redis sends a DEL over keys of several slots as one DEL per slot
      // (Redis's command tip `request_policy:multi_shard`), so no CROSSSLOT error: each key
      // is deleted, though not all at once. No caller needs them to go at once.
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

  /**
   * Every key starting with `prefix`, read with SCAN a batch at a time (Redis keeps serving
   * meanwhile). For maintenance commands (re-sealing after a secret rotation), not requests.
   */
  async *keysWithPrefix(prefix: string): AsyncGenerator<string> {
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    for (const node of await this.nodeClients())
      for await (const keys of node.scanIterator({ MATCH: match, COUNT: 500 })) yield* keys;
  }

  /** Answers when the master answers; on a Cluster, when every master does (any could hold a key). */
  ping(): Promise<void> {
    return this.run(() => this.pingAll());
  }

  async close(): Promise<void> {
    const connection = this.connection;
    if (connection.isReady) await connection.close().catch(() => connection.destroy());
    else if (connection.isOpen) await Promise.resolve(connection.destroy()).catch(() => undefined);
  }

  private async pingAll(): Promise<void> {
    await Promise.all((await this.nodeClients()).map((node) => node.ping()));
  }

  /** A client per master: the one connection, or on a Cluster one per master node. */
  private async nodeClients(): Promise<RedisClientType[]> {
    if (this.topology.kind !== 'cluster') return [this.client];
    const cluster = this.connection as RedisClusterType;
    return (await Promise.all(cluster.masters.map((master) => cluster.nodeClient(master)))) as RedisClientType[];
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

/**
 * The node-redis client for a deployment. Commands fail at once while disconnected instead of
 * waiting in a queue (`disableOfflineQueue`): the caller gets a 503 now, and nothing replays
 * stale writes when Redis comes back. Before the first connection a failed attempt is final
 * (connect() reports it); afterwards clients retry forever, at least once a second.
 */
function createConnection(topology: RedisTopology, state: { connected: boolean }): AnyRedis {
  const reconnectStrategy = (retries: number): number | false =>
    state.connected ? Math.min(50 * 2 ** retries, maxReconnectDelayMs) : false;
  if (topology.kind === 'single') {
    return createClient({
      url: topology.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 5000, reconnectStrategy },
    }) as unknown as AnyRedis;
  }
  const auth = {
    ...(topology.username ? { username: topology.username } : {}),
    ...(topology.password ? { password: topology.password } : {}),
  };
  const socket = { connectTimeout: 5000, ...(topology.tls ? { tls: true as const } : {}) };
  if (topology.kind === 'sentinel') {
    return createSentinel({
      name: topology.masterName,
      sentinelRootNodes: topology.sentinels,
      // Follows a failover by itself; with a 2 s scan a missed switch-master message costs 2 s at most.
      scanInterval: 2000,
      nodeClientOptions: { ...auth, disableOfflineQueue: true, socket: { ...socket, reconnectStrategy } },
      sentinelClientOptions: {
        ...(topology.sentinelPassword ? { password: topology.sentinelPassword } : {}),
        socket: { ...socket, reconnectStrategy },
      },
    }) as unknown as AnyRedis;
  }
  return createCluster({
    rootNodes: topology.nodes.map((node) => ({ socket: { host: node.host, port: node.port, ...socket } })),
    defaults: { ...auth, disableOfflineQueue: true, socket: { ...socket, reconnectStrategy } },
  }) as unknown as AnyRedis;
}

/** Where the store is, for messages and logs: never a password. */
export function describeTopology(topology: RedisTopology): string {
  const list = (nodes: { host: string; port: number }[]): string =>
    nodes.map((node) => `${node.host}:${node.port}`).join(',');
  switch (topology.kind) {
    case 'single':
      return `${redactRedisUrl(topology.url)} (GATEHOUSE_REDIS_URL)`;
    case 'sentinel':
      return `master "${topology.masterName}" of sentinels ${list(topology.sentinels)} (GATEHOUSE_REDIS_SENTINELS)`;
    case 'cluster':
      return `cluster ${list(topology.nodes)} (GATEHOUSE_REDIS_CLUSTER)`;
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
