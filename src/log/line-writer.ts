import { EventEmitter } from 'eventemitter3';
import sonicBoom, { type SonicBoom, type SonicBoomOpts } from 'sonic-boom';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { InvalidOptionError } from '../errors.js';
import { checkCount, checkDuration, show } from '../validate.js';

/** Options of a {@link LineWriter}. */
export interface LineWriterOptions {
  /** A file path (appended to; {@link LineWriter.reopen} opens it again) or a file descriptor (1, 2, …). */
  dest: string | number;
  /**
   * Bytes gathered before a write starts. Default 0: a line is written as soon as no write is
   * in flight (lines arriving meanwhile go out together in the next one). A positive value
   * (below 16 KiB) saves system calls when lines are many; they then wait at most `flushInterval`.
   */
  minLength?: number;
  /**
   * Most bytes one `write()` carries, always whole lines (a single longer line goes alone).
   * Default 16 KiB. 4096 (`PIPE_BUF`) for a pipe that several processes write to (`forward
   * --workers`): the kernel writes each such write whole, so lines never interleave.
   */
  maxWrite?: number;
  /** Most bytes held while the destination is slow or failing; lines beyond are dropped and counted. Default 4 MiB. */
  maxBuffer?: number;
  /** Longest a buffered line waits for a write to start, in ms. Default 100. */
  flushInterval?: number;
  /** The clock that arms the flush timer. Default {@link systemClock}. */
  clock?: Clock;
}

/** What a {@link LineWriter} reports. */
export interface LineWriterEvents {
  /**
   * A write failed after the writer had been working (or on the first write): once per run of
   * failures, not once per failed write. The lines stay buffered (up to `maxBuffer`) and are
   * written again on the next flush; `failures` counts the failed writes.
   */
  error: (err: NodeJS.ErrnoException) => void;
  /** A write succeeded again after {@link LineWriterEvents.error}, with what the outage cost. */
  recover: (outage: { failures: number; dropped: number }) => void;
}

/** The fields of a SonicBoom its typings leave out. */
interface Boom extends SonicBoom {
  readonly fd: number;
  readonly file: string | null;
  readonly destroyed: boolean;
  /** With `contentMode: 'buffer'` (which the typings leave out too), it takes buffers. */
  write(data: string | Buffer): boolean;
}

/** The most a write may gather at once (sonic-boom's `maxWrite`) by default: `minLength` must stay below it. */
const MAX_WRITE = 16 * 1024;
/** The slab lines are encoded into (see {@link LineWriter}): a few writes' worth. */
const SLAB = 64 * 1024;

/**
 * Writes lines to a file or descriptor without blocking the event loop, and without ever
 * throwing: a full disk, a closed pipe or a vanished directory are reported once
 * ({@link LineWriterEvents.error}), counted, and survived. Lines wait in a bounded buffer and
 * are written again when the destination works again (the next flush, or after
 * {@link reopen}); past `maxBuffer` they are dropped and counted in {@link dropped}.
 *
 * Built on `sonic-boom` (pino's writer): asynchronous `fs.write` of whole buffers, reopen for
 * log rotation; this class adds the bounded flush delay through the injected clock and the
 * once-per-outage reporting. It gathers lines up to `minLength` itself and hands sonic-boom one
 * buffer per `minLength`: given strings, sonic-boom measures its whole pending buffer on every
 * write (`Buffer.byteLength` of a growing concatenation, which flattens it), about 4 KB copied
 * per line at an 8 KB `minLength`, and `fs.write` then encodes the whole string again (73 µs
 * for 8 KB of access-log lines). Here each line is measured once and encoded once, into a slab.
 */
export class LineWriter extends EventEmitter<LineWriterEvents> {
  private droppedLines = 0;
  private failedWrites = 0;
  private lostBytes = 0;
  private failingNow = false;
  /** Bytes accepted into the buffer, and bytes written out: their difference is what waits. */
  private accepted = 0;
  private written = 0;
  private outageStart = { failures: 0, dropped: 0 };
  /** {@link dropped} at the last write that worked: an outage's drops count from there. */
  private droppedAtLastWrite = 0;
  private boom: Boom;
  private readonly boomOptions: SonicBoomOpts;
  /** The file could not be opened at all: lines are dropped until {@link reopen} succeeds. */
  private unopened = false;
  private readonly clock: Clock;
  private readonly flushInterval: number;
  private readonly minLength: number;
  private readonly maxBuffer: number;
  /**
   * Lines are encoded once, into a slab: the gathered ones are `slab[chunkStart, slabUsed)`,
   * handed to sonic-boom as a view (the bytes before `chunkStart` are sonic-boom's and never
   * written again). A full slab is left to sonic-boom and a new one started.
   */
  private slab: Buffer = Buffer.allocUnsafeSlow(SLAB);
  private slabUsed = 0;
  private chunkStart = 0;
  /** Lines gathered and not yet handed to sonic-boom (their bytes count in {@link pending}). */
  private chunkLines = 0;
  private timer: TimerHandle | null = null;
  /** EPIPE: the reader is gone for good (`cmd | head`); writing again is pointless. */
  private gone = false;
  private closing: Promise<void> | null = null;
  private readonly onTimer = () => {
    this.timer = null;
    this.startWrite();
  };

