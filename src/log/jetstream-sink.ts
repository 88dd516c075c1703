import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import type { NatsConnection } from '@nats-io/transport-node';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Logger } from '../logger.js';
import { checkCount, checkDuration } from '../validate.js';
import { AckedPublisher, NoStreamError, RecordRefused } from './acked-publisher.js';
import { GapLedger, OVERFLOW_KEY, type OwedGap } from './gap-ledger.js';
import { GAP_TOKEN, REFUSED_TOKEN, checkName, connToken, subjectOf } from './jetstream-subjects.js';
import type { LogRecord } from './log-record.js';
import { checkServers, loadNats, type NatsModules } from './nats-client.js';
import type { LogSink } from './sink.js';
import { Spool, type SpoolEntry } from './spool.js';
import { redact, redactError, secretsOf } from './redact-url.js';

/**
 * A marker a {@link JetStreamSink} publishes where it lost records: `lost` records of `conn`
 * (none: refusals, or connections past the sink's bound) were dropped for `reason`, the first
 * at `t`. Replay says such a connection's history is incomplete.
 */
export interface JetStreamGapRecord {
  t: number;
  conn?: number | string;
  kind: 'gap';
  lost: number;
  reason: JetStreamDropReason;
}

/**
 * Why a {@link JetStreamSink} dropped a record: its spool was full (`spool_full`), it could
 * not be serialized (`serialize`), it was larger than the server takes (`too_large`), the
 * server refused it (`rejected`), it came after {@link JetStreamSink.close} (`closed`), or it
 * was still unacknowledged when close gave up (`unsent`).
 */
export type JetStreamDropReason = 'spool_full' | 'serialize' | 'too_large' | 'rejected' | 'closed' | 'unsent';

/** Every {@link JetStreamDropReason}, in a stable order (metrics start each at 0). */
export const JETSTREAM_DROP_REASONS: readonly JetStreamDropReason[] = ['spool_full', 'serialize', 'too_large', 'rejected', 'closed', 'unsent'];

/** Options of a {@link JetStreamSink}. */
export interface JetStreamSinkOptions {
  /**
   * The NATS server(s): `host:port` or `nats://host:port`, or a list (a cluster). nats.js does
   * not authenticate with credentials written in a URL: give them in {@link natsOptions}
   * (`user` and `pass`, or `token`). Either way they are cut out of every message the sink makes.
   */
  servers: string | string[];
  /** The stream's name, also the first token of every subject. Default `PROXY_LIFECYCLE`. */
  stream?: string;
  /** This proxy's name in the fleet, the second subject token. Default: the host name, with `.` and other characters a token cannot hold as `_`. */
  instance?: string;
  /** Most records (and gap markers) held while NATS is slow or down. Default 100 000. */
  maxRecords?: number;
  /** Most bytes of serialized records held. Default 64 MiB. */
  maxBytes?: number;
  /** Most publishes (messages) awaiting their acknowledgement at once. Default 256. */
  maxInFlight?: number;
  /**
   * Most bytes in one message. Records of one connection that wait together (while a round of
   * publishes is out, that is under load) share a message, one JSON record per line, up to this
   * size (and the server's `max_payload`): a fraction of the messages, and of their CPU. 0: one
   * record per message. Default 16 384.
   */
  maxMessageBytes?: number;
  /**
   * How long records wait, in ms, before a round of publishes starts from idle, and the least
   * time from one round's start to the next unless a backlog waits, so that a connection's
   * records of the next moments share its message (a short connection's often all of them).
   * 0: at the end of the current turn, and rounds back to back. Default 20: a fleet log 20 ms
   * late costs nothing, and a short connection's records then take one message, not two.
   */
  lingerMs?: number;
  /** How long a publish waits for its acknowledgement, in ms, before it is sent again. Default 5000. */
  ackTimeout?: number;
  /**
   * Create the stream (subjects `<stream>.>`, file storage, {@link duplicateWindow}) when it
   * does not exist. An existing stream is left as it is. Default true.
   */
  createStream?: boolean;
  /** The created stream's duplicate window in ms: a record sent again within it is stored once. Default 120 000. */
  duplicateWindow?: number;
  /** Longest {@link JetStreamSink.close} waits for the spool to empty, in ms. Default 5000. */
  closeTimeout?: number;
  /** Longest wait between tries while NATS fails (connects, publishes), in ms; tries start at 100 ms and double. Default 5000. */
  maxRetryDelay?: number;
  /** More nats.js connection options (`user`, `pass`, `token`, `tls`, `reconnectTimeWait`, …). */
  natsOptions?: Record<string, unknown>;
  /** The clock of the retry and close timers. Default {@link systemClock}. */
  clock?: Clock;
  /** Told about outages (`error`) and recoveries (`warn`). */
  logger?: Logger;
}

