/**
 * Prometheus metrics for a Supervisor, named in the style of Envoy's tcp_proxy statistics.
 * `prom-client` is a dependency, imported only when metrics are asked for (or passed in), so
 * that a proxy without metrics never loads it.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CLOSE_REASONS, type CloseReason } from '../../machines/close-reasons.js';
import type { Refusal } from '../admission/refusal.js';
import type { CloseInfo } from '../binding/connection.js';
import type { Connection } from '../binding/connection.js';
import type { ConnectionSample, Supervisor } from '../supervisor.js';
import { DESCRIPTOR_ERRORS, EXHAUSTED_OPS, OVERFLOW_REASONS, type ExhaustedOp, type OverflowGuard, type OverflowReason } from '../admission/overflow-guard.js';
import { JETSTREAM_DROP_REASONS } from '../log/jetstream-sink.js';
import { registerSinkMetrics, SINK_METRICS } from './sink-metrics.js';

/** The `prom-client` module, or what of it this uses. */
export type PromClient = Pick<typeof import('prom-client'), 'Registry' | 'Counter' | 'Gauge' | 'Histogram'>;

/** Options of {@link collectMetrics}. */
export interface MetricsOptions {
  /** Where to register the metrics. Default: a new `Registry` (pass `client.register` for the global one). */
  register?: Registry;
  /** Prepended to every metric name. Default `proxy_lifecycle_`. */
  prefix?: string;
  /** The `prom-client` module; imported when not given. */
  client?: PromClient;
  /** Buckets of `downstream_cx_length_seconds`, in seconds (milliseconds before 0.2). Default {@link DEFAULT_LENGTH_BUCKETS}. */
  lengthBuckets?: number[];
  /** Buckets of `downstream_cx_bytes`, in bytes. Default {@link DEFAULT_BYTES_BUCKETS}. */
  bytesBuckets?: number[];
  /** The guard admitting the supervisor's connections, for its view of the refusals and descriptor exhaustion (those metrics stay at 0 without one). */
  guard?: OverflowGuard;
  /**
   * Log sinks whose dropped records to count in `log_records_dropped_total{sink}`, by the sink
   * label: `{ event_log: jsonlSink, access_log: lineWriter }`. Anything with a `dropped` count fits;
   * a spooling sink (a `JetStreamSink`) also gets the `log_sink_*` metrics.
   */
  sinks?: Readonly<Record<string, { readonly dropped: number }>>;
}

/** What {@link collectMetrics} returns. */
export interface SupervisorMetrics {
  register: Registry;
  /** Stops listening to the supervisor. The metrics stay registered with their last values. */
  stop(): void;
}

/** In seconds: Envoy's `downstream_cx_length_ms` spans 1 ms to an hour; so does this. */
export const DEFAULT_LENGTH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600];

/** In bytes: nothing at all (a refused upstream), then powers of 4 from 64 B to 1 GiB. */
export const DEFAULT_BYTES_BUCKETS = [0, 64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864, 268_435_456, 1_073_741_824];

/** The refusals the library and the CLI make, each series at 0 from the first scrape; an admission hook's own names appear when first used. */
const KNOWN_REFUSALS: readonly (readonly [Refusal['reason'], string])[] = [
  ['rejected', 'max_connections'],
  ['rejected', 'max_connections_per_ip'],
  ['rejected', 'backoff'],
  ['proxy_header_invalid', 'accept_proxy'],
  ['proxy_header_timeout', 'accept_proxy'],
];

const CONNECT_FAILURES: ReadonlySet<CloseReason> = new Set<CloseReason>(['connect_refused', 'connect_timeout', 'connect_error']);

/** Every metric name {@link collectMetrics} registers, without the prefix, with its type and help. */
export const METRICS = {
  downstream_cx_total: ['counter', 'Connections accepted (forwarded by the supervisor)'],
  downstream_cx_active: ['gauge', 'Connections open now'],
  downstream_cx_length_seconds: ['histogram', 'Connection length from accept to disposal, in seconds'],
  downstream_cx_bytes: ['histogram', 'Bytes per connection, by direction: rx read from the client, tx written to it'],
  downstream_cx_rx_bytes_total: ['counter', 'Bytes read from clients (client to server)'],
  downstream_cx_tx_bytes_total: ['counter', 'Bytes written to clients (server to client)'],
  upstream_cx_connect_fail_total: ['counter', 'Upstream connects that failed (refused, timed out or other error)'],
  upstream_cx_connect_timeout_total: ['counter', 'Upstream connects that timed out (connectTimeout)'],
  cx_close_total: ['counter', 'Sides closed, by side (client, server) and close reason'],
  cx_termination_total: ['counter', 'Connections closed, by two-letter termination code'],
  downstream_flow_control_paused_reading_total: ['counter', 'Times reading from a client was paused because its upstream could not keep up'],
  upstream_flow_control_paused_reading_total: ['counter', 'Times reading from an upstream was paused because its client could not keep up'],
  downstream_cx_refused_total: ['counter', 'Clients refused at the door, before any connection or upstream existed, by reason (rejected, proxy_header_invalid, proxy_header_timeout) and limit (max_connections, max_connections_per_ip, backoff, accept_proxy, or an admission hook\'s name)'],
  downstream_cx_overflow_total: ['counter', 'The overflow guard\'s view of downstream_cx_refused_total (the same refusals, not more): clients refused at max_connections (over the limit) or backoff (just after running out of file descriptors), by reason'],
  log_records_dropped_total: ['counter', 'Log records (event log, access log) dropped because their sink was failing or too slow, by sink'],
  fd_exhausted_total: ['counter', 'Accepts and upstream connects that failed for want of a file descriptor, by op (accept, connect) and code (EMFILE: the process limit, ENFILE: the system)'],
  ...SINK_METRICS,
} as const;

