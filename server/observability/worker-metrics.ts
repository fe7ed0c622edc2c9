import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';

// With GATEHOUSE_WORKERS > 1, the primary owns the metrics port: each scrape asks every worker
// for its registry over the cluster's IPC channel and answers with the sum (prom-client's
// AggregatorRegistry.aggregate: counters and histogram buckets summed per label set, gauges by
// their own aggregator). Scrapes no longer land on one worker in turn (11, 10, 11, 10), and a
// counter never goes backwards while the workers live. A worker that does not answer fails
// the scrape (503) rather than leave its share out, which would read as a counter reset.

const request = 'gatehouse:metrics-request';
const response = 'gatehouse:metrics-response';
const ready = 'gatehouse:metrics-ready';
/** How long a scrape waits for the workers' answers. */
const collectTimeoutMs = 3000;

/** One metric as `Registry.getMetricsAsJSON()` gives it. */
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

interface MetricsRequest {
  type: typeof request;
  id: number;
}
interface MetricsResponse {
  type: typeof response;
  id: number;
  metrics?: MetricJson[];
  error?: string;
}

/**
 * In a worker: answers the primary's metrics requests with `registry`'s metrics, and tells the
 * primary it can, so a worker still starting is not waited for.
 */
export function answerPrimary(registry: Registry): void {
  process.on('message', (message: Partial<MetricsRequest>) => {
    if (message?.type !== request || typeof message.id !== 'number') return;
    const id = message.id;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: response, id, metrics } satisfies MetricsResponse),
      (error: unknown) => process.send?.({ type: response, id, error: String(error) } satisfies MetricsResponse),
    );
  });
  process.send?.({ type: ready });
}

/** The primary's metrics listener: {@link serveWorkerMetrics}'s result. */
export interface WorkerMetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * In the primary: serves `GET /metrics` on `host:port` with every worker's metrics summed, plus
 * `gatehouse_workers` (workers alive) and `gatehouse_workers_reporting` (workers whose metrics
 * this scrape holds).
 */
export async function serveWorkerMetrics(port: number, host: string): Promise<WorkerMetricsServer> {
  const reporting = new Set<Worker>();
  const pending = new Map<number, (answer: MetricsResponse) => void>();
  let nextId = 0;
  cluster.on('message', (worker, message: Partial<MetricsResponse> | { type?: string }) => {
    if (message?.type === ready) reporting.add(worker);
    if (message?.type === response) pending.get((message as MetricsResponse).id)?.(message as MetricsResponse);
  });
  cluster.on('exit', (worker) => reporting.delete(worker));

  const askOne = (worker: Worker): Promise<MetricJson[]> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${worker.id} did not answer within ${collectTimeoutMs} ms`));
      }, collectTimeoutMs);
      pending.set(id, (answer) => {
        clearTimeout(timer);
        pending.delete(id);
        if (answer.error !== undefined || !answer.metrics) reject(new Error(answer.error ?? 'no metrics'));
        else resolve(answer.metrics);
      });
      worker.send({ type: request, id } satisfies MetricsRequest);
    });

  const collect = async (): Promise<Registry> => {
    const workers = [...reporting].filter((worker) => worker.isConnected());
    const registry: Registry = AggregatorRegistry.aggregate(await Promise.all(workers.map(askOne)));
    const live = Object.values(cluster.workers ?? {}).filter((worker) => worker?.isConnected()).length;
    registry.registerMetric(gauge('gatehouse_workers', 'Worker processes alive (GATEHOUSE_WORKERS).', live));
    registry.registerMetric(
      gauge('gatehouse_workers_reporting', 'Worker processes whose metrics this scrape sums.', workers.length),
    );
    return registry;
  };

  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      return;
    }
    collect()
      .then(async (registry) => {
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
      })
      .catch((error: unknown) => {
        res
          .writeHead(503, { 'content-type': 'text/plain' })
          .end(`Metrics could not be collected from every worker: ${error instanceof Error ? error.message : error}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A gauge with one value, in the shape a Registry takes (as AggregatorRegistry builds its own). */
function gauge(name: string, help: string, value: number) {
  const data = { name, help, type: 'gauge' as const, aggregator: 'omit' as const, values: [{ labels: {}, value }] };
  return { ...data, get: async () => data } as never;
}
