import { createClient, createCluster } from 'redis';
import type { Config, RedisNodeAddress, RedisTopology } from '../config.ts';
import { type CheckResult, elapsedMs } from './check-result.ts';

/**
 * The store: with Redis, that it answers (latency, version), that its `maxmemory-policy` never
 * evicts keys (eviction signs users out silently: ✗), and that it persists (RDB `save` or AOF;
 * without, a restart ends every session: ⚠). With Sentinel, also that the sentinels answer and
 * agree on the master; with a Cluster, `cluster_state:ok` and `noeviction` on every master.
 * The memory store is one line saying it serves one
 * instance only (⚠ in production, where a restart ends every session).
 */
export async function checkStore(config: Config): Promise<CheckResult[]> {
  if (config.store === 'memory') {
    const detail = `memory: one Gatehouse instance only, and a restart ends every session and every API token${config.production ? (config.apiTokens.refusedOnMemoryStore ? ' (so creating API tokens is refused)' : ' (GATEHOUSE_API_TOKENS_ON_MEMORY_STORE=accept allows them anyway)') : ''}`;
    return [
      config.production
        ? {
            id: 'store',
            title: 'store',
            status: 'warn',
            detail,
            fix: 'for more than one instance, or sessions and API tokens that survive a restart, set GATEHOUSE_STORE=redis and GATEHOUSE_REDIS_URL',
          }
        : { id: 'store', title: 'store', status: 'ok', detail: `${detail} (set GATEHOUSE_STORE=redis to keep them)` },
    ];
  }
  const topology = config.redis!;
  if (topology.kind === 'sentinel') return checkSentinel(topology);
  if (topology.kind === 'cluster') return checkCluster(topology);
  const client = createClient({
    url: topology.url,
    socket: { connectTimeout: timeoutMs, reconnectStrategy: false },
    disableOfflineQueue: true,
  });
  client.on('error', () => {}); // reported by the commands below
  const where = redactedUrl(topology.url);
  const startedAt = performance.now();
  try {
    await withTimeout(client.connect(), timeoutMs);
    return await checkServer(client, `Redis at ${where}`, startedAt);
  } catch (error) {
    return [
      {
        id: 'store',
        title: 'store',
        status: 'fail',
        detail: `Redis at ${where} did not answer: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'check GATEHOUSE_REDIS_URL and that this host can reach Redis',
        ms: elapsedMs(startedAt),
      },
    ];
  } finally {
    client.destroy();
  }
}

const timeoutMs = 2000;

type SentinelTopology = Extract<RedisTopology, { kind: 'sentinel' }>;
type ClusterTopology = Extract<RedisTopology, { kind: 'cluster' }>;

/**
 * Sentinel: every sentinel answers and names the same master (a split answer means a
 * failover in progress or sentinels watching different masters: ✗), the master has a replica
 * to fail over to (⚠ without), and the master itself passes the one-server checks.
 */
async function checkSentinel(topology: SentinelTopology): Promise<CheckResult[]> {
  const startedAt = performance.now();
  const answers = await Promise.all(
    topology.sentinels.map(async (sentinel) => {
      const where = `${sentinel.host}:${sentinel.port}`;
      const client = nodeClient(sentinel, {
        tls: topology.tls,
        ...(topology.sentinelPassword ? { password: topology.sentinelPassword } : {}),
      });
      try {
        await withTimeout(client.connect(), timeoutMs);
        const reply = (await withTimeout(
          client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', topology.masterName]),
          timeoutMs,
        )) as string[] | null;
        if (!reply) return { where, master: undefined, replicas: 0 };
        const replicas = (await withTimeout(
          client.sendCommand(['SENTINEL', 'REPLICAS', topology.masterName]),
          timeoutMs,
        )) as unknown[];
        return { where, master: `${reply[0]}:${reply[1]}`, replicas: replicas.length };
      } catch (error) {
        return { where, error: error instanceof Error ? error.message : String(error) };
      } finally {
        client.destroy();
      }
    }),
  );
  const failed = answers.filter((answer) => 'error' in answer);
  const masters = new Set(answers.flatMap((answer) => ('master' in answer && answer.master ? [answer.master] : [])));
  const unknown = answers.filter((answer) => 'master' in answer && !answer.master);
  const fail = (detail: string, fix: string): CheckResult[] => [
    { id: 'store', title: 'store', status: 'fail', detail, fix, ms: elapsedMs(startedAt) },
  ];
  if (failed.length === answers.length)
    return fail(
      `no sentinel answered (${failed.map((answer) => `${answer.where}: ${'error' in answer ? answer.error : ''}`).join('; ')})`,
      'check GATEHOUSE_REDIS_SENTINELS and that this host can reach the sentinels',
    );
  if (unknown.length)
    return fail(
      `sentinel ${unknown.map((answer) => answer.where).join(', ')} does not monitor a master named "${topology.masterName}"`,
      'set GATEHOUSE_REDIS_SENTINEL_MASTER to the name in `sentinel monitor <name> …`',
    );
  if (masters.size > 1)
    return fail(
      `the sentinels disagree on the master: ${[...masters].join(' and ')}`,
      'wait for the failover in progress to end; if it lasts, check that every sentinel monitors the same master',
    );
  const [address] = [...masters];
  const checks: CheckResult[] = [];
  checks.push(
    failed.length
      ? {
          id: 'store_sentinels',
          title: 'Redis sentinels',
          status: 'warn',
          detail: `${answers.length - failed.length} of ${answers.length} sentinels answer and agree on master ${address}; ${failed.map((answer) => `${answer.where} did not answer (${'error' in answer ? answer.error : ''})`).join(', ')}`,
          fix: 'a failover needs a majority of sentinels: bring the others back',
        }
      : {
          id: 'store_sentinels',
          title: 'Redis sentinels',
          status: 'ok',
          detail: `${answers.length} sentinels agree: master "${topology.masterName}" is ${address}`,
        },
  );
  const replicas = Math.max(...answers.map((answer) => ('replicas' in answer ? answer.replicas : 0)));
  if (replicas === 0)
    checks.push({
      id: 'store_replicas',
      title: 'Redis replicas',
      status: 'warn',
      detail: `master "${topology.masterName}" has no replica: there is nothing to fail over to`,
      fix: 'add a replica (replicaof) that the sentinels can promote',
    });
  const [host, port] = splitAddress(address!);
  const client = nodeClient({ host, port }, topology);
  try {
    await withTimeout(client.connect(), timeoutMs);
    checks.unshift(...(await checkServer(client, `Redis master ${address} (via Sentinel)`, startedAt)));
  } catch (error) {
    checks.unshift(
      ...fail(
        `the master the sentinels name, ${address}, did not answer: ${error instanceof Error ? error.message : String(error)}`,
        'check that this host can reach the address the sentinels announce (replica-announce-ip in Kubernetes), and GATEHOUSE_REDIS_PASSWORD',
      ),
    );
  } finally {
    client.destroy();
  }
  return checks;
}

/**
 * Cluster: `cluster_state:ok` (every slot served), and every master never evicts (✗ naming
 * the first that does) and answers the one-server checks.
 */
async function checkCluster(topology: ClusterTopology): Promise<CheckResult[]> {
  const startedAt = performance.now();
  const auth = {
    tls: topology.tls,
    ...(topology.username ? { username: topology.username } : {}),
    ...(topology.password ? { password: topology.password } : {}),
  };
  const cluster = createCluster({
    rootNodes: topology.nodes.map((node) => ({ socket: { host: node.host, port: node.port } })),
    defaults: {
      ...auth,
      disableOfflineQueue: true,
      socket: { connectTimeout: timeoutMs, reconnectStrategy: false, ...(topology.tls ? { tls: true } : {}) },
    },
  });
  cluster.on('error', () => {});
  try {
    await withTimeout(cluster.connect(), timeoutMs * 2);
    const masters = cluster.masters;
    const first = (await cluster.nodeClient(masters[0]!)) as unknown as Commands;
    const info = String(await withTimeout(first.sendCommand(['CLUSTER', 'INFO']), timeoutMs));
    const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
    // Nodes the cluster knows, less the masters serving slots: the replicas.
    const replicas = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0) - masters.length;
    const checks: CheckResult[] = [
      state === 'ok'
        ? {
            id: 'store',
            title: 'store',
            status: 'ok',
            detail: `Redis Cluster of ${masters.length} masters and ${replicas} replicas: cluster_state:ok`,
            ms: elapsedMs(startedAt),
          }
        : {
            id: 'store',
            title: 'store',
            status: 'fail',
            detail: `Redis Cluster reports cluster_state:${state}: some slots are not served, so some sessions cannot be read`,
            fix: 'check the failed nodes (redis-cli --cluster check host:port) and fail them over or bring them back',
            ms: elapsedMs(startedAt),
          },
    ];
    if (replicas <= 0)
      checks.push({
        id: 'store_replicas',
        title: 'Redis replicas',
        status: 'warn',
        detail: 'the cluster has no replicas: a master that fails takes its slots (and their sessions) with it',
        fix: 'add a replica per master (redis-cli --cluster add-node … --cluster-slave)',
      });
    const evicting: string[] = [];
    for (const master of masters) {
      const client = (await cluster.nodeClient(master)) as unknown as Commands;
      const settings = await withTimeout(readSettings(client), timeoutMs).catch(() => undefined);
      if (settings && settings['maxmemory-policy'] !== 'noeviction')
        evicting.push(`${master.host}:${master.port} (${settings['maxmemory-policy']})`);
    }
    checks.push(
      evicting.length
        ? {
            id: 'store_eviction',
            title: 'Redis eviction',
            status: 'fail',
            detail: `masters that evict keys when memory is full: ${evicting.join(', ')}; sessions and grants vanish and users are signed out without a word`,
            fix: 'set maxmemory-policy noeviction on every master (and replica, which becomes one after a failover)',
          }
        : {
            id: 'store_eviction',
            title: 'Redis eviction',
            status: 'ok',
            detail: `maxmemory-policy noeviction on all ${masters.length} masters (or CONFIG GET not allowed)`,
          },
    );
    return checks;
  } catch (error) {
    return [
      {
        id: 'store',
        title: 'store',
        status: 'fail',
        detail: `Redis Cluster at ${topology.nodes.map((node) => `${node.host}:${node.port}`).join(',')} did not answer: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'check GATEHOUSE_REDIS_CLUSTER and that this host can reach the cluster nodes',
        ms: elapsedMs(startedAt),
      },
    ];
  } finally {
    await Promise.resolve(cluster.destroy()).catch(() => undefined);
  }
}

