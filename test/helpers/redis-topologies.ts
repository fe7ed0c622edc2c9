import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { eventually } from './eventually.ts';
import { bindSparePort } from './ports.ts';
import { spawnRedisServer } from './redis-server.ts';

const run = promisify(execFile);

/** One redis-server process of a test deployment. */
export interface RedisProcess {
  port: number;
  child: ChildProcess;
}

/** A Redis deployment of several processes that a test started, and can fail over. */
export interface RedisTopologyFixture {
  /** GATEHOUSE_* variables that point Gatehouse at it. */
  env: Record<string, string>;
  /** The port of the master that holds `key` now. */
  masterFor(key: string): Promise<number>;
  /**
   * Kills that master with SIGKILL, by its PID, after making sure its replica has every write
   * (WAIT): the test is of the failover, not of what asynchronous replication can lose.
   */
  killMaster(port: number): Promise<void>;
  /** Resolves once `key`'s slot (or the Sentinel master) is served by another node than `port`. */
  promoted(key: string, from: number): Promise<number>;
  close(): Promise<void>;
}

function spawnOnSparePort(args: (port: number) => string[]): Promise<RedisProcess> {
  return bindSparePort((port) => spawnRedisServer(args(port))).then(({ port, bound }) => ({ port, child: bound }));
}

const base = (port: number, dir: string): string[] => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  dir,
  '--dbfilename',
  `dump-${port}.rdb`,
];

async function command(port: number, ...args: string[]): Promise<unknown> {
  const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 2000 } });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

/** A reply of field/value pairs (RESP2 array, or RESP3 map) as a Map of strings. */
function fieldsOf(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [key, value] of reply) fields.set(String(key), String(value));
  } else if (reply && typeof reply === 'object') {
    for (const [key, value] of Object.entries(reply)) fields.set(key, String(value));
  }
  return fields;
}

function killAll(processes: RedisProcess[]): Promise<void> {
  return Promise.all(
    processes.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  ).then(() => undefined);
}

/**
 * A master, one replica and three sentinels (quorum 2, down after 1 s) on spare loopback
 * ports, as Debian's redis-server runs them (`redis-server <conf> --sentinel`).
 */
export async function startSentinelTopology(masterName = 'gatehouse'): Promise<RedisTopologyFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'));
  const processes: RedisProcess[] = [];
  const onExit = (): void => {
    for (const { child } of processes) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  try {
    const master = await spawnOnSparePort((port) => base(port, dir));
    processes.push(master);
    const replica = await spawnOnSparePort((port) => [
      ...base(port, dir),
      '--replicaof',
      '127.0.0.1',
      String(master.port),
    ]);
    processes.push(replica);
    await eventually(
      async () => String(await command(replica.port, 'INFO', 'replication')).includes('master_link_status:up'),
      'the replica is in sync',
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await spawnOnSparePort((port) => {
        // Sentinel rewrites its configuration file, so each gets its own.
        const conf = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
            `sentinel down-after-milliseconds ${masterName} 1000`,
            `sentinel failover-timeout ${masterName} 5000`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        return [conf, '--sentinel'];
      });
      sentinels.push(sentinel);
      processes.push(sentinel);
    }
    // Every sentinel knows the replica and the other sentinels before a failover is asked of them.
    await eventually(
      async () => {
        for (const sentinel of sentinels) {
          const fields = fieldsOf(await command(sentinel.port, 'SENTINEL', 'MASTER', masterName));
          if (fields.get('num-slaves') !== '1' || fields.get('num-other-sentinels') !== '2') return false;
        }
        return true;
      },
      'the sentinels know the replica and each other',
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const currentMaster = async (): Promise<number> => {
      for (const sentinel of sentinels) {
        try {
          const [, port] = (await command(
            sentinel.port,
            'SENTINEL',
            'GET-MASTER-ADDR-BY-NAME',
            masterName,
          )) as string[];
          return Number(port);
        } catch {
          // this sentinel is not answering; ask the next
        }
      }
      throw new Error('no sentinel answered');
    };
    return {
      env: {
        GATEHOUSE_STORE: 'redis',
        GATEHOUSE_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
        GATEHOUSE_REDIS_SENTINEL_MASTER: masterName,
      },
      masterFor: () => currentMaster(),
      killMaster: async (port) => {
        await command(port, 'WAIT', '1', '5000');
        const victim = processes.find((p) => p.port === port)!;
        const exited = new Promise((resolve) => victim.child.once('exit', resolve));
        process.kill(victim.child.pid!, 'SIGKILL');
        await exited;
      },
      promoted: (_key, from) =>
        eventually(
          async () => {
            const port = await currentMaster();
            if (port === from) return false;
            const role = String(await command(port, 'ROLE').catch(() => ''));
            return role.startsWith('master') ? port : false;
          },
          'a sentinel promoted the replica',
          { timeoutMs: 60_000, intervalMs: 100 },
        ),
      close: async () => {
        process.removeListener('exit', onExit);
        await killAll(processes);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.removeListener('exit', onExit);
    await killAll(processes);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A Cluster of three masters with a replica each (node timeout 2 s) on spare loopback ports,
 * created with `redis-cli --cluster create … --cluster-replicas 1`.
 */
export async function startClusterTopology(): Promise<RedisTopologyFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const processes: RedisProcess[] = [];
  const onExit = (): void => {
    for (const { child } of processes) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  try {
    for (let i = 0; i < 6; i++) {
      processes.push(
        await spawnOnSparePort((port) => [
          ...base(port, dir),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...processes.map((p) => `127.0.0.1:${p.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    const live = (): RedisProcess[] =>
      processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const stateOk = async (): Promise<boolean> => {
      for (const node of live()) {
        if (!String(await command(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      }
      return true;
    };
    await eventually(stateOk, 'cluster_state:ok on every node', { timeoutMs: 60_000, intervalMs: 200 });
    // Every replica in sync, so a failover has every key.
    await eventually(
      async () => {
        for (const node of live()) {
          const info = String(await command(node.port, 'INFO', 'replication'));
          if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false;
        }
        return true;
      },
      'every replica in sync',
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const masterFor = async (key: string): Promise<number> => {
      const slot = Number(await command(live()[0]!.port, 'CLUSTER', 'KEYSLOT', key));
      for (const node of live()) {
        const slots = (await command(node.port, 'CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
        for (const [first, last, [, port]] of slots) if (slot >= first && slot <= last) return Number(port);
      }
      throw new Error(`no node serves slot ${slot}`);
    };
    return {
      env: {
        GATEHOUSE_STORE: 'redis',
        GATEHOUSE_REDIS_CLUSTER: processes
          .slice(0, 3)
          .map((p) => `127.0.0.1:${p.port}`)
          .join(','),
      },
      masterFor,
      killMaster: async (port) => {
        await command(port, 'WAIT', '1', '5000');
        const victim = processes.find((p) => p.port === port)!;
        const exited = new Promise((resolve) => victim.child.once('exit', resolve));
        process.kill(victim.child.pid!, 'SIGKILL');
        await exited;
      },
      promoted: (key, from) =>
        eventually(
          async () => {
            const port = await masterFor(key).catch(() => from);
            return port !== from && (await stateOk().catch(() => false)) ? port : false;
          },
          'the cluster promoted a replica',
          { timeoutMs: 60_000, intervalMs: 100 },
        ),
      close: async () => {
        process.removeListener('exit', onExit);
        await killAll(processes);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.removeListener('exit', onExit);
    await killAll(processes);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
