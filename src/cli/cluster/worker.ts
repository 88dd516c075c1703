import type { Registry } from 'prom-client';
import { collectMetrics, systemClock, type SupervisorMetrics } from '../../index.js';
import type { ProxyServer } from '../proxy-server.js';
import { isMetricsRequest, isToWorker, WORKER_BOOT_ENV, WORKER_INDEX_ENV, type FromWorker, type MetricsReply } from './messages.js';
import { reportActive } from './worker-report.js';

/** What a worker does on each command its primary relays. */
export interface WorkerActions {
  /** Stop accepting and drain (idempotent: a worker also gets the terminal's SIGINT itself). */
  stop(signal: NodeJS.Signals): void;
  /** Destroy every connection now (the primary's second signal). */
  abort(): void;
  reopen(): void;
  status(): void;
}

/** The per-worker view of the open connections, beside the summed `downstream_cx_active`. */
export const WORKER_ACTIVE_METRIC = 'proxy_lifecycle_worker_cx_active';

/**
 * A `forward --workers N` worker's side of the channel to its primary: the commands it
 * relays, the few reports it wants ({@link FromWorker}), and the metrics the primary's
 * `AggregatorRegistry` collects.
 */
export class WorkerLink {
  /** 1 to N: which worker slot this process fills. */
  readonly index = Number(process.env[WORKER_INDEX_ENV]);
  /** Distinct per worker and per restart (see `workerBoot`). */
  readonly boot = process.env[WORKER_BOOT_ENV] ?? '';
  private stopReporting = () => {};
  private registry: Registry | null = null;

  /** Sends a report; a primary already gone is not an error (the worker drains on 'disconnect'). */
  send(message: FromWorker | MetricsReply): void {
    if (process.connected) process.send!(message, undefined, undefined, () => {});
  }

  /**
   * Takes the primary's commands. The primary relays every signal, so the worker's own reopen
   * and status signals (a terminal's hang-up reaches the whole process group) are ignored;
   * its own SIGTERM/SIGINT, and the primary vanishing, stop it as a `stop` would.
   */
  handle(actions: WorkerActions): void {
    for (const s of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) process.on(s, () => {});
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, actions.stop);
    process.on('disconnect', () => actions.stop('SIGTERM'));
    process.on('message', (m: unknown) => {
      if (!isToWorker(m)) return;
      if (m.pl === 'stop') actions.stop('SIGTERM');
      else if (m.pl === 'abort') actions.abort();
      else if (m.pl === 'reopen') actions.reopen();
      else actions.status();
    });
  }

  /** Says it listens, and from then on reports its open connections when they change. */
  listening(proxy: ProxyServer): void {
    this.send({ pl: 'listening', address: proxy.address });
    this.stopReporting = reportActive(() => proxy.supervisor.stats.active, (active) => this.send({ pl: 'active', active }), systemClock);
  }

  /** Stops the reports; then `stopped` with what the drain did. */
  stopped(finished: number, destroyed: number): void {
    this.stopReporting();
    this.send({ pl: 'stopped', finished, destroyed });
  }

  /**
   * Answers the primary's metrics requests ({@link MetricsRequest}, one per scrape: see
   * `primary-metrics.ts`) from a registry of its own, first thing at start-up: a request that
   * reaches a worker still starting gets an empty answer at once.
   */
  async prepareMetrics(): Promise<void> {
    const client = await import('prom-client');
    const registry = new client.Registry();
    this.registry = registry;
    process.on('message', (m: unknown) => {
      if (!isMetricsRequest(m)) return;
      void registry.getMetricsAsJSON().then(
        (metrics) => this.send({ pl: 'metrics', id: m.id, metrics }),
        () => this.send({ pl: 'metrics', id: m.id, metrics: null }),
      );
    });
  }

  /**
   * Registers the proxy's metrics in the registry {@link prepareMetrics} made, and a
   * per-worker gauge of open connections labelled `worker`.
   */
  async collectMetrics(proxy: ProxyServer, sinks: Record<string, { readonly dropped: number }>): Promise<SupervisorMetrics> {
    const client = await import('prom-client');
    const register = this.registry ?? new client.Registry();
    const collector = await collectMetrics(proxy.supervisor, { client, register, guard: proxy.guard, sinks });
    const supervisor = proxy.supervisor;
    const worker = String(this.index);
    new client.Gauge({
      name: WORKER_ACTIVE_METRIC,
      help: 'Connections open now, per worker (forward --workers)',
      labelNames: ['worker'] as const,
      registers: [register],
      collect() {
        this.set({ worker }, supervisor.connections.size);
      },
    });
    return collector;
  }
}
