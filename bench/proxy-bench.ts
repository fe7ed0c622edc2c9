// `npm run bench`: Gatehouse's /api proxy against a bare Node pass-through proxy in front of the
// same upstream, same load, alternating rounds; then Gatehouse's resident memory with many
// signed-in sessions. A benchmark, not a test: it prints figures and whether the targets of
// issue 3 were met (≥ 0.75× the bare proxy's requests/s, p99 ≤ 2× its p99, ≤ 5 KB per session),
// and the parse time of the worst SOAP envelope under 64 KiB (issue 10: under 5 ms).
//
// Each round measures the bare proxy and then Gatehouse once per kind of caller (issue 13,
// target 3), all on the same upstream and path, each caller signed in for real beforehand:
//   gatehouse cookie     a browser: session cookie and `X-CSRF: 1`
//   gatehouse soap       a LiveScore client: `Authorization: Bearer <IdentityToken>` from
//                        GetExternalLoginRedirectURL → IdP → /external/callback → ExternalLogin
//   gatehouse api-token  a script: `Authorization: Bearer gh_…` created on /tokens
//
//   npm run bench -- --duration=10 --rounds=3 --connections=32 --sessions=10000 --log-level=info
//
// Flags (defaults above):
//   --duration=S      seconds of load per caller per round (after a 3 s warm-up per caller)
//   --rounds=N        rounds; the summary shows each caller's median over them
//   --connections=N   concurrent connections autocannon keeps open
//   --sessions=N      extra signed-in sessions for the memory figure
//   --log-level=L     Gatehouse's GATEHOUSE_LOG_LEVEL (info writes one JSON line per request)
//   --only-proxy      skip the memory part (its thousands of sign-ins): throughput only
//   --only-websocket  only the WebSocket figure: messages/s through Gatehouse against direct (issue 25)
//   --profile         write a CPU profile of Gatehouse to .tmp/profile/
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon, { type Result } from 'autocannon';
import { payload } from './bench-payload.ts';
import { startBench, signIn, type Target } from './bench-setup.ts';
import { measureSoapParse } from './soap-parse-bench.ts';
import { measureWebSocketThroughput } from './websocket-bench.ts';

const options = Object.fromEntries(
  process.argv
    .slice(2)
    .map((arg) => /^--([\w-]+)(?:=(.*))?$/.exec(arg))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2] ?? '']),
);
const duration = Number(options.duration ?? 10);
const rounds = Number(options.rounds ?? 3);
const connections = Number(options.connections ?? 32);
const sessions = Number(options.sessions ?? 10_000);
const logLevel = options['log-level'] ?? 'info';
const onlyProxy = options['only-proxy'] !== undefined;
const onlyWebSocket = options['only-websocket'] !== undefined;
let stopBench = (): void => {};

function ask<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (answer: T) => resolve(answer));
    child.send(message as object);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(2);
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const pad = (value: unknown, width: number): string => String(value).padEnd(width);

async function main(): Promise<void> {
  // First, before any other process competes for the CPU: parsing is synchronous and in-process.
  process.stdout.write(`\n${measureSoapParse()}`);
  const bench = await startBench({
    logLevel,
    gatehouse: {
      execArgv: [
        '--expose-gc',
        ...(options.profile !== undefined ? ['--cpu-prof', '--cpu-prof-dir=.tmp/profile'] : []),
      ],
    },
  });
  stopBench = bench.stop;

  const sockets = {
    direct: { url: `ws://127.0.0.1:${bench.upstream.ready}/feed`, headers: {} },
    gatehouse: {
      url: `${bench.publicUrl.replace(/^http/, 'ws')}/api/live/feed`,
      headers: { cookie: bench.browserCookie, origin: bench.publicUrl },
    },
  };
  const socketOptions = { rounds, seconds: duration, sockets: 8, window: 16 };
  if (onlyWebSocket) {
    await measureWebSocketThroughput(sockets.direct, sockets.gatehouse, socketOptions);
    return;
  }

  process.stdout.write(
    `\nGatehouse proxy benchmark: GET of a ${payload.length}-byte JSON, ${connections} connections, ${rounds} × ${duration} s per caller, alternating; Gatehouse log level ${logLevel}\n\n`,
  );
  if (!onlyProxy) await measureMemory(bench.publicUrl, bench.gatehouse.child);
  else process.stdout.write('memory: skipped (--only-proxy)\n\n');
  await measureThroughput(bench.targets);
  await measureWebSocketThroughput(sockets.direct, sockets.gatehouse, socketOptions);
}

/**
 * Resident memory per idle signed-in session: the growth from `sessions` real sign-ins (the IdP
 * runs in its own process).
 */
