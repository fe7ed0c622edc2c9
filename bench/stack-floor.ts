// What the layers in front of Gatehouse's proxy cost by themselves: the same pass-through
// proxy as plain node:http, inside Express, then with helmet, express-session and a
// request-logging middleware with AsyncLocalStorage, each against the same upstream and load
// as `npm run bench`, alternating rounds. Explains the ceiling for any route inside createApp.
//
//   npx tsx bench/stack-floor.ts -- --duration=5 --rounds=3
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const options = Object.fromEntries(
  process.argv
    .slice(2)
    .map((arg) => /^--([\w-]+)=(.*)$/.exec(arg))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2]]),
);
const duration = Number(options.duration ?? 5);
const rounds = Number(options.rounds ?? 3);
const variants = ['node', 'express', 'express+helmet', 'express+helmet+session', 'express+helmet+session+log'];
const children: ChildProcess[] = [];

function launch(file: string, args: string[]): Promise<number> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve) => child.once('message', (message: { ready: number }) => resolve(message.ready)));
}

try {
  const upstream = await launch('./bench-servers.ts', ['upstream']);
  const targets: Array<{ variant: string; url: string; headers: Record<string, string> }> = [];
  for (const variant of variants) {
    const url = `http://127.0.0.1:${await launch('./stack-floor-server.ts', [variant, String(upstream)])}/datasets/42`;
    const cookie = (await fetch(url)).headers.get('set-cookie')?.split(';')[0];
    targets.push({ variant, url, headers: cookie ? { cookie } : {} });
  }
  const rps: Record<string, number[]> = {};
  const p99: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      const result = await autocannon({ url: target.url, headers: target.headers, connections: 32, duration });
      (rps[target.variant] ??= []).push(result.requests.average);
      (p99[target.variant] ??= []).push(result.latency.p99);
    }
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const base = median(rps.node!);
  process.stdout.write(`\npass-through proxy, 32 connections, ${rounds} × ${duration} s each (medians)\n`);
  for (const variant of variants) {
    process.stdout.write(
      `${variant.padEnd(30)}${median(rps[variant]!).toFixed(0).padStart(7)} req/s  ${(median(rps[variant]!) / base).toFixed(2)}×   p99 ${median(p99[variant]!)} ms\n`,
    );
  }
} finally {
  for (const child of children) child.kill();
}