/** What has been counted of a live connection so far, so that counters only ever add the difference. */
interface Counted {
  c2s: number;
  s2c: number;
  clientPauses: number;
  serverPauses: number;
}

async function loadClient(): Promise<PromClient> {
  try {
    return await import('prom-client');
  } catch (err) {
    // It is a dependency: only a broken or pruned install gets here.
    throw new Error(`metrics: prom-client could not be loaded (${(err as Error).message}); reinstall proxy-lifecycle`, { cause: err });
  }
}

/**
 * Registers Prometheus metrics for `supervisor` and keeps them up to date: counters from each
 * connection's `CloseInfo` when it closes, and, for live connections, from the supervisor's
 * sampled `connectionBytes$` and at every scrape, so bytes in flight show before a connection
 * closes. Counts start when this is called.
 *
 * @example
 * ```ts
 * const metrics = await collectMetrics(supervisor);
 * const server = await serveMetrics(metrics.register, { port: 9464 });
 * ```
 */
export async function collectMetrics(supervisor: Supervisor, options: MetricsOptions = {}): Promise<SupervisorMetrics> {
  const client = options.client ?? (await loadClient());
  const register = options.register ?? new client.Registry();
  const prefix = options.prefix ?? 'proxy_lifecycle_';
  const counted = new Map<string, Counted>();
  let stopped = false;

  const name = (key: keyof typeof METRICS) => prefix + key;
  const help = (key: keyof typeof METRICS) => METRICS[key][1];
  const counter = <L extends string = never>(key: keyof typeof METRICS, labelNames: readonly L[] = []) =>
    new client.Counter<L>({ name: name(key), help: help(key), labelNames, registers: [register], collect: refresh });

  /** Brings the byte and pause counters up to date with every live connection. */
  function refresh(): void {
    if (stopped) return;
    for (const c of supervisor.connections.values()) add(c.id, c.clientToServer, c.serverToClient, c.clientPauses, c.serverPauses);
  }

  const cxTotal = counter('downstream_cx_total');
  const cxActive: Gauge = new client.Gauge({
    name: name('downstream_cx_active'),
    help: help('downstream_cx_active'),
    registers: [register],
    collect() {
      if (!stopped) this.set(supervisor.connections.size);
    },
  });
  const cxLength: Histogram = new client.Histogram({
    name: name('downstream_cx_length_seconds'),
    help: help('downstream_cx_length_seconds'),
    buckets: options.lengthBuckets ?? DEFAULT_LENGTH_BUCKETS,
    registers: [register],
  });
  // One histogram with a direction label rather than two: one query compares both ways.
  const cxBytes: Histogram<'direction'> = new client.Histogram({
    name: name('downstream_cx_bytes'),
    help: help('downstream_cx_bytes'),
    labelNames: ['direction'] as const,
    buckets: options.bytesBuckets ?? DEFAULT_BYTES_BUCKETS,
    registers: [register],
  });
  // Prometheus convention: the series exist, at zero, from the first scrape.
  for (const direction of ['rx', 'tx']) cxBytes.zero({ direction });
  const rxBytes = counter('downstream_cx_rx_bytes_total');
  const txBytes = counter('downstream_cx_tx_bytes_total');
  const connectFail = counter('upstream_cx_connect_fail_total');
  const connectTimeout = counter('upstream_cx_connect_timeout_total');
  const closes: Counter<'side' | 'reason'> = counter('cx_close_total', ['side', 'reason'] as const);
  const terminations: Counter<'code'> = counter('cx_termination_total', ['code'] as const);
  const clientPaused = counter('downstream_flow_control_paused_reading_total');
  const serverPaused = counter('upstream_flow_control_paused_reading_total');
  // Every side and reason from zero, so that rates work from the first close.
  for (const side of ['client', 'server']) for (const reason of CLOSE_REASONS) closes.inc({ side, reason }, 0);

  function add(id: string, c2s: number, s2c: number, clientPauses: number, serverPauses: number): void {
    let seen = counted.get(id);
    if (seen === undefined) counted.set(id, (seen = { c2s: 0, s2c: 0, clientPauses: 0, serverPauses: 0 }));
    if (c2s > seen.c2s) rxBytes.inc(c2s - seen.c2s);
    if (s2c > seen.s2c) txBytes.inc(s2c - seen.s2c);
    if (clientPauses > seen.clientPauses) clientPaused.inc(clientPauses - seen.clientPauses);
    if (serverPauses > seen.serverPauses) serverPaused.inc(serverPauses - seen.serverPauses);
    seen.c2s = Math.max(seen.c2s, c2s);
    seen.s2c = Math.max(seen.s2c, s2c);
    seen.clientPauses = Math.max(seen.clientPauses, clientPauses);
    seen.serverPauses = Math.max(seen.serverPauses, serverPauses);
  }

  const onConnection = (_connection: Connection) => cxTotal.inc();
  const onClose = (info: CloseInfo) => {
    add(info.id, info.bytes.clientToServer, info.bytes.serverToClient, info.pauses.client, info.pauses.server);
    counted.delete(info.id);
    cxLength.observe(info.durationMs / 1000);
    cxBytes.observe({ direction: 'rx' }, info.bytes.clientToServer);
    cxBytes.observe({ direction: 'tx' }, info.bytes.serverToClient);
    terminations.inc({ code: info.code });
    for (const side of ['client', 'server'] as const) {
      const reason = info.reasons[side];
      if (reason !== null) closes.inc({ side, reason });
    }
    const server = info.reasons.server;
    if (server !== null && CONNECT_FAILURES.has(server)) connectFail.inc();
    if (server === 'connect_timeout') connectTimeout.inc();
  };
  const onSample = (sample: ConnectionSample) => {
    const connection = supervisor.connections.get(sample.id);
    add(sample.id, sample.clientToServer, sample.serverToClient, connection?.clientPauses ?? 0, connection?.serverPauses ?? 0);
  };

  supervisor.on('connection', onConnection);
  supervisor.on('close', onClose);
  const subscription = supervisor.connectionBytes$.subscribe(onSample);
  const sinks = Object.entries(options.sinks ?? {});
  const droppedSeen = new Map<string, number>();
  const dropped: Counter<'sink'> = new client.Counter({
    name: name('log_records_dropped_total'),
    help: help('log_records_dropped_total'),
    labelNames: ['sink'] as const,
    registers: [register],
    collect: () => {
      if (!stopped) countDropped(sinks, droppedSeen, dropped);
    },
  });
  for (const [sink, s] of sinks) {
    dropped.inc({ sink }, 0);
    droppedSeen.set(sink, s.dropped);
  }
  registerSinkMetrics(client, register, prefix, sinks, () => !stopped, JETSTREAM_DROP_REASONS);
  const refusals: Counter<'reason' | 'limit'> = counter('downstream_cx_refused_total', ['reason', 'limit'] as const);
  for (const [reason, limit] of KNOWN_REFUSALS) refusals.inc({ reason, limit }, 0);
  const onRefused = (r: Refusal) => refusals.inc({ reason: r.reason, limit: r.limit });
  supervisor.on('refused', onRefused);
  const unwatchGuard = watchGuard(options.guard, counter('downstream_cx_overflow_total', ['reason'] as const), counter('fd_exhausted_total', ['op', 'code'] as const));
  return {
    register,
    stop() {
      if (stopped) return;
      stopped = true;
      supervisor.off('connection', onConnection);
      supervisor.off('close', onClose);
      supervisor.off('refused', onRefused);
      subscription.unsubscribe();
      unwatchGuard();
      counted.clear();
    },
  };
}

