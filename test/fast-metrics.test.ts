import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../server/observability/fast-metrics.ts';

// The per-call metrics bypass prom-client's own counters and histograms for speed; Prometheus
// must not see the difference.

test('a FastHistogram scrapes exactly as a prom-client Histogram with the same observations', async () => {
  const fast = new Registry();
  const reference = new Registry();
  const options = { name: 'gatehouse_x_seconds', help: 'x.', labelNames: ['family'], buckets: [0.01, 0.1, 1] };
  const ours = new FastHistogram({ ...options, registers: [fast] });
  const theirs = new Histogram({ ...options, registers: [reference] });
  for (const [family, value] of [
    ['api', 0.005],
    ['api', 0.01],
    ['api', 0.5],
    ['api', 7],
    ['auth', 0.05],
  ] as const) {
    ours.labels(family).observe(value);
    theirs.labels(family).observe(value);
  }
  assert.equal(await fast.metrics(), await reference.metrics());
  assert.match(await fast.metrics(), /^gatehouse_x_seconds_bucket\{le="0.01",family="api"\} 2$/m);
});

test('a FastCounter scrapes as a counter with its label values and totals', async () => {
  const registry = new Registry();
  const counter = new FastCounter({
    name: 'gatehouse_y_total',
    help: 'y.',
    labelNames: ['upstream', 'status'],
    registers: [registry],
  });
  counter.labels('echo', '200').inc();
  counter.labels('echo', '200').inc();
  counter.labels('echo', '502').inc(3);
  assert.equal(
    await registry.metrics(),
    '# HELP gatehouse_y_total y.\n# TYPE gatehouse_y_total counter\ngatehouse_y_total{upstream="echo",status="200"} 2\ngatehouse_y_total{upstream="echo",status="502"} 3\n',
  );
});
