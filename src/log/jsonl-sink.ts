import { EventEmitter } from 'eventemitter3';
import { LineWriter, type LineWriterEvents, type LineWriterOptions } from './line-writer.js';
import type { LogRecord } from './log-record.js';
import type { LogSink } from './sink.js';
import { cutTornTail } from './torn-tail.js';

/** Options of a {@link JsonlSink}: the {@link LineWriter}'s, but for the destination. */
export interface JsonlSinkOptions extends Omit<LineWriterOptions, 'dest'> {
  /**
   * Cut a crash-torn last line at open (default true). False when other processes append to
   * the same file now (`forward --workers`): their write in progress is not a torn line.
   */
  repairTail?: boolean;
}

/**
 * Writes each record as one line of JSON, appending to `path`, through a buffered
 * asynchronous {@link LineWriter} (lines wait at most 100 ms by default). A full disk or a
 * vanished directory never throws: the first failure is an `error` event, records wait in a
 * bounded buffer and are written when the file works again ({@link reopen}), past the bound
 * they are dropped and counted. A torn last line left by a crash is cut at open
 * ({@link repaired}), so the file keeps replaying after `kill -9`.
 */
export class JsonlSink extends EventEmitter<LineWriterEvents> implements LogSink {
  /** Bytes of a crash-torn last line cut off the file at open (0 if it ended cleanly). */
  readonly repaired: number;
  private readonly writer: LineWriter;
  private lastError: NodeJS.ErrnoException | null = null;

  constructor(readonly path: string, options: JsonlSinkOptions = {}) {
    super();
    const { repairTail = true, ...writerOptions } = options;
    this.repaired = repairTail ? cutTornTail(path) : 0;
    // Many records per connection: gather them, and save system calls.
    this.writer = new LineWriter({ minLength: 8 * 1024, ...writerOptions, dest: path });
    this.writer.on('error', (err) => {
      this.lastError = err;
      this.emit('error', err);
    });
    this.writer.on('recover', (outage) => this.emit('recover', outage));
  }

  /** Records dropped because the buffer was full (the file failing or too slow). */
  get dropped(): number {
    return this.writer.dropped;
  }

  /** Whether the last write failed. */
  get failing(): boolean {
    return this.writer.failing;
  }

  write(record: LogRecord): void {
    this.writer.write(JSON.stringify(record));
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Opens `path` again (after logrotate moved the file away); a failing sink tries again. */
  reopen(): void {
    this.writer.reopen();
  }

  /**
   * Flushes and closes the file. Rejects, with the last write error, when records were lost:
   * dropped, or still unwritten because the file kept failing.
   */
  async close(): Promise<void> {
    await this.writer.close();
    const { dropped } = this.writer;
    const pending = this.writer.pending + this.writer.lost;
    if (dropped === 0 && pending === 0 && !this.writer.failing) return;
    const what = [dropped > 0 ? `${dropped} records dropped` : '', pending > 0 ? `${pending} bytes unwritten` : ''].filter((s) => s !== '').join(', ');
    const err: NodeJS.ErrnoException = this.lastError ?? new Error('records were lost');
    throw Object.assign(new Error(`${err.message}${what === '' ? '' : ` (${what})`}`, { cause: err }), { code: err.code });
  }
}
