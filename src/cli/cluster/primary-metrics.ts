import type { Counter, Gauge } from 'prom-client';
import { serveMetrics, type MetricsServer } from '../../index.js';
import type { Endpoint } from '../args.js';

/** The primary's own metrics, beside the workers' summed ones. */
export interface PrimaryMetrics {
  server: MetricsServer;
  restarts: Counter;
  lost: Counter;
  workers: Gauge;
}

/**
 * Serves one `/metrics` for every worker: prom-client's `AggregatorRegistry.clusterMetrics()`
 * asks each worker for its registry over IPC and sums the series of the same name and labels
 * (counters, histograms, and `downstream_cx_active`; `worker_cx_active` keeps one series per
 * worker by its label), followed by the primary's own: restarts and connections lost to them.
 * @throws (rejects) when the address cannot be bound.
 */
export async function servePrimaryMetrics(endpoint: Endpoint): Promise<PrimaryMetrics> {
  const client = await import('prom-client');
  const aggregator = new client.AggregatorRegistry();
  const own = new client.Registry();
  const restarts = new client.Counter({ name: 'proxy_lifecycle_worker_restarts_total', help: 'Workers restarted after they exited unasked (forward --workers)', registers: [own] });
  const lost = new client.Counter({
    name: 'proxy_lifecycle_worker_lost_connections_total',
    help: 'Connections open in workers that exited unasked, by their last report (at most 250 ms old)',
    registers: [own],
  });
  const workers = new client.Gauge({ name: 'proxy_lifecycle_workers', help: 'Worker processes running now', registers: [own] });
  const server = await serveMetrics(
    {
      contentType: aggregator.contentType,
      metrics: async () => `${await aggregator.clusterMetrics()}\n${await own.metrics()}`,
    },
    { host: endpoint.host ?? '127.0.0.1', port: endpoint.port },
  );
  return { server, restarts, lost, workers };
}
