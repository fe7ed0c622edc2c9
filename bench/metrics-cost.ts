// `npx tsx bench/metrics-cost.ts`: what Prometheus metrics add to one proxied call, in process.
// Runs the observability hooks one `/api` call runs (request start and end, the upstream call,
// two store reads through the observed store) with metrics on, against the same work with
// metrics off. Issue 14 asks metrics to cost under 2 % of proxy throughput: compare the
// difference with the CPU time of one proxied call (docs/performance.md).
import { EventEmitter } from 'node:events';
import { loadConfig } from '../server/config.ts';
import { createLogger, requestContext } from '../server/log.ts';
import { createObservability, observeStore } from '../server/observability/create-observability.ts';
import { MemoryStore } from '../server/store/memory-store.ts';

const config = loadConfig({
  GATEHOUSE_METRICS_PORT: '0',
  GATEHOUSE_OIDC_ISSUER: 'https://idp.example',
  GATEHOUSE_OIDC_CLIENT_SECRET: 'bench',
});
const observability = await createObservability(config, createLogger('silent'));
const observedStore = await observeStore(new MemoryStore(), observability);
const plainStore = new MemoryStore();
for (const store of [observedStore, plainStore]) {
  await store.set('session:x', 's'.repeat(300));
  await store.set('grant:x', 'g'.repeat(2000));
}

async function proxiedCall(metrics: boolean): Promise<void> {
  const store = metrics ? observedStore : plainStore;
  const observation = metrics ? observability.requestStarted('GET', 'bench-request') : undefined;
  await requestContext.run(
    observation ? { requestId: 'bench-request', observation } : { requestId: 'bench-request' },
    async () => {
      await store.get('session:x');
      await store.get('grant:x');
      if (!metrics) return;
      const body = new EventEmitter();
      observability.upstreamCall('u', {})?.answered(200, body as never);
      body.emit('end');
    },
  );
  if (metrics) observability.requestDone(observation, 'GET', '/api/u/items', 200, 1);
}

const calls = 100_000;
for (let round = 1; round <= 3; round++) {
  const perCall: Record<string, number> = {};
  for (const metrics of [false, true]) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await proxiedCall(metrics);
    perCall[metrics ? 'on' : 'off'] = Number(process.hrtime.bigint() - started) / calls / 1000;
  }
  process.stdout.write(
    `round ${round}: metrics off ${perCall.off!.toFixed(2)} µs, on ${perCall.on!.toFixed(2)} µs per call: metrics add ${(perCall.on! - perCall.off!).toFixed(2)} µs\n`,
  );
}
await observability.close();
