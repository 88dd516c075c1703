import type { Counter, Gauge } from 'prom-client';
import { serveMetrics, systemClock, type Clock, type MetricsServer, type TimerHandle } from '../../index.js';
import type { Endpoint } from '../args.js';
import { CounterMemory, type MetricJson } from './counter-memory.js';
import { isMetricsReply, type MetricsRequest } from './messages.js';

/**
 * The longest a scrape of the primary's `/metrics` waits for the workers, in ms: a worker that
 * has not answered by then (stopped, wedged, or dying) is left out of that scrape's gauges,
 * and its counters and histograms are those of its last answer (dead workers' are kept too). Live workers
 * answer in a few milliseconds; Prometheus's scrape timeout is 10 s by default.
 */
export const SCRAPE_BOUND_MS = 1000;

/** What {@link FleetScrape} needs of a `node:cluster` worker (a fake in the tests). */
export interface MetricsWorker {
  send(message: MetricsRequest, sendHandle: undefined, options: undefined, callback: (err: Error | null) => void): boolean;
  on(event: 'message' | 'exit', listener: (m: unknown) => void): unknown;
  off(event: 'message' | 'exit', listener: (m: unknown) => void): unknown;
}

/**
 * One scrape of every worker: asks each for its registry over IPC and sums the series of the
 * same name and labels with prom-client's `AggregatorRegistry.aggregate()`, together with what
 * dead workers had counted ({@link CounterMemory}).
 *
 * Not prom-client's `AggregatorRegistry.clusterMetrics()`, which does the asking too: it waits
 * for every worker in `cluster.workers` up to a fixed 5 s and then rejects the whole scrape, so
 * one worker restarting (forked, not yet answering) or killed mid-scrape made `/metrics` hang
 * 5 s and fail; and it hands back only the sum, where keeping a dead worker's counters needs
 * each worker's own answer.
 */
export class FleetScrape<W extends MetricsWorker> {
  private readonly memory = new CounterMemory<W>();
  private next = 0;

  constructor(
    private readonly aggregate: (metrics: MetricJson[][]) => { metrics(): Promise<string> },
    private readonly clock: Clock = systemClock,
    private readonly bound = SCRAPE_BOUND_MS,
  ) {}

  /** The summed metrics of `workers` (those answering within the bound) and of the dead ones. */
  async collect(workers: readonly W[]): Promise<string> {
    const id = ++this.next;
    const answers = await this.ask(workers, id);
    const live: MetricJson[][] = [];
    answers.forEach((metrics, i) => {
      const worker = workers[i]!;
      // A worker that answered and then exited is in the dead workers' totals already, with that answer.
      if (this.memory.isRetired(worker)) return;
      // One that did not answer in time counts what it last said it had counted: its sums must not dip.
      const counted = metrics ?? this.memory.lastOf(worker);
      if (counted !== undefined) live.push(counted);
    });
    return this.aggregate(this.memory.withRetired(live)).metrics();
  }

  /** `worker` exited: its last counters stay in every later sum. */
  retire(worker: W): void {
    this.memory.retire(worker);
  }

  /** Each worker's answer to request `id`, or null: it exited, could not be sent to, or did not answer within the bound. */
  private ask(workers: readonly W[], id: number): Promise<(MetricJson[] | null)[]> {
    if (workers.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const answers: (MetricJson[] | null | undefined)[] = workers.map(() => undefined);
      let pending = workers.length;
      const cleanups: (() => void)[] = [];
      let timer: TimerHandle | null = null;
      const finish = () => {
        if (timer !== null) this.clock.clearTimeout(timer);
        timer = null;
        for (const cleanup of cleanups.splice(0)) cleanup();
        resolve(answers.map((a) => a ?? null));
      };
      const settle = (i: number, value: MetricJson[] | null) => {
        if (answers[i] !== undefined) return;
        answers[i] = value;
        if (--pending === 0) finish();
      };
      timer = this.clock.setTimeout(finish, this.bound);
      workers.forEach((worker, i) => {
        const onMessage = (m: unknown) => {
          if (!isMetricsReply(m, id)) return;
          const metrics = Array.isArray(m.metrics) ? (m.metrics as MetricJson[]) : null;
          // Remembered as it comes, before the worker can exit: its exit then retires this answer.
          if (metrics !== null) this.memory.remember(worker, id, metrics);
          settle(i, metrics);
        };
        const onExit = () => settle(i, null);
        worker.on('message', onMessage);
        worker.on('exit', onExit);
        cleanups.push(() => {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
        });
      });
      // Sent once every listener is on: an answer cannot come before its listener.
      workers.forEach((worker, i) => {
        try {
          worker.send({ pl: 'metrics', id }, undefined, undefined, (err) => err && settle(i, null));
        } catch {
          settle(i, null); // The channel closed under us: the worker is going.
        }
      });
    });
  }
}

/** The primary's own metrics, beside the workers' summed ones. */
export interface PrimaryMetrics {
  server: MetricsServer;
  /** The scrape: {@link FleetScrape.retire} each worker that exits. */
  fleet: FleetScrape<MetricsWorker>;
  restarts: Counter;
  lost: Counter;
  workers: Gauge;
}

/**
 * Serves one `/metrics` for every worker: at each scrape, {@link FleetScrape} asks the
 * workers `workers()` returns (those listening) for their registries and sums the series of
 * the same name and labels (counters, histograms, and `downstream_cx_active`;
 * `worker_cx_active` keeps one series per worker by its label), counters and histograms
 * including what dead workers had counted; followed by the primary's own: restarts and
 * connections lost to them.
 * @throws (rejects) when the address cannot be bound.
 */
export async function servePrimaryMetrics(endpoint: Endpoint, workers: () => MetricsWorker[]): Promise<PrimaryMetrics> {
  const client = await import('prom-client');
  const own = new client.Registry();
  const restarts = new client.Counter({ name: 'proxy_lifecycle_worker_restarts_total', help: 'Workers restarted after they exited unasked (forward --workers)', registers: [own] });
  const lost = new client.Counter({
    name: 'proxy_lifecycle_worker_lost_connections_total',
    help: 'Connections open in workers that exited unasked, by their last report (at most 250 ms old)',
    registers: [own],
  });
  const gauge = new client.Gauge({ name: 'proxy_lifecycle_workers', help: 'Worker processes running now', registers: [own] });
  // aggregate() is static: it installs none of clusterMetrics()'s IPC listeners in the primary.
  const fleet = new FleetScrape<MetricsWorker>((metrics) => client.AggregatorRegistry.aggregate(metrics as Parameters<typeof client.AggregatorRegistry.aggregate>[0]));
  const server = await serveMetrics(
    {
      contentType: own.contentType,
      metrics: async () => `${await fleet.collect(workers())}\n${await own.metrics()}`,
    },
    { host: endpoint.host ?? '127.0.0.1', port: endpoint.port },
  );
  return { server, fleet, restarts, lost, workers: gauge };
}