  constructor(options: LineWriterOptions) {
    super();
    const { dest } = options;
    if (typeof dest !== 'string' && !(Number.isInteger(dest) && dest >= 0)) {
      throw new InvalidOptionError('dest', `dest must be a file path or a file descriptor (a whole number from 0), got ${show(dest)}`);
    }
    const maxWrite = options.maxWrite === undefined ? MAX_WRITE : checkCount('maxWrite', options.maxWrite, 1, MAX_WRITE);
    const minLength = options.minLength === undefined ? 0 : checkCount('minLength', options.minLength);
    if (minLength >= maxWrite) throw new InvalidOptionError('minLength', `minLength must be below maxWrite (${maxWrite} bytes), got ${minLength}`);
    const maxBuffer = options.maxBuffer === undefined ? 4 * 1024 * 1024 : checkCount('maxBuffer', options.maxBuffer);
    if (maxBuffer <= minLength) throw new InvalidOptionError('maxBuffer', `maxBuffer must be above minLength (${minLength}), got ${maxBuffer}`);
    this.flushInterval = options.flushInterval === undefined ? 100 : checkDuration('flushInterval', options.flushInterval);
    this.clock = options.clock ?? systemClock;
    this.minLength = minLength;
    this.maxBuffer = maxBuffer;
    // Lines are gathered here (minLength) and bounded here (maxBuffer, counted per line);
    // sonic-boom's own bound stays as a backstop.
    this.boomOptions = { dest, minLength: 0, maxLength: maxBuffer, maxWrite, append: true, sync: false, contentMode: 'buffer' };
    this.boom = this.open();
  }

  private open(): Boom {
    const boom = new sonicBoom.SonicBoom(this.boomOptions) as Boom;
    boom.on('error', (err: NodeJS.ErrnoException) => {
      // A file that never opened has no descriptor, and sonic-boom cannot write or reopen it.
      if (boom.fd < 0) this.unopened = true;
      this.failed(err);
    });
    boom.on('write', (n: number) => this.wrote(n));
    boom.on('drop', () => this.droppedLines++);
    // A file (re)opened after a failure: what waited is written now, not at the next line.
    boom.on('ready', () => {
      if (this.pending > 0) this.kick();
    });
    return boom;
  }

  /** Lines refused because the buffer was full (`maxBuffer`) or the reader had gone (EPIPE). */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Failed writes, over the writer's life. */
  get failures(): number {
    return this.failedWrites;
  }

  /** Bytes given up with a file that never opened (see {@link reopen}). */
  get lost(): number {
    return this.lostBytes;
  }

  /** Whether the last write failed (and no write has succeeded since). */
  get failing(): boolean {
    return this.failingNow;
  }

  /** The path or descriptor written to. */
  get dest(): string | number {
    return this.boom.file ?? this.boom.fd;
  }

  /** Bytes accepted but not yet written. */
  get pending(): number {
    return this.accepted - this.written;
  }

  /**
   * Appends `line` and a newline. Never throws and never blocks; returns false when the line
   * was dropped (buffer full, reader gone, writer closed).
   */
  write(line: string): boolean {
    if (this.gone || this.unopened || this.closing !== null) {
      this.droppedLines++;
      return false;
    }
    const bytes = Buffer.byteLength(line) + 1;
    if (this.pending + bytes > this.maxBuffer) {
      this.droppedLines++;
      return false;
    }
    this.accepted += bytes;
    if (bytes > SLAB - this.slabUsed) {
      if (bytes > SLAB - (this.slabUsed - this.chunkStart)) {
        // Longer than a slab can take: what is gathered, then this line on its own.
        this.hand();
        this.handData(Buffer.from(line + '\n'), bytes, 1);
        return true;
      }
      // A new slab, the gathered lines (less than minLength) moved to its start.
      const slab = Buffer.allocUnsafeSlow(SLAB);
      this.slabUsed = this.slab.copy(slab, 0, this.chunkStart, this.slabUsed);
      this.chunkStart = 0;
      this.slab = slab;
    }
    this.slab.write(line, this.slabUsed);
    this.slab[this.slabUsed + bytes - 1] = 0x0a;
    this.slabUsed += bytes;
    this.chunkLines++;
    if (this.slabUsed - this.chunkStart >= this.minLength) this.hand();
    // One timer per flush window, not per line: the buffer waits at most flushInterval.
    else if (this.timer === null) this.timer = this.clock.setTimeout(this.onTimer, this.flushInterval);
    return true;
  }