/** What a {@link JetStreamSink} reports. */
export interface JetStreamSinkEvents {
  /** NATS became unreachable or refused the stream: once per outage, not per record. */
  error: (err: Error) => void;
  /** Records are acknowledged again after {@link JetStreamSinkEvents.error}, with what the outage cost. */
  recover: (outage: { ms: number; dropped: number }) => void;
}

/** The host name as an instance name (a subject token). */
function defaultInstance(): string {
  return connToken(hostname()) || 'proxy';
}

/**
 * Appends every log record to a NATS JetStream stream: the fleet-wide event log. Each
 * connection's records go to `<stream>.<instance>.<conn>`, refusals to
 * `<stream>.<instance>._refused`, each with a message id (`Nats-Msg-Id`) so that a record sent
 * again after a reconnect is stored once.
 *
 * The data path never waits: {@link write} serializes the record into a spool bounded in
 * records and bytes, and one pump publishes from it with at most `maxInFlight` awaiting their
 * acknowledgement (stored by the server, not merely sent). While NATS is down the proxy runs
 * on, the spool fills, then the newest records are dropped and counted by reason; the
 * connection that lost records gets a gap marker ({@link JetStreamGapRecord}) when room
 * returns, so the stream says where its history has holes. An outage is reported once
 * (`error`, then `recover`). nats.js reconnects by itself, forever.
 *
 * @example
 * ```ts
 * const sink = new JetStreamSink({ servers: 'nats.internal:4222', instance: 'edge-1' });
 * const supervisor = new Supervisor({ log: new EventLog({ sinks: [sink] }) });
 * ```
 */
export class JetStreamSink extends EventEmitter<JetStreamSinkEvents> implements LogSink {
  /** The stream written to. */
  readonly stream: string;
  /** This proxy's subject token. */
  readonly instance: string;
  private readonly servers: string[];
  private readonly spool: Spool;
  private readonly gaps = new GapLedger(10_000);
  private readonly maxInFlight: number;
  private readonly maxMessageBytes: number;
  /** maxMessageBytes, and less when the server takes less (its max_payload, less room for headers). */
  private messageLimit: number;
  private readonly lingerMs: number;
  private lingerTimer: TimerHandle | null = null;
  /** Each connection's message still taking records (not yet taken for publishing). */
  private readonly open = new Map<string, SpoolEntry>();
  private readonly ackTimeout: number;
  private readonly createStream: boolean;
  private readonly duplicateWindow: number;
  private readonly closeTimeout: number;
  private readonly maxRetryDelay: number;
  private readonly natsOptions: Record<string, unknown>;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  /** Qualifies numeric connection ids, which restart at 1 with each process, in message ids. */
  private readonly boot: string;
  private modules: NatsModules | null = null;
  private nc: NatsConnection | null = null;
  private publisher: AckedPublisher | null = null;
  private connected = false;
  private streamReady = false;
  private pumping = false;
  private scheduled = false;
  private stopped = false;
  private closing: Promise<void> | null = null;
  /** Ids of records without `seq`, refusals and gap markers: unique within this sink. */
  private counter = 0;
  private enqueuedCount = 0;
  private ackedCount = 0;
  private gapCount = 0;
  private readonly drops: Record<JetStreamDropReason, number> = { spool_full: 0, serialize: 0, too_large: 0, rejected: 0, closed: 0, unsent: 0 };
  private droppedCount = 0;
  private upNow = false;
  /** The outage being reported (null: none), with the drop count at its start. */
  private outage: { since: number; dropped: number } | null = null;
  private lastError: Error | null = null;
  private wake: (() => void) | null = null;
  private waitTimer: TimerHandle | null = null;
  private readonly flushWaiters: (() => void)[] = [];
  /** close()'s wait: released only when the spool is empty. */
  private readonly drainWaiters: (() => void)[] = [];

