import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { bindSparePort } from './ports.ts';

/** A Redis for tests: a throwaway redis-server, or the one `GATEHOUSE_TEST_REDIS_URL` names. */
export interface TestRedis {
  url: string;
  /** True when this helper runs the server itself, so it can stop and restart it. */
  readonly restartable: boolean;
  /** Stops the server (an outage); its data is kept for {@link TestRedis.restart}. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the data it had. */
  restart(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

const externalUrl = process.env.GATEHOUSE_TEST_REDIS_URL?.trim() || undefined;

/**
 * Why Redis tests cannot run here (for `{ skip }`), or false when they can. In CI a missing
 * Redis is an error, not a skip: `.ci/run` installs redis-server, so its absence is a bug.
 */
export function redisSkipReason(): string | false {
  if (externalUrl || hasRedisServer()) return false;
  const reason = 'needs redis-server on PATH (apt-get install redis-server) or GATEHOUSE_TEST_REDIS_URL';
  if (process.env.CI === 'true') throw new Error(`Redis tests cannot run: ${reason}. CI must not skip them.`);
  return reason;
}

/**
 * Why a test that stops and restarts Redis (an outage) cannot run here, or false when it can:
 * a Redis named by `GATEHOUSE_TEST_REDIS_URL` is not this helper's to stop. As with
 * {@link redisSkipReason}, CI does not skip: there it is an error.
 */
export function restartableRedisSkipReason(): string | false {
  if (!externalUrl) return redisSkipReason();
  const reason = 'needs a redis-server this test can stop (GATEHOUSE_TEST_REDIS_URL is set)';
  if (process.env.CI === 'true') throw new Error(`Redis outage tests cannot run: ${reason}. CI must not skip them.`);
  return reason;
}

/**
 * Starts a throwaway redis-server, or connects to `GATEHOUSE_TEST_REDIS_URL`. redis-server cannot
 * be asked for port 0 and tell which port it got (not portably), and a unix socket is no
 * `redis://` URL Gatehouse's configuration takes; and {@link TestRedis.restart} needs the same
 * port again. So it takes a spare port below the ephemeral range, and another when that is taken.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (externalUrl) {
    const notHere = (): Promise<void> =>
      Promise.reject(new Error('cannot stop a Redis named by GATEHOUSE_TEST_REDIS_URL'));
    return { url: externalUrl, restartable: false, stop: notHere, restart: notHere, close: async () => {} };
  }
  // The snapshot directory lets a stopped server come back with its data, like a real one.
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  const started = await bindSparePort((port) => spawnRedis(port, dir));
  const port = started.port;
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined = started.bound;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    const running = child;
    if (!running) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    // --save "" writes nothing on its own; SHUTDOWN SAVE writes the snapshot restart() loads.
    const client = createClient({ url, socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    await client.connect();
    await client.sendCommand(['SHUTDOWN', 'SAVE']).catch(() => {});
    client.destroy();
    await exited;
    child = undefined;
  };

  return {
    url,
    restartable: true,
    stop,
    restart: async () => {
      if (child) throw new Error('redis-server is already running');
      child = await spawnRedis(port, dir);
    },
    close: async () => {
      const running = child;
      child = undefined;
      if (running) {
        const exited = new Promise((resolve) => running.once('exit', resolve));
        running.kill('SIGTERM');
        await exited;
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Spawns redis-server and resolves once it accepts connections (it says so on stdout). */
function spawnRedis(port: number, dir: string): Promise<ChildProcess> {
  return spawnRedisServer([
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
    'dump.rdb',
  ]);
}

/**
 * Spawns `redis-server args` (a server, a replica, a cluster node or, with `--sentinel`, a
 * sentinel) and resolves once it says it is ready. Rejects with `code: 'EADDRINUSE'` when its
 * port is taken, for {@link bindSparePort}.
 */
export function spawnRedisServer(args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections') || /Sentinel ID is|\+monitor master/.test(output)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', fail);
    child.once('exit', (code) => {
      const error: NodeJS.ErrnoException = new Error(`redis-server exited with ${code}:\n${output}`);
      if (output.includes('Address already in use')) error.code = 'EADDRINUSE';
      fail(error);
    });
  });
}