async function measureMemory(publicUrl: string, gatehouse: ChildProcess): Promise<void> {
  // A warm-up batch first, so one-time growth (JIT code, V8's young generation, HTTP client
  // pools) is not billed to the sessions: the figure is the marginal cost of one more session.
  // Idle sessions are what is measured: V8 keeps heap headroom after a burst of sign-ins and
  // gives it back within seconds, so each reading waits until resident memory stops falling.
  type Memory = { memory: NodeJS.MemoryUsage; storeKeys?: number };
  const settled = async (): Promise<Memory> => {
    let last = await ask<Memory>(gatehouse, { type: 'memory' });
    for (let waited = 0; waited < 60; waited += 3) {
      await sleep(3000);
      const next = await ask<Memory>(gatehouse, { type: 'memory' });
      const falling = last.memory.rss - next.memory.rss > 512 * 1024;
      last = next;
      if (!falling) break;
    }
    return last;
  };
  const signInMany = async (count: number): Promise<void> => {
    let made = 0;
    const worker = async (): Promise<void> => {
      while (made < count) {
        made++;
        await signIn(publicUrl, made % 2 ? 'alice' : 'bob');
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  };
  const warmUp = Math.min(500, Math.ceil(sessions / 10));
  await signInMany(warmUp);
  const before = await settled();
  const started = Date.now();
  await signInMany(sessions);
  const burst = await ask<Memory>(gatehouse, { type: 'memory' });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const after = await settled();
  const per = (field: 'rss' | 'heapUsed', end: Memory): number => (end.memory[field] - before.memory[field]) / sessions;
  const rssPer = per('rss', after);
  process.stdout.write(
    `memory: ${sessions} more signed-in sessions (real sign-ins through the IdP in ${seconds} s, after ${warmUp + 1} warm-up sign-ins)\n` +
      `  resident, idle: ${mb(before.memory.rss)} → ${mb(after.memory.rss)} MB: ${kb(rssPer)} KB per session (target ≤ 5 KB: ${rssPer <= 5 * 1024 ? 'met' : 'MISSED'})\n` +
      `  resident right after the sign-in burst: ${mb(burst.memory.rss)} MB (${kb(per('rss', burst))} KB per session, V8 heap headroom not yet returned)\n` +
      `  JS heap used: ${mb(before.memory.heapUsed)} → ${mb(after.memory.heapUsed)} MB: ${kb(per('heapUsed', after))} KB per session; store keys ${before.storeKeys} → ${after.storeKeys}\n\n`,
  );
}

/** Alternating rounds of every caller, one row each, then each caller's medians and its ratio to bare. */
async function measureThroughput(targets: Array<[caller: string, target: Target]>): Promise<void> {
  const run = async (target: Target, seconds: number): Promise<Result> =>
    autocannon({ url: target.url, headers: target.headers, connections, duration: seconds });
  for (const [, target] of targets) await run(target, 3);

  const width = Math.max(...targets.map(([caller]) => caller.length)) + 2;
  const results = new Map<string, Result[]>(targets.map(([caller]) => [caller, []]));
  process.stdout.write(
    `${pad('round', 7)}${pad('caller', width)}${pad('req/s', 10)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('non-2xx', 9)}errors\n`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const [caller, target] of targets) {
      const result = await run(target, duration);
      results.get(caller)!.push(result);
      process.stdout.write(
        `${pad(round, 7)}${pad(caller, width)}${pad(result.requests.average.toFixed(0), 10)}${pad(result.latency.p50, 8)}${pad(result.latency.p99, 8)}${pad(result.non2xx, 9)}${result.errors}\n`,
      );
    }
  }
  const summary = (caller: string) => ({
    rps: median(results.get(caller)!.map((r) => r.requests.average)),
    p50: median(results.get(caller)!.map((r) => r.latency.p50)),
    p99: median(results.get(caller)!.map((r) => r.latency.p99)),
  });
  for (const [caller] of targets) {
    const m = summary(caller);
    process.stdout.write(
      `${pad('median', 7)}${pad(caller, width)}${pad(m.rps.toFixed(0), 10)}${pad(m.p50, 8)}${m.p99}\n`,
    );
  }
  process.stdout.write('\n');
  const b = summary('bare');
  for (const [caller] of targets.slice(1)) {
    const g = summary(caller);
    const rpsRatio = g.rps / b.rps;
    const p99Ratio = g.p99 / b.p99;
    process.stdout.write(
      `${caller}/bare: requests/s ${rpsRatio.toFixed(2)}× (target ≥ 0.75×: ${rpsRatio >= 0.75 ? 'met' : 'MISSED'}), ` +
        `p99 ${p99Ratio.toFixed(2)}× (target ≤ 2×: ${p99Ratio <= 2 ? 'met' : 'MISSED'})\n`,
    );
  }
  // A caller refused mid-run (say, its sign-in ended) would be fast for the wrong reason.
  const failed = [...results].filter(([, runs]) => runs.some((r) => r.non2xx > 0 || r.errors > 0));
  if (failed.length > 0) {
    process.stdout.write(
      `\nNOT VALID: non-2xx answers or errors for ${failed.map(([caller]) => caller).join(', ')}; their figures are not of the proxied path\n`,
    );
    process.exitCode = 1;
  }
}

try {
  await main();
} finally {
  stopBench();
}
