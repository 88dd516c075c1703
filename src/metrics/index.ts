/** Prometheus metrics for a Supervisor, and a tiny endpoint to scrape them. */
export {
  collectMetrics,
  METRICS,
  DEFAULT_LENGTH_BUCKETS,
  DEFAULT_BYTES_BUCKETS,
  type MetricsOptions,
  type SupervisorMetrics,
  type PromClient,
} from './collect-metrics.js';
export { serveMetrics, type ServeMetricsOptions, type MetricsServer, type ScrapeSource } from './serve-metrics.js';