  constructor(options: JetStreamSinkOptions) {
    super();
    this.servers = checkServers(options.servers);
    this.stream = checkName('stream', options.stream ?? 'PROXY_LIFECYCLE');
    this.instance = options.instance === undefined ? defaultInstance() : checkName('instance', options.instance);
    const maxRecords = options.maxRecords === undefined ? 100_000 : checkCount('maxRecords', options.maxRecords, 1);
    const maxBytes = options.maxBytes === undefined ? 64 * 1024 * 1024 : checkCount('maxBytes', options.maxBytes, 1, Number.MAX_SAFE_INTEGER);
    this.spool = new Spool(maxRecords, maxBytes);
    this.maxInFlight = options.maxInFlight === undefined ? 256 : checkCount('maxInFlight', options.maxInFlight, 1, 65_536);
    this.maxMessageBytes = options.maxMessageBytes === undefined ? 16_384 : checkCount('maxMessageBytes', options.maxMessageBytes, 0, 64 * 1024 * 1024);
    this.messageLimit = this.maxMessageBytes;
    this.lingerMs = options.lingerMs === undefined ? 20 : checkDuration('lingerMs', options.lingerMs);
    this.ackTimeout = options.ackTimeout === undefined ? 5000 : checkDuration('ackTimeout', options.ackTimeout, 1);
    this.createStream = options.createStream ?? true;
    this.duplicateWindow = options.duplicateWindow === undefined ? 120_000 : checkDuration('duplicateWindow', options.duplicateWindow, 1);
    this.closeTimeout = options.closeTimeout === undefined ? 5000 : checkDuration('closeTimeout', options.closeTimeout);
    this.maxRetryDelay = options.maxRetryDelay === undefined ? 5000 : checkDuration('maxRetryDelay', options.maxRetryDelay, 1);
    this.natsOptions = options.natsOptions ?? {};
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.boot = Date.now().toString(36) + Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
    void this.start();
  }

  /** Records taken into the spool. */
  get enqueued(): number {
    return this.enqueuedCount;
  }

  /** Records the server acknowledged (stored, or already stored: a duplicate). */
  get acked(): number {
    return this.ackedCount;
  }

  /** Records dropped, for every reason (see {@link droppedBy}). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Records dropped, by reason. */
  get droppedBy(): Readonly<Record<JetStreamDropReason, number>> {
    return this.drops;
  }

  /** Gap markers acknowledged by the server. */
  get gapsPublished(): number {
    return this.gapCount;
  }

  /** Bytes held in the spool (waiting or awaiting their acknowledgement). */
  get spoolBytes(): number {
    return this.spool.bytes;
  }

  /** Records and gap markers held in the spool. */
  get spoolRecords(): number {
    return this.spool.records;
  }

  /** Whether NATS is connected and the last publish was acknowledged. */
  get up(): boolean {
    return this.upNow;
  }

  /** Whether an outage is being reported (`error` emitted, no `recover` yet). */
  get failing(): boolean {
    return this.outage !== null;
  }

