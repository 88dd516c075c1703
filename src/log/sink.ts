import type { LogRecord } from './log-record.js';

/**
 * Where log records go besides the in-memory ring: a file ({@link JsonlSink}), a pipe, a
 * remote store, a test.
 *
 * The contract, which the event log relies on: {@link write} is called on the hot path, once
 * per lifecycle event, so it never throws and never blocks. A sink that cannot keep up or whose
 * destination fails buffers within a bound, then drops and counts ({@link dropped}); it reports
 * a failure once per outage (for example through an `error` event), not once per record, and
 * resumes by itself or on {@link reopen}.
 */
export interface LogSink {
  /** Takes one record. Must not throw or block. */
  write(record: LogRecord): void;
  /** Resolves once every record taken so far is written (or cannot be, for now). */
  flush?(): Promise<void>;
  /** Opens the destination again (log rotation: SIGHUP); a failing sink tries again. */
  reopen?(): void;
  /** Flushes and releases; rejects when records were lost. */
  close(): Promise<void>;
  /** Records taken but not written (dropped, or lost at close), if the sink counts them. */
  readonly dropped?: number;
}
