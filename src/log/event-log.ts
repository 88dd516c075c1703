import { Subject, type Observable } from 'rxjs';
import { checkCount } from '../validate.js';
import type { LogRecord } from './log-record.js';
import type { LogSink } from './sink.js';

/** Options of an {@link EventLog}. */
export interface EventLogOptions {
  /** Records kept in memory; older ones are dropped first. Default 100 000; 0 keeps none. */
  capacity?: number;
  /** Sinks that receive every record, e.g. a {@link JsonlSink}. */
  sinks?: LogSink[];
}

/**
 * The append-only lifecycle log of a supervisor. Memory is bounded by `capacity` (a ring);
 * sinks get every record, so a file can hold the full history of a long-running process.
 */
export class EventLog {
  private readonly ring: (LogRecord | undefined)[];
  private head = 0;
  private size = 0;
  private readonly sinks: LogSink[];
  private readonly subject = new Subject<LogRecord>();
  /** Records pushed out of the ring so far. */
  dropped = 0;

  /** Every record as it is appended. */
  readonly records$: Observable<LogRecord> = this.subject.asObservable();

  constructor(options: EventLogOptions = {}) {
    const capacity = options.capacity === undefined ? 100_000 : checkCount('capacity', options.capacity);
    this.ring = new Array(capacity);
    this.sinks = options.sinks ? [...options.sinks] : [];
  }

  /** How many records the ring can hold. */
  get capacity(): number {
    return this.ring.length;
  }

  /**
   * Whether an appended record goes anywhere (ring, sink or subscriber). Writers check it
   * first, so a proxy that keeps no log allocates no record per event.
   */
  get active(): boolean {
    return this.ring.length > 0 || this.sinks.length > 0 || this.subject.observed;
  }

  /** Appends one record. */
  append(record: LogRecord): void {
    const capacity = this.ring.length;
    if (capacity > 0) {
      if (this.size === capacity) this.dropped++;
      else this.size++;
      this.ring[this.head] = record;
      this.head = (this.head + 1) % capacity;
    }
    for (let i = 0; i < this.sinks.length; i++) this.sinks[i]!.write(record);
    if (this.subject.observed) this.subject.next(record);
  }

  /** Adds a sink that receives every later record. */
  addSink(sink: LogSink): void {
    this.sinks.push(sink);
  }

  /** The retained records, oldest first. */
  records(): LogRecord[] {
    const capacity = this.ring.length;
    const out: LogRecord[] = [];
    const start = (this.head - this.size + capacity) % Math.max(capacity, 1);
    for (let i = 0; i < this.size; i++) out.push(this.ring[(start + i) % capacity]!);
    return out;
  }

  /** Resolves once every sink that can flush has written what it took. */
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush?.()));
  }

  /** Reopens every sink that can (log rotation: SIGHUP). */
  reopen(): void {
    for (const s of this.sinks) s.reopen?.();
  }

  /** Closes every sink and completes {@link records$}. */
  async close(): Promise<void> {
    this.subject.complete();
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
