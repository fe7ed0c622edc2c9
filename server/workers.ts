import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './log.ts';

/** How long a worker that exits unexpectedly waits before it is replaced, at first; doubles to 30 s. */
const firstRestartDelayMs = 500;
/** A worker that stayed up this long resets the restart delay. */
const healthyAfterMs = 30_000;
/** How long SIGTERM waits for the workers to finish their requests and exit. */
const stopGraceMs = 12_000;

/**
 * GATEHOUSE_WORKERS > 1: this (primary) process serves no request itself. It starts `count`
 * workers, each a full Gatehouse (`start()`), which share the listening port through node:cluster
 * and their state through Redis; so one host uses every core, as Apache's worker processes do.
 * A worker that dies is replaced (with a growing delay if it keeps dying); SIGTERM or SIGINT is
 * passed to every worker, which finish their requests and exit, and the primary exits after them.
 * With `metrics`, the primary serves GATEHOUSE_METRICS_PORT itself: one scrape, every worker summed.
 */
export async function runWorkers(
  count: number,
  logger: Logger,
  metrics?: { port: number; host: string },
): Promise<void> {
  // The primary owns the metrics port and sums the workers' metrics (loaded only when asked for).
  if (metrics) {
    const { serveWorkerMetrics } = await import('./observability/worker-metrics.ts');
    const served = await serveWorkerMetrics(metrics.port, metrics.host);
    logger.info('metrics served, summed over every worker', { url: served.url });
  }

  let stopping = false;
  let restartDelayMs = firstRestartDelayMs;
  const startedAt = new Map<Worker, number>();

  const fork = (): void => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
  };

  cluster.on('exit', (worker, code, signal) => {
    const upFor = Date.now() - (startedAt.get(worker) ?? Date.now());
    startedAt.delete(worker);
    if (stopping) {
      if (startedAt.size === 0) process.exit(0);
      return;
    }
    restartDelayMs = upFor > healthyAfterMs ? firstRestartDelayMs : Math.min(restartDelayMs * 2, 30_000);
    logger.error('worker exited; starting a new one', {
      pid: worker.process.pid,
      code,
      signal,
      restartInMs: restartDelayMs,
    });
    setTimeout(fork, restartDelayMs).unref();
  });

  cluster.on('listening', (worker) => logger.info('worker listening', { worker: worker.id, pid: worker.process.pid }));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      logger.info('shutting down workers', { signal, workers: startedAt.size });
      for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
      setTimeout(() => process.exit(0), stopGraceMs).unref();
      if (startedAt.size === 0) process.exit(0);
    });
  }

  logger.info('starting workers', { workers: count });
  for (let i = 0; i < count; i++) fork();
}

/** True in a worker that should print the start banner (the first one), or without workers. */
export function printsBanner(): boolean {
  return cluster.isPrimary || cluster.worker?.id === 1;
}
