/**
 * One metric of a worker's registry, as prom-client's `getMetricsAsJSON()` gives it and its
 * `AggregatorRegistry.aggregate()` takes it (`type` is the text `counter`, `gauge`, …).
 */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** Series that only grow while a process lives: what a scrape must not see shrink. Gauges and summaries' quantiles are not. */
const CUMULATIVE = new Set(['counter', 'histogram']);

/**
 * What workers that died had counted, so that the fleet's sums of counters and histograms
 * never go backwards when one dies (Prometheus would read the drop as a reset, and `rate()`
 * would count the survivors' whole totals again). Each worker's last answer is kept
 * ({@link remember}); when it exits ({@link retire}), its cumulative series are added into one
 * running total, which {@link withRetired} hands to every later scrape. Gauges are not kept:
 * a dead worker holds no connections. Counts a worker made after its last scrape are lost
 * (Prometheus never saw them, so nothing it saw shrinks). The memory is one series per name
 * and labels, however many workers die. A live worker that misses a scrape (stopped, busy)
 * is summed by its last answer's cumulative series, for the same reason.
 */
export class CounterMemory<W extends object> {
  private readonly last = new Map<W, { id: number; metrics: MetricJson[] }>();
  private readonly retired = new WeakSet<W>();
  /** The dead workers' totals, by metric name, then by series (its name and labels). */
  private readonly totals = new Map<string, { meta: Omit<MetricJson, 'values'>; series: Map<string, MetricJson['values'][number]> }>();

  /** Keeps `worker`'s answer to scrape `id`: an older answer (scrapes may overlap) or one after its exit is ignored. */
  remember(worker: W, id: number, metrics: readonly MetricJson[]): void {
    if (this.retired.has(worker)) return;
    const had = this.last.get(worker);
    if (had !== undefined && had.id > id) return;
    this.last.set(worker, { id, metrics: metrics.filter((m) => CUMULATIVE.has(m.type)) });
  }

  /** The cumulative series of `worker`'s last answer, if it gave one: a scrape it does not answer in time sums these. */
  lastOf(worker: W): MetricJson[] | undefined {
    return this.last.get(worker)?.metrics;
  }

  /** Whether `worker` exited: its answers are in the dead workers' totals, and must not be summed again. */
  isRetired(worker: W): boolean {
    return this.retired.has(worker);
  }

  /** `worker` exited: what it last reported is added to the dead workers' totals, once. */
  retire(worker: W): void {
    if (this.retired.has(worker)) return;
    this.retired.add(worker);
    const had = this.last.get(worker);
    this.last.delete(worker);
    if (had === undefined) return;
    for (const m of had.metrics) {
      let total = this.totals.get(m.name);
      if (total === undefined) {
        total = { meta: { name: m.name, help: m.help, type: m.type, ...(m.aggregator === undefined ? {} : { aggregator: m.aggregator }) }, series: new Map() };
        this.totals.set(m.name, total);
      }
      for (const v of m.values) {
        const key = `${v.metricName ?? ''}\0${JSON.stringify(Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
        const sum = total.series.get(key);
        if (sum === undefined) total.series.set(key, { ...v, labels: { ...v.labels } });
        else sum.value += v.value;
      }
    }
  }

  /** The live workers' answers and, when any worker died after a scrape, one more: the dead workers' totals. */
  withRetired(live: readonly MetricJson[][]): MetricJson[][] {
    if (this.totals.size === 0) return [...live];
    const past: MetricJson[] = [...this.totals.values()].map(({ meta, series }) => ({ ...meta, values: [...series.values()].map((v) => ({ ...v })) }));
    return [...live, past];
  }
}
