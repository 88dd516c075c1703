/**
 * The metrics of log sinks that spool (a {@link JetStreamSink}): records enqueued and
 * acknowledged, dropped by reason, what the spool holds, whether the destination is up. Read
 * from the sinks' counters at every scrape; the counters add only what grew since.
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import type { PromClient } from './collect-metrics.js';

/** What a spooling sink exposes (a {@link JetStreamSink} has all of it). */
export interface SpoolingSinkStats {
  readonly enqueued: number;
  readonly acked: number;
  readonly droppedBy: Readonly<Record<string, number>>;
  readonly spoolBytes: number;
  readonly spoolRecords: number;
  readonly up: boolean;
}

/** Whether `sink` spools (and so has the metrics of this module). */
export function isSpooling(sink: object): sink is SpoolingSinkStats {
  return 'acked' in sink && 'droppedBy' in sink && 'spoolBytes' in sink;
}

/** The metric names this module registers, each with `[type, help]` (merged into `METRICS`). */
export const SINK_METRICS = {
  log_sink_records_total: ['counter', 'Log records a spooling sink (JetStream) took into its spool (state="enqueued") and had acknowledged by its destination (state="acked"), by sink'],
  log_sink_records_dropped_total: ['counter', 'Log records a spooling sink (JetStream) dropped, by sink and reason (spool_full, serialize, too_large, rejected, closed, unsent)'],
  log_sink_spool_bytes: ['gauge', 'Bytes a spooling sink (JetStream) holds, waiting or awaiting their acknowledgement, by sink'],
  log_sink_spool_records: ['gauge', 'Records (and gap markers) a spooling sink (JetStream) holds, by sink'],
  log_sink_up: ['gauge', '1 while a spooling sink (JetStream) is connected and its last publish was acknowledged, 0 while it is down, by sink'],
} as const;

/**
 * Registers {@link SINK_METRICS} for the spooling sinks among `sinks` (the others are
 * ignored), every series from the first scrape. `live()` says whether to keep reading them.
 */
export function registerSinkMetrics(
  client: PromClient,
  register: Registry,
  prefix: string,
  sinks: readonly [string, object][],
  live: () => boolean,
  dropReasons: readonly string[],
): void {
  const spooling = sinks.filter((entry): entry is [string, SpoolingSinkStats] => isSpooling(entry[1]));
  const seen = new Map<string, number>();
  /** Adds to `counter` what `value` grew since the last look at `key`. */
  const grow = <L extends string>(counter: Counter<L>, key: string, labels: Partial<Record<L, string>>, value: number) => {
    const before = seen.get(key) ?? 0;
    if (value > before) counter.inc(labels, value - before);
    seen.set(key, Math.max(before, value));
  };
  const help = (key: keyof typeof SINK_METRICS) => SINK_METRICS[key][1];
  const records: Counter<'sink' | 'state'> = new client.Counter({
    name: prefix + 'log_sink_records_total',
    help: help('log_sink_records_total'),
    labelNames: ['sink', 'state'] as const,
    registers: [register],
    collect() {
      if (!live()) return;
      for (const [sink, s] of spooling) {
        grow(this, `${sink}\0enqueued`, { sink, state: 'enqueued' }, s.enqueued);
        grow(this, `${sink}\0acked`, { sink, state: 'acked' }, s.acked);
      }
    },
  });
  const dropped: Counter<'sink' | 'reason'> = new client.Counter({
    name: prefix + 'log_sink_records_dropped_total',
    help: help('log_sink_records_dropped_total'),
    labelNames: ['sink', 'reason'] as const,
    registers: [register],
    collect() {
      if (!live()) return;
      for (const [sink, s] of spooling) for (const [reason, n] of Object.entries(s.droppedBy)) grow(this, `${sink}\0drop\0${reason}`, { sink, reason }, n);
    },
  });
  const gauge = (key: keyof typeof SINK_METRICS, read: (s: SpoolingSinkStats) => number): Gauge<'sink'> =>
    new client.Gauge({
      name: prefix + key,
      help: help(key),
      labelNames: ['sink'] as const,
      registers: [register],
      collect() {
        if (live()) for (const [sink, s] of spooling) this.set({ sink }, read(s));
      },
    });
  gauge('log_sink_spool_bytes', (s) => s.spoolBytes);
  gauge('log_sink_spool_records', (s) => s.spoolRecords);
  gauge('log_sink_up', (s) => (s.up ? 1 : 0));
  for (const [sink, s] of spooling) {
    for (const state of ['enqueued', 'acked']) records.inc({ sink, state }, 0);
    for (const reason of dropReasons) dropped.inc({ sink, reason }, 0);
    // Counted from now on, as the rest of the metrics are.
    seen.set(`${sink}\0enqueued`, s.enqueued);
    seen.set(`${sink}\0acked`, s.acked);
    for (const [reason, n] of Object.entries(s.droppedBy)) seen.set(`${sink}\0drop\0${reason}`, n);
  }
}