  write(record: LogRecord): void {
    const conn = record.conn;
    const key = conn === undefined ? REFUSED_TOKEN : String(conn);
    const t = record.t;
    if (this.closing !== null) return this.drop(key, 'closed', t, conn);
    let text: string;
    try {
      text = JSON.stringify(record);
    } catch {
      return this.drop(key, 'serialize', t, conn);
    }
    // A connection that lost records gets its gap marker before its next record.
    if (this.gaps.has(key) && !this.placeGaps(key)) return this.drop(key, 'spool_full', t, conn);
    const bytes = Buffer.byteLength(text);
    const open = this.open.get(key);
    if (open !== undefined && open.bytes + 1 + bytes <= this.messageLimit) {
      if (!this.spool.append(open, text, bytes)) return this.drop(key, 'spool_full', t, conn);
    } else {
      const entry: SpoolEntry = { subject: this.subjectFor(conn), id: this.idFor(record), text, data: null, bytes, count: 1, record: true, key, conn, t };
      if (!this.spool.offer(entry)) return this.drop(key, 'spool_full', t, conn);
      if (bytes < this.messageLimit) this.open.set(key, entry);
      else if (open !== undefined) this.open.delete(key);
    }
    this.enqueuedCount++;
    this.schedule();
  }

  /**
   * Resolves once the spool is empty (every record acknowledged, every gap marker owed
   * published), or at once while NATS is failing (what waits stays spooled).
   */
  flush(): Promise<void> {
    if (this.drained() || this.outage !== null || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Tries again at once (SIGHUP in the CLI): a retry waiting out its backoff goes now. */
  reopen(): void {
    this.interrupt();
  }

  /**
   * Takes no more records, waits up to `closeTimeout` for the spool to empty, then drains and
   * closes the NATS connection. Rejects when records were lost: dropped, or still unacknowledged
   * (counted as `unsent`). Later calls return the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (!this.drained()) {
      // Unlike flush(), close waits out an outage too, up to its bound: NATS may come back.
      let timer: TimerHandle | null = null;
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        timer = this.clock.setTimeout(resolve, this.closeTimeout);
        this.schedule();
      });
      this.clock.clearTimeout(timer);
    }
    this.stopped = true;
    this.interrupt();
    if (this.lingerTimer !== null) {
      this.clock.clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      this.scheduled = false;
    }
    for (const entry of this.spool.clear()) if (entry.record) this.count('unsent', entry.count);
    this.open.clear();
    this.releaseFlushWaiters();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    const nc = this.nc;
    this.nc = null;
    this.publisher?.close();
    this.publisher = null;
    if (nc !== null) {
      // drain() waits for the server, which may hang: it gets closeTimeout too, then close().
      // A connection that is down gets close() at once.
      let timer: TimerHandle | null = null;
      const bound = new Promise<'late'>((resolve) => (timer = this.clock.setTimeout(() => resolve('late'), this.closeTimeout)));
      const drained = this.connected ? await Promise.race([nc.drain().catch(() => 'failed' as const), bound]) : 'down';
      this.clock.clearTimeout(timer);
      if (drained !== undefined) await nc.close().catch(() => {});
    }
    this.connected = false;
    this.upNow = false;
    if (this.droppedCount === 0) return;
    const by = JETSTREAM_DROP_REASONS.filter((r) => this.drops[r] > 0).map((r) => `${r}: ${this.drops[r]}`).join(', ');
    throw new Error(`JetStream sink: ${this.droppedCount} records lost (${by})${this.lastError === null ? '' : `; last error: ${this.lastError.message}`}`, {
      cause: this.lastError ?? undefined,
    });
  }

  private drained(): boolean {
    return this.spool.length === 0 && this.gaps.size === 0;
  }

  private subjectFor(conn: number | string | undefined): string {
    return subjectOf(this.stream, this.instance, conn === undefined ? REFUSED_TOKEN : connToken(conn));
  }

  /** A connection id unique across the fleet: numeric ids get this instance and boot. */
  private qualified(conn: number | string): string {
    return typeof conn === 'number' ? `${this.instance}-${this.boot}-${conn}` : conn;
  }

  private idFor(record: LogRecord): string {
    if (record.conn === undefined) return `${this.instance}-${this.boot}-${REFUSED_TOKEN}:${++this.counter}`;
    const seq = (record as { seq?: unknown }).seq;
    return `${this.qualified(record.conn)}:${typeof seq === 'number' ? seq : `n${++this.counter}`}`;
  }

  private drop(key: string, reason: JetStreamDropReason, t: number, conn?: number | string, lost = 1): void {
    this.count(reason, lost);
    // Past close nothing more is published: a marker would never go out.
    if (reason !== 'closed' && reason !== 'unsent') this.gaps.add(key, reason, t, conn, lost);
  }

  private count(reason: JetStreamDropReason, lost = 1): void {
    this.drops[reason] += lost;
    this.droppedCount += lost;
  }

  /** Enqueues the gap markers owed for `key` while they fit; whether none is left owed. */
  private placeGaps(key: string): boolean {
    for (const gap of this.gaps.peek(key)) {
      const entry = this.gapEntry(gap);
      if (!this.spool.offer(entry)) return false;
      this.gaps.settle(gap);
      // The connection's next records go after the marker, not into a message before it.
      this.open.delete(key);
    }
    return true;
  }

  private gapEntry(gap: OwedGap): SpoolEntry {
    const record: JetStreamGapRecord = gap.conn === undefined ? { t: gap.t, kind: 'gap', lost: gap.lost, reason: gap.reason as JetStreamDropReason } : { t: gap.t, conn: gap.conn, kind: 'gap', lost: gap.lost, reason: gap.reason as JetStreamDropReason };
    const text = JSON.stringify(record);
    const token = gap.key === OVERFLOW_KEY ? GAP_TOKEN : gap.conn === undefined ? REFUSED_TOKEN : connToken(gap.conn);
    const owner = gap.conn === undefined ? `${this.instance}-${this.boot}-${token}` : this.qualified(gap.conn);
    const id = `${owner}:gap${++this.counter}`;
    return { subject: subjectOf(this.stream, this.instance, token), id, text, data: null, bytes: Buffer.byteLength(text), count: 1, record: false, key: gap.key, conn: gap.conn, t: gap.t };
  }

  /** Starts the pump after the current turn's records are in, or after the linger (one round for many records, not one per record). */
  private schedule(): void {
    if (this.scheduled || this.pumping || this.stopped) return;
    this.scheduled = true;
    if (this.lingerMs === 0) queueMicrotask(this.startPump);
    else this.lingerTimer = this.clock.setTimeout(this.startPump, this.lingerMs);
  }

  private readonly startPump = (): void => {
    this.scheduled = false;
    this.lingerTimer = null;
    void this.pump();
  };

  private async start(): Promise<void> {
    let modules: NatsModules;
    try {
      modules = await loadNats();
    } catch (err) {
      this.down(err as Error);
      return;
    }
    this.modules = modules;
    // Our own loop for the first connect rather than nats.js's waitOnFirstConnect: close() can
    // end it, where a connect() promise that waits for the first server cannot be cancelled.
    let delay = 100;
    while (!this.stopped) {
      try {
        const nc = await modules.transport.connect({
          name: `proxy-lifecycle ${this.instance}`,
          reconnectTimeWait: 1000,
          ...this.natsOptions,
          servers: this.servers,
          maxReconnectAttempts: -1,
        });
        if (this.stopped) {
          await nc.close();
          return;
        }
        this.attach(nc, modules);
        return;
      } catch (err) {
        this.down(err as Error);
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryDelay);
      }
    }
  }

  private attach(nc: NatsConnection, modules: NatsModules): void {
    this.nc = nc;
    this.publisher = new AckedPublisher(nc, modules, this.clock);
    // Room for the header block and the protocol line.
    this.messageLimit = Math.min(this.maxMessageBytes, (nc.info?.max_payload ?? Infinity) - 1024);
    this.connected = true;
    void (async () => {
      try {
        for await (const status of nc.status()) {
          if (status.type === 'disconnect') {
            this.connected = false;
            this.upNow = false;
            this.down(new Error(`JetStream sink: lost the connection to NATS at ${redact(String(status.server), secretsOf(this.servers, this.natsOptions))}`));
          } else if (status.type === 'reconnect') {
            this.connected = true;
            this.interrupt();
            if (this.drained()) this.isUp();
            else this.schedule();
          } else if (status.type === 'error') this.logger?.warn?.('JetStream sink: NATS reported an error', { error: redact(status.error.message, secretsOf(this.servers, this.natsOptions)) });
        }
      } catch (err) {
        // The iterator ends with the connection; an error from it is one more failure to report.
        if (!this.stopped) this.down(err as Error);
      }
    })();
    void nc.closed().then((err) => {
      if (this.stopped || this.nc !== nc) return;
      // Closed for good (nats.js gave up, say on an authorization error): connect afresh.
      this.nc = null;
      this.publisher?.close();
      this.publisher = null;
      this.connected = false;
      this.upNow = false;
      this.down(err ?? new Error('JetStream sink: the NATS connection closed'));
      void this.start();
    });
    this.schedule();
  }

  /** Creates the stream when asked to and missing; a failure is reported and tried again later. */
  private async ensureStream(modules: NatsModules, nc: NatsConnection): Promise<boolean> {
    if (this.streamReady || !this.createStream) return true;
    try {
      const jsm = await modules.jetstream.jetstreamManager(nc, { timeout: this.ackTimeout });
      try {
        await jsm.streams.info(this.stream);
      } catch (err) {
        if (!(err instanceof modules.jetstream.JetStreamApiError && err.code === modules.jetstream.JetStreamApiCodes.StreamNotFound)) throw err;
        await jsm.streams.add({
          name: this.stream,
          subjects: [`${this.stream}.>`],
          storage: modules.jetstream.StorageType.File,
          duplicate_window: modules.transport.nanos(this.duplicateWindow),
        });
      }
      this.streamReady = true;
      return true;
    } catch (err) {
      this.down(new Error(`JetStream sink: could not create stream ${this.stream} (${(err as Error).message})`, { cause: err }));
      return false;
    }
  }

  /** Publishes until the spool is empty; waits out failures. Only one runs at a time. */
  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    let delay = 100;
    try {
      while (!this.stopped) {
        const { nc, publisher, modules } = this;
        if (nc === null || publisher === null || modules === null || !this.connected) return; // resumed by attach() or the reconnect
        if (!(await this.ensureStream(modules, nc))) {
          await this.sleep(delay);
          delay = Math.min(delay * 2, this.maxRetryDelay);
          continue;
        }
        this.placeOwedGaps();
        if (this.spool.length === 0) {
          this.isUp();
          return;
        }
        const started = this.clock.now();
        const taken = this.spool.length;
        const failure = await this.round(publisher);
        if (this.stopped) return;
        if (failure === null) {
          delay = 100;
          this.isUp();
          // A round that took all there was (not a backlog) is followed by the next no sooner
          // than lingerMs after it began, so that records keep sharing messages under load too.
          if (taken <= this.maxInFlight && this.closing === null && this.spool.length > 0) {
            const wait = started + this.lingerMs - this.clock.now();
            if (wait > 0) await this.sleep(wait);
          }
          continue;
        }
        this.upNow = false;
        this.down(failure);
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryDelay);
      }
    } finally {
      this.pumping = false;
      if (this.drained()) for (const resolve of this.drainWaiters.splice(0)) resolve();
      if (this.drained() || this.outage !== null || this.stopped) this.releaseFlushWaiters();
    }
  }

  /** One round: publishes a batch and waits for every acknowledgement. Returns the error to wait out, if any. */
  private async round(publisher: AckedPublisher): Promise<Error | null> {
    const batch = this.spool.take(this.maxInFlight);
    // Taken, they are sealed: the connections' next records start new messages.
    for (const entry of batch) if (this.open.get(entry.key) === entry) this.open.delete(entry.key);
    const results = await publisher.round(batch, this.ackTimeout);
    // close() gave up on these and counted them as unsent.
    if (this.stopped) return null;
    const done: (boolean | SpoolEntry[])[] = new Array(batch.length);
    let failure: Error | null = null;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      const err = results[i]!;
      if (err === null) {
        done[i] = true;
        if (entry.record) this.ackedCount += entry.count;
        else this.gapCount++;
        continue;
      }
      if (err instanceof RecordRefused && entry.count > 1) {
        // One bad record must not take the records it shares a message with: each goes alone.
        done[i] = this.split(entry);
        continue;
      }
      if (err instanceof RecordRefused) {
        done[i] = true;
        this.lastError = err;
        this.logger?.warn?.('JetStream sink: a record was refused', { subject: entry.subject, error: err.message });
        if (entry.record) this.refused(entry, err.reason);
        continue;
      }
      done[i] = false;
      // No stream listens: a server that lost its store, say. Make it again before the next round.
      if (err instanceof NoStreamError) this.streamReady = false;
      failure ??=
        err instanceof NoStreamError
          ? new Error(`JetStream sink: no stream takes ${entry.subject} (is JetStream enabled, and does stream ${this.stream} exist?)`, { cause: err })
          : err;
    }
    this.spool.settle(batch, done);
    return failure;
  }

  /** A message's records, each in a message of its own (sealed: no more are added). */
  private split(entry: SpoolEntry): SpoolEntry[] {
    return entry.text.split('\n').map((text) => {
      const record = JSON.parse(text) as LogRecord;
      return { ...entry, id: this.idFor(record), text, data: null, bytes: Buffer.byteLength(text), count: 1, t: record.t };
    });
  }

  /** A refused message's connection owes a gap marker for its records, like dropped ones. */
  private refused(entry: SpoolEntry, reason: JetStreamDropReason): void {
    this.drop(entry.key, reason, entry.t, entry.conn, entry.count);
  }

  /** Gap markers of connections that wrote nothing since: sent once there is room. */
  private placeOwedGaps(): void {
    for (let key = this.gaps.firstKey(); key !== undefined; key = this.gaps.firstKey()) {
      if (!this.placeGaps(key)) return;
    }
  }

  private down(failure: Error): void {
    // Every outage message passes here (emitted, logged, and close()'s last error): none may carry a server's credentials.
    const err = redactError(failure, secretsOf(this.servers, this.natsOptions));
    this.lastError = err;
    this.upNow = false;
    if (this.outage === null) {
      this.outage = { since: this.clock.now(), dropped: this.droppedCount };
      this.logger?.error?.('JetStream sink: NATS is failing; records wait in the spool, then are dropped and counted', { error: err.message });
      this.emit('error', err);
    }
    this.releaseFlushWaiters();
  }

  private isUp(): void {
    this.upNow = true;
    if (this.outage === null) return;
    const outage = { ms: this.clock.now() - this.outage.since, dropped: this.droppedCount - this.outage.dropped };
    this.outage = null;
    this.logger?.warn?.('JetStream sink: NATS acknowledges records again', outage);
    this.emit('recover', outage);
  }

  private releaseFlushWaiters(): void {
    for (const resolve of this.flushWaiters.splice(0)) resolve();
  }

  /** Waits `ms`, or until {@link interrupt} (a reconnect, close). */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.waitTimer = this.clock.setTimeout(() => this.interrupt(), ms);
    });
  }

  private interrupt(): void {
    if (this.waitTimer !== null) {
      this.clock.clearTimeout(this.waitTimer);
      this.waitTimer = null;
    }
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
