import { InvalidOptionError, ProxyLifecycleError } from '../errors.js';
import { show } from '../validate.js';
import type { JetStreamGapRecord } from './jetstream-sink.js';
import { checkName, filterOf } from './jetstream-subjects.js';
import type { LogRecord } from './log-record.js';
import { checkServers, loadNats } from './nats-client.js';

/** Options of {@link readJetStream}. */
export interface ReadJetStreamOptions {
  /** The NATS server(s): `host:port` or `nats://host:port`, or a list. */
  servers: string | string[];
  /** The stream to read. Default `PROXY_LIFECYCLE`. */
  stream?: string;
  /** Only this instance's records (`<stream>.<instance>.>`). */
  instance?: string;
  /** Only this connection's records (`<stream>.<instance or *>.<connection>`). */
  connection?: number | string;
  /** Only records the stream stored from this time on: a `Date`, epoch milliseconds, or an ISO 8601 string. */
  since?: Date | number | string;
  /** Messages fetched per pull. Default 256. */
  batch?: number;
  /** More nats.js connection options (`user`, `pass`, `token`, `tls`, …). */
  natsOptions?: Record<string, unknown>;
}

/** One record of the stream (a message holds one, or several of one connection): a log record, or a sink's gap marker. */
export type JetStreamRecord = LogRecord | JetStreamGapRecord;

function checkSince(value: unknown): string {
  const date = value instanceof Date ? value : typeof value === 'number' || typeof value === 'string' ? new Date(value) : null;
  if (date === null || Number.isNaN(date.getTime())) {
    throw new InvalidOptionError('since', `since must be a Date, epoch milliseconds or an ISO 8601 time, got ${show(value)}`);
  }
  return date.toISOString();
}

function checkConnection(value: unknown): number | string {
  if ((typeof value === 'number' && Number.isInteger(value) && value >= 0) || (typeof value === 'string' && value !== '')) return value;
  throw new InvalidOptionError('connection', `connection must be a connection id (a whole number or a non-empty string), got ${show(value)}`);
}

/**
 * Reads a JetStream event log (written by a {@link JetStreamSink}) back, in stream order,
 * optionally only one instance's, one connection's, or from a time on. Ends at the last
 * matching message the stream held when the read started: not a live follow. Reads through an
 * ephemeral consumer that acknowledges nothing and is deleted at the end (or expires).
 *
 * @throws {InvalidOptionError} for bad options; a `PL_ERR_LOG_PARSE` error for a message that
 * is not a JSON object with `t` and `kind`.
 *
 * @example
 * ```ts
 * const records = [];
 * for await (const r of readJetStream({ servers: 'nats:4222', instance: 'edge-1' })) records.push(r);
 * ```
 */
export async function* readJetStream(options: ReadJetStreamOptions): AsyncGenerator<JetStreamRecord, void, undefined> {
  const servers = checkServers(options.servers);
  const stream = checkName('stream', options.stream ?? 'PROXY_LIFECYCLE');
  const instance = options.instance === undefined ? undefined : checkName('instance', options.instance);
  const connection = options.connection === undefined ? undefined : checkConnection(options.connection);
  const since = options.since === undefined ? undefined : checkSince(options.since);
  const batch = options.batch ?? 256;
  if (!Number.isInteger(batch) || batch < 1) throw new InvalidOptionError('batch', `batch must be a whole number from 1, got ${show(batch)}`);

  const { transport, jetstream } = await loadNats();
  const nc = await transport.connect({ ...options.natsOptions, servers, maxReconnectAttempts: 0 });
  let consumerName: string | null = null;
  const jsm = await jetstream.jetstreamManager(nc).catch(async (err: unknown) => {
    await nc.close();
    throw err;
  });
  try {
    const info = await jsm.consumers.add(stream, {
      ack_policy: jetstream.AckPolicy.None,
      filter_subject: filterOf(stream, instance, connection),
      deliver_policy: since === undefined ? jetstream.DeliverPolicy.All : jetstream.DeliverPolicy.StartTime,
      ...(since === undefined ? {} : { opt_start_time: since }),
      // Left behind by a reader that died: the server removes it.
      inactive_threshold: transport.nanos(60_000),
      mem_storage: true,
    });
    consumerName = info.name;
    // What matched when the read started: the read ends there.
    let left = info.num_pending;
    if (left === 0) return;
    const consumer = await jetstream.jetstream(nc).consumers.get(stream, info.name);
    const messages = await consumer.consume({ max_messages: Math.min(batch, left) });
    try {
      for await (const m of messages) {
        // A message holds one record, or several of one connection, one per line.
        const text = m.string();
        if (text.indexOf('\n') === -1) yield parse(text, stream, m.seq);
        else for (const line of text.split('\n')) yield parse(line, stream, m.seq);
        if (--left === 0 || m.info.pending === 0) break;
      }
    } finally {
      messages.stop();
    }
  } finally {
    if (consumerName !== null) await jsm.consumers.delete(stream, consumerName).catch(() => false);
    await nc.close();
  }
}

function parse(text: string, stream: string, seq: number): JetStreamRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProxyLifecycleError('PL_ERR_LOG_PARSE', `stream ${stream} message ${seq}: not valid JSON (${(err as Error).message})`);
  }
  const v = value as { t?: unknown; kind?: unknown } | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v.t !== 'number' || typeof v.kind !== 'string') {
    throw new ProxyLifecycleError('PL_ERR_LOG_PARSE', `stream ${stream} message ${seq}: expected a log record (a JSON object with t and kind)`);
  }
  return value as JetStreamRecord;
}
