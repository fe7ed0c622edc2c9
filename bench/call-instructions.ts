// Instructions per proxied call, counted by valgrind's callgrind: a figure that does not move
// with whatever else the machine runs, unlike requests per second on a shared machine. Used to
// judge each change of issue 24 on its own.
//
//   npx tsx bench/call-instructions.ts --calls=2000 --connections=8 --log-level=info
//
// The bare proxy and Gatehouse run under `valgrind --tool=callgrind --instr-atstart=no`; the
// upstream, the IdP and this load generator run natively. For each caller: a warm-up (JIT),
// then counting is switched on (`callgrind_control -i on`), `--calls` calls are made over
// `--connections` keep-alive connections, the counters are dumped and counting is switched off.
// Two figures per caller, each divided by the calls: the main thread's instructions (JavaScript,
// V8, libuv, the system-call interface: what one request costs the event loop, and the steadier
// of the two), and the whole process's (with V8's background threads: the optimizing compiler
// and GC helpers, which still compile for a while after the warm-up). One extra call wakes the
// process for each switch, so a count may include up to two calls more than it divides by.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';
import { payload } from './bench-payload.ts';
import { startBench, type Target } from './bench-setup.ts';

const options = Object.fromEntries(
  process.argv
    .slice(2)
    .map((arg) => /^--([\w-]+)(?:=(.*))?$/.exec(arg))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2] ?? '']),
);
const calls = Number(options.calls ?? 2000);
const warmUp = Number(options['warm-up'] ?? 3000);
const connections = Number(options.connections ?? 8);
const logLevel = options['log-level'] ?? 'info';
const only: string[] | undefined = options.only?.split(',');
const outDir = '.tmp/callgrind';
const run = promisify(execFile);

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });

/** One GET; rejects unless the upstream's document came back (a refused call is not a proxied one). */
async function call(target: Target): Promise<void> {
  try {
    await callOnce(target);
  } catch (error) {
    // A keep-alive connection the server closed just as it was reused: the call never arrived.
    if ((error as { code?: string }).code !== 'ECONNRESET') throw error;
    await callOnce(target);
  }
}

function callOnce(target: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(target.url, { headers: target.headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if (response.statusCode === 200 && body === payload) resolve();
        else reject(new Error(`${target.url} answered ${response.statusCode}: ${body.slice(0, 200)}`));
      });
    });
    request.on('error', reject);
  });
}

async function callMany(target: Target, count: number): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      await call(target);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

/** Runs a callgrind_control command; a call to the target wakes the process so it takes the command. */
async function control(pid: number, flags: string[], target: Target): Promise<void> {
  const done = run('callgrind_control', [...flags, String(pid)]);
  await call(target);
  await done;
}

function totalOf(file: string): number {
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('totals:') || l.startsWith('summary:'));
  if (!line) throw new Error(`no totals in ${file}`);
  return Number(line.split(/\s+/)[1]);
}

async function main(): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const wrapper = (name: string): string[] => [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    '--separate-threads=yes',
    `--callgrind-out-file=${outDir}/${name}.%p`,
  ];
  const bench = await startBench({
    logLevel,
    // Under valgrind a run takes many minutes: no token refresh (an IdP call) inside a count.
    accessTokenTtl: 4 * 3600,
    gatehouse: { wrapper: wrapper('gatehouse') },
    bare: { wrapper: wrapper('bare') },
  });
  try {
    const rows: Array<[string, number, number]> = [];
    for (const [caller, target] of bench.targets) {
      if (only && !only.some((name) => caller.includes(name))) continue;
      const child = caller === 'bare' ? bench.bare.child : bench.gatehouse.child;
      const pid = child.pid!;
      await callMany(target, warmUp);
      const before = new Set(readdirSync(outDir));
      await control(pid, ['-i', 'on'], target);
      await callMany(target, calls);
      await control(pid, ['-d', caller.replace(/\s+/g, '-')], target);
      await control(pid, ['-i', 'off'], target);
      // One file per thread; the main thread's ends in -01.
      const dumped = readdirSync(outDir).filter((file) => !before.has(file));
      const main = dumped.find((file) => file.endsWith('-01'));
      if (!main) throw new Error(`no main-thread dump among ${dumped.join(', ')}`);
      const mainPerCall = totalOf(`${outDir}/${main}`) / calls;
      const allPerCall = dumped.reduce((sum, file) => sum + totalOf(`${outDir}/${file}`), 0) / calls;
      rows.push([caller, mainPerCall, allPerCall]);
      const figure = (n: number): string => Math.round(n).toLocaleString('en').padStart(12);
      process.stdout.write(
        `${caller.padEnd(22)}${figure(mainPerCall)} main thread ${figure(allPerCall)} all threads (instructions per call)\n`,
      );
    }
    const bare = rows.find(([caller]) => caller === 'bare');
    if (bare) {
      for (const [caller, main, all] of rows.filter(([c]) => c !== 'bare'))
        process.stdout.write(
          `${caller}: ${(main / bare[1]).toFixed(2)}× the bare proxy's main-thread instructions per call (${(all / bare[2]).toFixed(2)}× all threads)\n`,
        );
    }
    process.stdout.write(
      `(${calls} calls per caller over ${connections} connections, after ${warmUp} warm-up calls; dumps in ${outDir})\n`,
    );
  } finally {
    agent.destroy();
    bench.stop();
  }
}

await main();