interface Commands {
  ping(): Promise<unknown>;
  info(section: string): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
}

/** A client for one node, giving up at once when it cannot connect (doctor reports it). */
function nodeClient(node: RedisNodeAddress, auth: { tls: boolean; username?: string; password?: string }) {
  const client = createClient({
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
    socket: {
      host: node.host,
      port: node.port,
      connectTimeout: timeoutMs,
      reconnectStrategy: false,
      ...(auth.tls ? { tls: true as const } : {}),
    },
    disableOfflineQueue: true,
  });
  client.on('error', () => {});
  return client;
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/**
 * One connected server: it answers (latency, version), never evicts, and persists. `what`
 * names it in the details ("Redis at …", "Redis master … (via Sentinel)").
 */
async function checkServer(client: Commands, what: string, startedAt: number): Promise<CheckResult[]> {
  const pingStartedAt = performance.now();
  await withTimeout(client.ping(), timeoutMs);
  const latency = performance.now() - pingStartedAt;
  const info = String(await withTimeout(client.info('server'), timeoutMs));
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown version';
  const checks: CheckResult[] = [
    {
      id: 'store',
      title: 'store',
      status: 'ok',
      detail: `${what.replace(/^Redis/, `Redis ${version}`)} answers PING in ${latency.toFixed(1)} ms`,
      ms: elapsedMs(startedAt),
    },
  ];
  const settings = await withTimeout(readSettings(client), timeoutMs).catch(() => undefined);
  if (!settings) {
    checks.push({
      id: 'store_eviction',
      title: 'Redis eviction',
      status: 'warn',
      detail: 'CONFIG GET is not allowed here, so maxmemory-policy and persistence could not be read',
      fix: 'make sure maxmemory-policy is noeviction and persistence (RDB or AOF) is on',
    });
    return checks;
  }
  const policy = settings['maxmemory-policy'] ?? 'unknown';
  checks.push(
    policy === 'noeviction'
      ? {
          id: 'store_eviction',
          title: 'Redis eviction',
          status: 'ok',
          detail: 'maxmemory-policy noeviction: keys are never evicted',
        }
      : {
          id: 'store_eviction',
          title: 'Redis eviction',
          status: 'fail',
          detail: `maxmemory-policy ${policy} evicts keys when memory is full (maxmemory ${settings.maxmemory ?? 'unknown'}): sessions and grants vanish and users are signed out without a word`,
          fix: 'set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction and CONFIG REWRITE), and give Redis enough memory',
        },
  );
  const rdb = (settings.save ?? '').trim() !== '';
  const aof = settings.appendonly === 'yes';
  checks.push(
    rdb || aof
      ? {
          id: 'store_persistence',
          title: 'Redis persistence',
          status: 'ok',
          detail: [rdb ? `RDB (save ${settings.save})` : '', aof ? 'AOF' : ''].filter(Boolean).join(' and '),
        }
      : {
          id: 'store_persistence',
          title: 'Redis persistence',
          status: 'warn',
          detail: 'no RDB snapshots (save is empty) and appendonly no: a Redis restart ends every session',
          fix: 'turn on persistence: appendonly yes (or a save schedule) in redis.conf',
        },
  );
  return checks;
}

async function readSettings(client: {
  sendCommand(args: string[]): Promise<unknown>;
}): Promise<Record<string, string>> {
  const settings: Record<string, string> = {};
  for (const name of ['maxmemory-policy', 'maxmemory', 'save', 'appendonly']) {
    const reply = await client.sendCommand(['CONFIG', 'GET', name]);
    // RESP2 gives [name, value]; RESP3 a map.
    const value = Array.isArray(reply) ? reply[1] : (reply as Record<string, unknown> | null)?.[name];
    if (value !== undefined && value !== null) settings[name] = String(value);
  }
  return settings;
}

/** The Redis URL without its password. */
function redactedUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return 'GATEHOUSE_REDIS_URL';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms).unref(),
    ),
  ]);
}
