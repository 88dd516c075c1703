import type { CloseReason, RefusalReason } from '../../machines/close-reasons.js';
import type { SidePair } from '../../machines/connection-machine.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { RuntimeEvent } from '../runtime/machine-runtime.js';

/** A connection was created with these settings. Replay starts each connection here. */
export interface OpenRecord {
  t: number;
  conn: string;
  kind: 'open';
  /**
   * This record's place among its connection's records: 0 for `open`, one more for each later
   * record, so a lost record shows as a hole. Absent in logs written before it existed.
   */
  seq?: number;
  settings: ConnectionSettings;
  /** The client's address as `host:port`, when known. */
  client?: string;
}

/** One event the connection's machine processed (timer events included). */
export interface EventRecord {
  t: number;
  conn: string;
  kind: 'event';
  /** See {@link OpenRecord.seq}. */
  seq?: number;
  event: RuntimeEvent;
}

/** Both regions were final and the connection was disposed. */
export interface DisposedRecord {
  t: number;
  conn: string;
  kind: 'disposed';
  /** See {@link OpenRecord.seq}. */
  seq?: number;
  reasons: SidePair<CloseReason | null>;
  /** The termination code, e.g. `CO` (see `closeCode`). */
  code?: string;
  bytes: { clientToServer: number; serverToClient: number };
  durationMs: number;
}

/**
 * A client refused at the door (a limit, the admission hook, a bad PROXY header): no
 * connection existed, so the record has no `conn` and no `seq`, and replay has nothing to step.
 */
export interface RefusedRecord {
  t: number;
  kind: 'refused';
  /** Never set: so that `record.conn === id` reads every record kind. */
  conn?: never;
  /** The client's `host:port`, when known. */
  client?: string;
  reason: RefusalReason;
  /** What refused it (see `Refusal.limit`). */
  limit: string;
  /** The PROXY header's error code, when that was the cause. */
  error?: string;
  code: string;
}

/**
 * Records of this connection were lost here: written by a sink, not by the connection, when it
 * had to drop some (a remote sink whose bounded spool overflowed during an outage). Replay
 * then calls the connection incomplete instead of guessing how it ended, as it does when the
 * `seq` of its records skip.
 */
export interface GapRecord {
  t: number;
  conn: string;
  kind: 'gap';
  /** The `seq` of the first record lost, when known: the next record kept has `seq + lost`. */
  seq?: number;
  /** How many of this connection's records were lost; 0 when the writer does not know. */
  lost: number;
  /** Why, e.g. `spool_overflow`. */
  reason: string;
}

/** One record of a connection's lifecycle, as the connection appends it. */
export type ConnectionRecord = OpenRecord | EventRecord | DisposedRecord;

/** One line of the event log. */
export type LogRecord = ConnectionRecord | GapRecord | RefusedRecord;
