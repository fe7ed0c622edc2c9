// The WebSocket part of `npm run bench` (issue 25): messages per second through Gatehouse's
// `/api/<name>/…` socket proxy against a direct connection to the same upstream, as a ratio.
// Each run opens `sockets` sockets, keeps `window` messages in flight on each (a new one is sent
// as each echo arrives) for `seconds`, and counts the echoes. Direct and Gatehouse alternate,
// so a machine that slows down mid-run slows both.
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';

/** One side measured: where to connect and with which handshake headers. */
export interface SocketTarget {
  url: string;
  headers: Record<string, string>;
}

/** Echoes per second over `seconds`, with `sockets` sockets each keeping `window` messages in flight. */
export async function measureMessages(
  target: SocketTarget,
  options: { sockets: number; window: number; seconds: number; message: string },
): Promise<number> {
  const open = await Promise.all(
    Array.from(
      { length: options.sockets },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(target.url, { headers: target.headers, perMessageDeflate: false });
          ws.once('open', () => resolve(ws));
          ws.once('unexpected-response', (_req, res) => reject(new Error(`${target.url} answered ${res.statusCode}`)));
          ws.once('error', reject);
        }),
    ),
  );
  let echoes = 0;
  let counting = false;
  let running = true;
  for (const ws of open) {
    ws.on('message', () => {
      if (counting) echoes++;
      if (running) ws.send(options.message);
    });
    for (let i = 0; i < options.window; i++) ws.send(options.message);
  }
  await sleep(1000); // warm-up: JIT, buffers
  counting = true;
  const started = performance.now();
  await sleep(options.seconds * 1000);
  counting = false;
  const elapsed = (performance.now() - started) / 1000;
  running = false;
  await Promise.all(
    open.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
  return echoes / elapsed;
}

/** Runs direct and Gatehouse alternately, prints each round and the medians' ratio. */
export async function measureWebSocketThroughput(
  direct: SocketTarget,
  gatehouse: SocketTarget,
  options: { rounds: number; seconds: number; sockets: number; window: number },
): Promise<void> {
  const message = JSON.stringify({ type: 'tick', payload: 'x'.repeat(100) });
  const results = { direct: [] as number[], gatehouse: [] as number[] };
  process.stdout.write(
    `\nWebSocket benchmark: ${options.sockets} sockets × ${options.window} messages in flight, ${message.length}-byte text messages echoed, ${options.rounds} × ${options.seconds} s, alternating\n`,
  );
  for (let round = 1; round <= options.rounds; round++) {
    for (const [name, target] of [
      ['direct', direct],
      ['gatehouse', gatehouse],
    ] as const) {
      const rate = await measureMessages(target, { ...options, message });
      results[name].push(rate);
      process.stdout.write(`  round ${round}  ${name.padEnd(10)} ${rate.toFixed(0)} messages/s\n`);
    }
  }
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const d = median(results.direct);
  const g = median(results.gatehouse);
  process.stdout.write(
    `  median     direct ${d.toFixed(0)}, gatehouse ${g.toFixed(0)} messages/s\n` +
      `websocket gatehouse/direct: messages/s ${(g / d).toFixed(2)}×\n`,
  );
}