/** Adds to `counter` what each sink dropped since it was last seen. */
function countDropped(sinks: readonly [string, { readonly dropped: number }][], seen: Map<string, number>, counter: Counter<'sink'>): void {
  for (const [sink, s] of sinks) {
    const before = seen.get(sink)!;
    if (s.dropped > before) counter.inc({ sink }, s.dropped - before);
    seen.set(sink, Math.max(before, s.dropped));
  }
}

/** Counts what `guard` refuses; every label from zero. Returns the function that stops counting. */
function watchGuard(guard: OverflowGuard | undefined, overflow: Counter<'reason'>, exhausted: Counter<'op' | 'code'>): () => void {
  for (const reason of OVERFLOW_REASONS) overflow.inc({ reason }, 0);
  for (const op of EXHAUSTED_OPS) for (const code of DESCRIPTOR_ERRORS) exhausted.inc({ op, code }, 0);
  if (guard === undefined) return () => {};
  const onRefused = (reason: OverflowReason) => overflow.inc({ reason });
  const onExhausted = (op: ExhaustedOp, code: string) => exhausted.inc({ op, code });
  guard.on('refused', onRefused);
  guard.on('exhausted', onExhausted);
  return () => {
    guard.off('refused', onRefused);
    guard.off('exhausted', onExhausted);
  };
}
