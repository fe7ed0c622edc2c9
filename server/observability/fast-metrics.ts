import type { Registry } from 'prom-client';

// prom-client's counters and histograms hash their label values on every inc() and observe(),
// even through a bound child: on the /api path, which counts every call in three histograms, a
// counter and a store histogram per store read, that cost several microseconds per call. These two
// keep plain numbers per label set and build prom-client's exposition shape only when scraped;
// they register in the same Registry, so the text format is prom-client's own.

interface MetricOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: readonly Registry[];
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class FastMetric<Child> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  protected readonly children = new Map<string, { labels: Record<string, string>; child: Child }>();

  constructor(private readonly options: MetricOptions) {
    this.name = options.name;
    this.help = options.help;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** The series for these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): Child {
    const key = values.join('\u0000');
    let entry = this.children.get(key);
    if (!entry) {
      const labels = Object.fromEntries(this.options.labelNames.map((name, i) => [name, values[i] ?? '']));
      entry = { labels, child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  reset(): void {
    this.children.clear();
  }

  protected abstract newChild(): Child;
}

/** A counter series. */
export interface FastCounterChild {
  inc(value?: number): void;
}

interface CounterSeries extends FastCounterChild {
  value: number;
}

/** A Prometheus counter whose series are plain numbers. */
export class FastCounter extends FastMetric<FastCounterChild> {
  readonly type = 'counter';

  protected newChild(): FastCounterChild {
    const series: CounterSeries = {
      value: 0,
      inc(by = 1) {
        series.value += by;
      },
    };
    return series;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values = [...this.children.values()].map(({ labels, child }) => ({
      labels,
      value: (child as CounterSeries).value,
    }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A histogram series. */
export interface FastHistogramChild {
  observe(value: number): void;
}

interface HistogramSeries extends FastHistogramChild {
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A Prometheus histogram whose series are an array of bucket counts, a sum and a count. */
export class FastHistogram extends FastMetric<FastHistogramChild> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(options: MetricOptions & { buckets: readonly number[] }) {
    super(options);
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected newChild(): FastHistogramChild {
    const bounds = this.bounds;
    const series: HistogramSeries = {
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      observe(value: number) {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        series.counts[i]! += 1;
        series.sum += value;
        series.count += 1;
      },
    };
    return series;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const { labels, child } of this.children.values()) {
      const series = child as HistogramSeries;
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += series.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
