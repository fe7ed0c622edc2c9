import cluster from 'node:cluster';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/store.ts';
import { noObservability, type Observability } from './observability.ts';

/**
 * The observability the configuration asks for: Prometheus metrics on their own listener
 * (`GATEHOUSE_METRICS_PORT`), OTLP traces (`GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT`), both, or
 * neither. prom-client and OpenTelemetry are imported here, and only when configured: with
 * neither, the result is {@link noObservability} and neither library is ever loaded.
 */
export async function createObservability(config: Config, logger: Logger): Promise<Observability> {
  const { metricsPort, metricsHost, otlpEndpoint } = config.observability;
  if (metricsPort === undefined && otlpEndpoint === undefined) return noObservability;
  const [{ ObservabilityHub }, metrics, tracing] = await Promise.all([
    import('./observability-hub.ts'),
    metricsPort === undefined ? undefined : import('./metrics.ts').then(({ Metrics }) => new Metrics()),
    otlpEndpoint === undefined ? undefined : import('./tracing.ts').then(({ Tracing }) => new Tracing(otlpEndpoint)),
  ]);
  // A worker leaves the metrics port to the primary, which answers for all workers at once.
  if (metrics && cluster.isWorker) await metrics.answerPrimary();
  const metricsUrl = metrics && !cluster.isWorker ? await metrics.listen(metricsPort!, metricsHost) : undefined;
  if (metricsUrl) logger.info('metrics served', { url: metricsUrl });
  if (otlpEndpoint) logger.info('traces exported over OTLP/HTTP', { endpoint: otlpEndpoint });
  return new ObservabilityHub(metrics, tracing, metricsUrl);
}

/** The store, timed per operation when observability is on (and reported in `gatehouse_store_up`). */
export async function observeStore(store: Store, observability: Observability): Promise<Store> {
  if (!observability.enabled) return store;
  const { ObservedStore } = await import('./observed-store.ts');
  observability.watchStore(store);
  return new ObservedStore(store, observability);
}
