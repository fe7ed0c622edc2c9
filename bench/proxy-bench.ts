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
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { devUsers } from '../server/dev/dev-idp.ts';
import { createApiToken } from '../test/helpers/api-tokens.ts';
import { writeApisFile } from '../test/helpers/apis-file.ts';
import { CookieBrowser } from '../test/helpers/cookie-browser.ts';
import { callbackUrlFor } from '../test/helpers/harness.ts';
import { sparePort } from '../test/helpers/ports.ts';
import { callSoap, decodeBase64, text } from '../test/helpers/soap.ts';
import { payload } from './bench-payload.ts';
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
const serversFile = fileURLToPath(new URL('./bench-servers.ts', import.meta.url));
const children: ChildProcess[] = [];

interface Ready<T> {
  child: ChildProcess;
  ready: T;
}

function launch<T>(role: string, args: string[], execArgv: string[] = []): Promise<Ready<T>> {
  // stdout (Gatehouse's JSON log lines) goes to /dev/null: written, as in production, but not shown.
  const child = fork(serversFile, [role, ...args], {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (message: { ready: T }) => resolve({ child, ready: message.ready }));
    child.once('exit', (code) => reject(new Error(`the ${role} process exited (${code})`)));
  });
}

function ask<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (answer: T) => resolve(answer));
    child.send(message as object);
  });
}

async function signIn(publicUrl: string, username: string): Promise<CookieBrowser> {
  const user = devUsers.find((u) => u.username === username)!;
  const browser = new CookieBrowser();
  const page = await browser.navigate(`${publicUrl}/auth/login`);
  const done = await browser.submitForm(page.url, page.body, { username, password: user.password });
  if (!done.url.startsWith(publicUrl) || done.response.status !== 200)
    throw new Error(`sign-in ended at ${done.url} (${done.response.status})`);
  return browser;
}

/**
 * A LiveScore client's sign-in, as seed 002 describes it: GetExternalLoginRedirectURL, the user
 * signs in at the IdP in a browser, the client takes `code` and `state` from the redirect to
 * /external/callback and calls ExternalLogin, which answers the IdentityToken.
 */
async function soapIdentityToken(publicUrl: string, username: string): Promise<string> {
  const redirect = await callSoap(publicUrl, 'GetExternalLoginRedirectURL', [
    ['RequestURL', `${publicUrl}/external/callback`],
  ]);
  if (redirect.status !== 200)
    throw new Error(`GetExternalLoginRedirectURL answered ${redirect.status}: ${redirect.body.slice(0, 400)}`);
  const back = new URL(
    await callbackUrlFor(
      { url: publicUrl },
      new CookieBrowser(),
      username,
      decodeBase64(text(redirect.body, 'RedirectURL')),
      '/external/callback',
    ),
  );
  const signedIn = await callSoap(publicUrl, 'ExternalLogin', [
    ['Code', back.searchParams.get('code') ?? ''],
    ['State', back.searchParams.get('state') ?? ''],
    ['ContextID', text(redirect.body, 'ContextID')],
  ]);
  if (signedIn.status !== 200)
    throw new Error(`ExternalLogin answered ${signedIn.status}: ${signedIn.body.slice(0, 400)}`);
  return text(signedIn.body, 'IdentityToken');
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
  const upstream = await launch<number>('upstream', []);
  const bare = await launch<number>('bare', [String(upstream.ready)]);
  // The IdP must know Gatehouse's URL before Gatehouse runs; the IdP itself takes port 0.
  const [gatehousePort, idpPort] = [sparePort(), 0];
  const publicUrl = `http://localhost:${gatehousePort}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const idp = await launch<string>('idp', [String(idpPort), publicUrl, clientSecret]);
  const apis = writeApisFile([
    { name: 'echo', url: `http://127.0.0.1:${upstream.ready}`, token: 'user', audience: 'renku' },
    { name: 'live', url: `http://127.0.0.1:${upstream.ready}`, token: 'user', audience: 'renku', websocket: true },
  ]);
  const gatehouse = await launch<string>(
    'gatehouse',
    [
      JSON.stringify({
        NODE_ENV: 'bench',
        GATEHOUSE_PORT: String(gatehousePort),
        GATEHOUSE_PUBLIC_URL: publicUrl,
        GATEHOUSE_OIDC_ISSUER: idp.ready,
        GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
        GATEHOUSE_SESSION_SECRET: randomBytes(48).toString('base64url'),
        GATEHOUSE_APIS: apis,
        GATEHOUSE_LOG_LEVEL: logLevel,
        // Thousands of sign-ins from one address for the memory figure: the per-address limit on
        // sign-in starts would refuse them, and it is not what this benchmark measures.
        GATEHOUSE_RATE_LIMIT_LOGIN: 'off',
        GATEHOUSE_RATE_LIMIT_LOGIN_GLOBAL: 'off',
      }),
    ],
    ['--expose-gc', ...(options.profile !== undefined ? ['--cpu-prof', '--cpu-prof-dir=.tmp/profile'] : [])],
  );

  // One caller of each kind, each signed in for real; all GET the same upstream path.
  const browser = await signIn(publicUrl, 'alice');
  const identityToken = await soapIdentityToken(publicUrl, 'alice');
  const { secret: apiToken } = await createApiToken({ url: publicUrl }, await signIn(publicUrl, 'alice'), {
    name: 'bench',
  });
  const gatehouseUrl = `${publicUrl}/api/echo/datasets/42`;
  const targets: Array<[caller: string, target: Target]> = [
    ['bare', { url: `http://127.0.0.1:${bare.ready}/datasets/42`, headers: {} }],
    [
      'gatehouse cookie',
      { url: gatehouseUrl, headers: { cookie: browser.cookieHeader(new URL(publicUrl)), 'x-csrf': '1' } },
    ],
    ['gatehouse soap', { url: gatehouseUrl, headers: { authorization: `Bearer ${identityToken}` } }],
    ['gatehouse api-token', { url: gatehouseUrl, headers: { authorization: `Bearer ${apiToken}` } }],
  ];
  // A refused caller would be measured at the speed of its 401: each must reach the upstream.
  for (const [caller, target] of targets) {
    const response = await fetch(target.url, { headers: target.headers });
    const body = await response.text();
    if (response.status !== 200 || body !== payload)
      throw new Error(`${caller}: ${target.url} answered ${response.status}: ${body.slice(0, 200)}`);
  }

  const sockets = {
    direct: { url: `ws://127.0.0.1:${upstream.ready}/feed`, headers: {} },
    gatehouse: {
      url: `ws://localhost:${gatehousePort}/api/live/feed`,
      headers: { cookie: browser.cookieHeader(new URL(publicUrl)), origin: publicUrl },
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
  if (!onlyProxy) await measureMemory(publicUrl, gatehouse.child);
  else process.stdout.write('memory: skipped (--only-proxy)\n\n');
  await measureThroughput(targets);
  await measureWebSocketThroughput(sockets.direct, sockets.gatehouse, socketOptions);
}

interface Target {
  url: string;
  headers: Record<string, string>;
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
  for (const child of children) child.kill();
}
