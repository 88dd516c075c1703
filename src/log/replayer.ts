import type { ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { RuntimeEvent } from '../runtime/machine-runtime.js';
import { tableFor, type TableNode } from '../runtime/transition-table.js';
import type { DisposedRecord, GapRecord, LogRecord } from './log-record.js';

/** Where one connection's machine stands after the records replayed so far. */
export interface ReplayState {
  readonly id: string;
  /** The client's address from the `open` record, when it was read. */
  readonly client: string | undefined;
  readonly openedAt: number;
  readonly settings: ConnectionSettings;
  /** The XState state value. */
  readonly value: unknown;
  /** The machine's context, with the bytes of the last `ACTIVITY` checkpoint. */
  readonly context: ConnectionContext;
  /** Both regions are final. */
  readonly done: boolean;
  readonly bytes: { clientToServer: number; serverToClient: number };
  /**
   * Records of this connection are missing: a `gap` record said so, or the `seq` of its
   * records skipped. Its state and reasons are then what the records kept led to, not
   * necessarily what the connection did.
   */
  readonly incomplete: boolean;
  /** How many records are known lost (gap records' `lost` plus the holes in `seq`). */
  readonly lost: number;
}

/** What one record did, as {@link Replayer.apply} reports it. */
export type ReplayChange =
  | { kind: 'open'; connection: ReplayState }
  /** `before` is the state value the event was applied to. */
  | { kind: 'event'; connection: ReplayState; event: RuntimeEvent; before: unknown }
  | { kind: 'disposed'; connection: ReplayState; record: DisposedRecord }
  /** A `gap` record: some of the connection's records were lost (`connection.lost` counts them). */
  | { kind: 'gap'; connection: ReplayState; record: GapRecord };

class Replaying implements ReplayState {
  bytes = { clientToServer: 0, serverToClient: 0 };
  incomplete = false;
  lost = 0;
  /** The `seq` the next record should have; undefined while the records carry none (older logs). */
  nextSeq: number | undefined = undefined;

  constructor(
    readonly id: string,
    readonly client: string | undefined,
    readonly openedAt: number,
    readonly settings: ConnectionSettings,
    public node: TableNode,
  ) {}

  get value(): unknown {
    return this.node.snapshot.value;
  }
  get context(): ConnectionContext {
    return { ...this.node.snapshot.context, bytes: this.bytes };
  }
  get done(): boolean {
    return this.node.done;
  }

  /** A record numbered `seq` arrived: records skipped before it are lost. */
  sequenced(seq: number | undefined): void {
    if (seq === undefined) return;
    if (this.nextSeq !== undefined && seq > this.nextSeq) this.missing(seq - this.nextSeq);
    this.nextSeq = Math.max(this.nextSeq ?? 0, seq + 1);
  }

  /** A gap record: its lost records, and a hole before them if it names where they start. */
  gap(record: GapRecord): void {
    this.missing(record.lost);
    if (record.seq === undefined) return;
    if (this.nextSeq !== undefined && record.seq > this.nextSeq) this.missing(record.seq - this.nextSeq);
    this.nextSeq = Math.max(this.nextSeq ?? 0, record.seq + record.lost);
  }

  private missing(lost: number): void {
    this.incomplete = true;
    this.lost += lost;
  }
}

/**
 * The one replay of the event log, fed record by record: `replay()` runs it over a whole
 * log, the CLI over a live stream or a file as it is read. With no timers: timer events are
 * in the log like any other event. Steps go through the transition table the live runtime
 * uses, derived from the XState machine, so it reports what the connection did.
 */
export class Replayer {
  private readonly live = new Map<string, Replaying>();

  /**
   * Applies one record. `undefined` for a `refused` record (no connection), and when its
   * connection is not open here: its `open` record was never seen (dropped from a bounded
   * log), or it was disposed already (a `gap` written after the records it follows: the
   * caller attaches it to the connection it replayed). A record whose `seq` skips marks the
   * connection incomplete, and is applied.
   */
  apply(record: LogRecord): ReplayChange | undefined {
    // A refused client never had a connection: nothing to step (the caller reads the record).
    if (record.kind === 'refused') return undefined;
    if (record.kind === 'open') {
      // An id opened again (a file appended by several runs) starts afresh.
      const connection = new Replaying(record.conn, record.client, record.t, record.settings, tableFor(record.settings).initial.next);
      connection.sequenced(record.seq);
      this.live.set(record.conn, connection);
      return { kind: 'open', connection };
    }
    const connection = this.live.get(record.conn);
    if (connection === undefined) return undefined;
    if (record.kind === 'gap') {
      connection.gap(record);
      return { kind: 'gap', connection, record };
    }
    connection.sequenced(record.seq);
    if (record.kind === 'disposed') {
      this.live.delete(record.conn);
      return { kind: 'disposed', connection, record };
    }
    const { event } = record;
    const before = connection.node.snapshot.value;
    connection.node = tableFor(connection.settings).step(connection.node, event).next;
    if (event.type === 'ACTIVITY') connection.bytes = { clientToServer: event.clientToServer, serverToClient: event.serverToClient };
    return { kind: 'event', connection, event, before };
  }

  /** Connections opened and not disposed, in the order they opened. */
  pending(): IterableIterator<ReplayState> {
    return this.live.values();
  }
}