  /** Hands the gathered lines to sonic-boom, which writes them now or after the write in progress. */
  private hand(): void {
    if (this.chunkLines === 0) return;
    const data = this.slab.subarray(this.chunkStart, this.slabUsed);
    const lines = this.chunkLines;
    this.chunkStart = this.slabUsed;
    this.chunkLines = 0;
    this.handData(data, data.length, lines);
  }

  private handData(data: Buffer, bytes: number, lines: number): void {
    const dropped = this.droppedLines;
    try {
      this.boom.write(data);
    } catch (err) {
      // Not expected (sonic-boom reports write errors as events), but this must never throw.
      this.droppedLines = dropped + lines;
      this.accepted -= bytes;
      this.failed(err as NodeJS.ErrnoException);
      return;
    }
    // sonic-boom refused it (its bound: a backstop to ours); its 'drop' counted one line.
    if (this.droppedLines !== dropped) {
      this.droppedLines = dropped + lines;
      this.accepted -= bytes;
    }
  }

  /** Starts writing what is buffered now, without waiting for `minLength` or the flush timer. */
  kick(): void {
    // Cancelled, not just forgotten: a stale timer would flush again later, after a close too.
    this.cancelTimer();
    this.startWrite();
  }

  private startWrite(): void {
    this.hand();
    // sonic-boom throws from flush() once destroyed (closed, or given up after a fatal error).
    if (!this.gone && !this.unopened && !this.boom.destroyed && this.pending > 0) this.boom.flush();
  }

  private cancelTimer(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Resolves once everything accepted so far is written, or at once when the destination is
   * failing (what could not be written stays buffered and counts in {@link pending}).
   */
  flush(): Promise<void> {
    this.cancelTimer();
    this.hand();
    if (this.gone || this.unopened || this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      // sonic-boom's flush callback also fsyncs regular files: flushed means on disk.
      this.boom.flush(() => resolve());
    });
  }

  /**
   * Opens the file at its path again (after logrotate moved it away): later lines go to the new
   * file, and a writer that was failing tries again. A descriptor destination is just flushed.
   */
  reopen(): void {
    if (this.closing !== null || this.gone) return;
    if (this.unopened) {
      // Start afresh: a new writer on the same path (the old one holds no descriptor).
      this.boom.removeAllListeners();
      this.unopened = false;
      // What sonic-boom held is lost with it; lines still gathered here go to the new one.
      const gathered = this.slabUsed - this.chunkStart;
      this.lostBytes += this.pending - gathered;
      this.written = this.accepted - gathered;
      this.boom = this.open();
    } else if (typeof this.boom.file === 'string') this.boom.reopen();
    else this.kick();
  }

  /**
   * Flushes and releases the destination (a descriptor such as 1 or 2 is left open). Resolves
   * whether or not everything could be written: compare {@link pending} and {@link dropped}.
   * Later calls return the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.flush().then(
      () =>
        new Promise<void>((resolve) => {
          // Destroyed already, or a file that never opened: nothing to release.
          if (this.boom.destroyed || this.boom.fd < 0) return resolve();
          this.boom.once('close', () => resolve());
          // end() waits for the buffer to drain, which a failing destination never does.
          if (this.failing || this.gone) this.boom.destroy();
          else this.boom.end();
        }),
    );
    return this.closing;
  }

  private failed(err: NodeJS.ErrnoException): void {
    this.failedWrites++;
    if (err.code === 'EPIPE') this.gone = true;
    if (this.failing) return;
    this.failingNow = true;
    this.outageStart = { failures: this.failures - 1, dropped: this.droppedAtLastWrite };
    this.emit('error', err);
  }

  private wrote(n: number): void {
    this.written += n;
    if (n === 0) return;
    this.droppedAtLastWrite = this.dropped;
    if (!this.failing) return;
    this.failingNow = false;
    this.emit('recover', { failures: this.failures - this.outageStart.failures, dropped: this.dropped - this.outageStart.dropped });
  }
}
