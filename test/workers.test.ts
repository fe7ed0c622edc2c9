import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { get } from 'node:http';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../server/config.ts';
import { type DevIdp, startDevIdp } from '../server/dev/dev-idp.ts';
import { randomHandle } from '../server/random.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { EchoUpstream } from './helpers/echo-upstream.ts';
import { eventually } from './helpers/eventually.ts';
import { CookieBrowser, signIn, type TestGatehouse } from './helpers/harness.ts';
import { sparePort } from './helpers/ports.ts';
import { scrape } from './helpers/prometheus-text.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

const secret = 'a-session-secret-shared-by-every-worker-0123456789';

describe('GATEHOUSE_WORKERS in the configuration', () => {
  const problems = (env: Record<string, string>): string => {
    try {
      loadConfig({ GATEHOUSE_OIDC_ISSUER: 'https://idp.example', GATEHOUSE_OIDC_CLIENT_SECRET: 'x', ...env });
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return '';
  };

  test('more than one worker with the memory store is refused at start, naming the fix', () => {
    assert.match(
      problems({ GATEHOUSE_WORKERS: '2', GATEHOUSE_SESSION_SECRET: secret }),
      /GATEHOUSE_WORKERS=2 .*set GATEHOUSE_STORE=redis/,
    );
  });

  test('more than one worker without a session secret or with the embedded IdP is refused', () => {
    const env = { GATEHOUSE_WORKERS: '2', GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:1' };
    assert.match(problems(env), /set GATEHOUSE_SESSION_SECRET/);
    const embedded = (() => {
      try {
        loadConfig({ ...env, GATEHOUSE_SESSION_SECRET: secret });
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    assert.match(embedded, /set GATEHOUSE_OIDC_ISSUER/);
  });

  test('auto means one worker per core; the default is one', () => {
    const redis = {
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:1',
      GATEHOUSE_SESSION_SECRET: secret,
    };
    const base = { GATEHOUSE_OIDC_ISSUER: 'https://idp.example', GATEHOUSE_OIDC_CLIENT_SECRET: 'x' };
    assert.equal(loadConfig({ ...base, ...redis }).workers, 1);
    assert.equal(loadConfig({ ...base, ...redis, GATEHOUSE_WORKERS: 'auto' }).workers, availableParallelism());
    assert.match(problems({ GATEHOUSE_WORKERS: 'many' }), /GATEHOUSE_WORKERS must be a whole number from 1 to 256/);
  });
});

describe('Gatehouse with GATEHOUSE_WORKERS=2', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let idp: DevIdp;
  let echo: EchoUpstream;
  let child: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  const port = sparePort();
  const url = `http://localhost:${port}`;
  let metricsPort = sparePort();
  while (metricsPort === port) metricsPort = sparePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

  before(async () => {
    redis = await startTestRedis();
    echo = await new EchoUpstream('renku').start();
    const clientSecret = randomHandle();
    idp = await startDevIdp({
      port: 0,
      client: {
        clientId: 'gatehouse',
        clientSecret,
        redirectUris: [`${url}/auth/callback`],
        postLogoutRedirectUris: [`${url}/`],
        backchannelLogoutUri: `${url}/auth/backchannel-logout`,
      },
    });
    echo.issuer = idp.issuer;
    child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../server/main.ts', import.meta.url))],
      {
        env: {
          PATH: process.env.PATH,
          GATEHOUSE_WORKERS: '2',
          GATEHOUSE_PORT: String(port),
          GATEHOUSE_METRICS_PORT: String(metricsPort),
          GATEHOUSE_PUBLIC_URL: url,
          GATEHOUSE_OIDC_ISSUER: idp.issuer,
          GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse',
          GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
          GATEHOUSE_SESSION_SECRET: secret,
          GATEHOUSE_STORE: 'redis',
          GATEHOUSE_REDIS_URL: redis.url,
          GATEHOUSE_APIS: writeApisFile([{ name: 'echo', url: echo.url, token: 'user', audience: 'renku' }]),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await eventually(() => listening() === 2, 'both workers listening', { timeoutMs: 60_000, intervalMs: 100 });
  });
  after(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await idp?.close();
    await echo?.stop();
    await redis?.close();
  });

  /** How many times a worker started listening (the primary logs each). */
  function listening(): number {
    return output.match(/"msg":"worker listening"/g)?.length ?? 0;
  }

  /** The pids of the primary's worker processes. */
  function workerPids(): number[] {
    try {
      // Only node processes: tsx's esbuild service is a child of the primary too (started when a
      // file is not in tsx's cache, as on a fresh clone), and killing it replaces no worker.
      return execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(child.pid)], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter(([, command]) => command === 'node')
        .map(([pid]) => Number(pid))
        .filter((pid) => pid > 0);
    } catch {
      return []; // ps exits 1 when there is no such process
    }
  }

  /** How many request lines for `path` each worker logged. */
  function workerRequestLines(path: string): Map<unknown, number> {
    const counts = new Map<unknown, number>();
    for (const line of output.split('\n')) {
      if (!line.startsWith('{')) continue;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === 'request' && parsed.path === path)
        counts.set(parsed.worker, (counts.get(parsed.worker) ?? 0) + 1);
    }
    return counts;
  }

  /** Worker numbers that logged a request line for `path`. */
  function workersThatServed(path: string): Set<unknown> {
    return new Set(
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'request' && line.path === path)
        .map((line) => line.worker),
    );
  }

  test('two workers share the port and the sessions: a sign-in on one serves calls on both', async () => {
    const browser = new CookieBrowser();
    const gatehouse = { url, issuer: idp.issuer } as TestGatehouse;
    await signIn(gatehouse, browser, 'alice');
    const cookie = browser.cookieHeader(new URL(url));
    // A new connection per call (no keep-alive agent): node:cluster hands connections to the
    // workers in turn.
    for (let i = 0; i < 20; i++) {
      const status = await new Promise<number | undefined>((resolve, reject) =>
        get(`${url}/api/echo/items`, { agent: false, headers: { cookie, 'x-csrf': '1' } }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        }).on('error', reject),
      );
      assert.equal(status, 200);
    }
    await eventually(() => workersThatServed('/api/echo/items').size === 2, 'both workers logged /api calls');
    assert.equal(output.match(/Gatehouse is listening on/g)?.length, 1, 'one banner, not one per worker');
  });

  test('one scrape of the metrics port sums every worker: N calls, one scrape shows N more, and no counter goes backwards', async () => {
    const apiCalls = 'gatehouse_requests_total{family="api",status_class="2xx"}';
    const browser = new CookieBrowser();
    await signIn({ url, issuer: idp.issuer } as TestGatehouse, browser, 'bob');
    const cookie = browser.cookieHeader(new URL(url));
    const before = (await scrape(metricsUrl)).get(apiCalls) ?? 0;
    const servedBefore = workerRequestLines('/api/echo/items');

    const n = 30;
    for (let i = 0; i < n; i++) {
      const status = await new Promise<number | undefined>((resolve, reject) =>
        get(`${url}/api/echo/items`, { agent: false, headers: { cookie, 'x-csrf': '1' } }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        }).on('error', reject),
      );
      assert.equal(status, 200);
    }
    // Counted when each response has finished: wait for the last count, never for a fixed time.
    await eventually(
      async () => (await scrape(metricsUrl)).get(apiCalls) === before + n,
      `a scrape shows ${n} more calls`,
    );
    const byWorker = workerRequestLines('/api/echo/items');
    const served = [...byWorker.entries()].map(([worker, count]) => count - (servedBefore.get(worker) ?? 0));
    assert.equal(served.filter((count) => count > 0).length, 2, 'both workers served some of the calls');

    let previous = 0;
    for (let i = 0; i < 6; i++) {
      const metrics = await scrape(metricsUrl);
      const value = metrics.get(apiCalls)!;
      assert.ok(value >= previous, `scrape ${i}: ${value} after ${previous}`);
      previous = value;
      assert.equal(metrics.get('gatehouse_workers'), 2, 'live workers');
      assert.equal(metrics.get('gatehouse_workers_reporting'), 2);
      assert.equal(metrics.get('gatehouse_store_up'), 1);
      assert.equal(
        metrics.get('gatehouse_request_duration_seconds_count{family="api"}'),
        metrics.get('gatehouse_request_duration_seconds_bucket{le="+Inf",family="api"}'),
        'histograms merged bucket by bucket',
      );
    }
  });

  test('a worker that dies is replaced, and SIGTERM stops the primary and every worker with exit 0', async () => {
    const [victim] = workerPids();
    assert.ok(victim);
    const listeningBefore = listening();
    process.kill(victim, 'SIGKILL');
    // Counted from before the kill, not as a fixed 3; and on failure the primary's own lines say why.
    await eventually(() => listening() === listeningBefore + 1, 'a new worker replaced the one that died', {
      timeoutMs: 60_000,
      intervalMs: 100,
    }).catch((error: Error) => {
      throw new Error(`${error.message}; the primary said:\n${output.slice(-4000)}`);
    });
    assert.match(output, /"msg":"worker exited; starting a new one"/);
    assert.equal(workerPids().length, 2);
    assert.ok(!workerPids().includes(victim));
    assert.equal((await fetch(`${url}/readyz`)).status, 200);

    const workers = workerPids();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'the worker is gone too');
  });
});
