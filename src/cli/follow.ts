import {
  closeCode,
  describeEvent,
  regionName,
  type CloseReason,
  type ConnectionSettings,
  type Ending,
  type LogRecord,
  type RuntimeEvent,
  type SidePair,
} from '../index.js';
import { Replayer } from '../log/replayer.js';

/** The region names of a connection's two sides, e.g. `open`, `draining.readEnded`. */
export interface Regions {
  client: string;
  server: string;
}

/** A connection was opened. */
export interface OpenItem {
  kind: 'open';
  conn: string;
  t: number;
  client?: string;
  settings: ConnectionSettings;
  regions: Regions;
}

/** A connection processed one event. */
export interface StepItem {
  kind: 'step';
  conn: string;
  t: number;
  /** Milliseconds since the connection opened. */
  sinceOpen: number;
  event: RuntimeEvent;
  /** A short label: `END client`, `timer socketTimeout (watch.timeout.armed)`. */
  label: string;
  before: Regions;
  after: Regions;
}

/** A connection was disposed. */
export interface ClosedItem {
  kind: 'closed';
  conn: string;
  t: number;
  client?: string;
  /** The engine's two-letter termination code (`closeCode`), e.g. `CO`, `sH`. */
  term: string;
  ending: Ending | null;
  reasons: SidePair<CloseReason | null>;
  errors: SidePair<string | null>;
  bytes: { clientToServer: number; serverToClient: number };
  durationMs: number;
  /** How many socket timeouts fired (and were survived, unless they closed it). */
  socketTimeouts: number;
  /** Records of it were lost before its close (a gap record, a hole in `seq`): `reasons` and `term` are its close record's, the rest a guess. */
  incomplete: boolean;
  /** Records known lost so far. */
  lost: number;
}

/** A `gap` record: records of a connection were lost here. */
export interface GapItem {
  kind: 'gap';
  conn: string;
  t: number;
  lost: number;
  reason: string;
  /** Whether the connection was open here; false for a gap after its close (or with no open seen), which the follower does not track. */
  live: boolean;
  /** Milliseconds since the connection opened, when it was open here. */
  sinceOpen?: number;
}

export type FollowItem = OpenItem | StepItem | ClosedItem | GapItem;

/** A connection that was not disposed (yet), as the follower sees it. */
export interface PendingConnection {
  conn: string;
  openedAt: number;
  client?: string;
  regions: Regions;
  /** The termination code so far (`--` while nothing decisive happened). */
  term: string;
  /** Records of it were lost (see {@link ClosedItem.incomplete}). */
  incomplete: boolean;
  lost: number;
}

function regions(value: unknown): Regions {
  return { client: regionName(value, 'client'), server: regionName(value, 'server') };
}

/**
 * Follows event-log records as they come (live from `supervisor.events$`, or read from a
 * file) and turns them into a per-connection story: each event with both sides' states
 * before and after it, and on disposal the close reasons and termination code. It is the
 * engine's own incremental {@link Replayer}, as `replay()` is, so it reports what the
 * connection did.
 */
export class Follower {
  private readonly replayer = new Replayer();
  /** Socket timeouts fired so far, per connection not yet disposed. */
  private readonly socketTimeouts = new Map<string, number>();
  /** Connections whose `open` record was never seen (dropped from a bounded log). */
  readonly incomplete = new Set<string>();

  observe(record: LogRecord): FollowItem | undefined {
    if (record.kind === 'refused') return undefined;
    const change = this.replayer.apply(record);
    if (change === undefined) {
      // Disposed connections are not kept (a live follower runs for weeks): the caller decides.
      if (record.kind === 'gap') return { kind: 'gap', conn: record.conn, t: record.t, lost: record.lost, reason: record.reason, live: false };
      this.incomplete.add(record.conn);
      return undefined;
    }
    const { connection } = change;
    switch (change.kind) {
      case 'open':
        this.socketTimeouts.set(connection.id, 0);
        return { kind: 'open', conn: connection.id, t: record.t, client: connection.client, settings: connection.settings, regions: regions(connection.value) };
      case 'disposed': {
        const socketTimeouts = this.socketTimeouts.get(connection.id) ?? 0;
        this.socketTimeouts.delete(connection.id);
        const { context } = connection;
        const { record: disposed } = change;
        return {
          kind: 'closed',
          conn: connection.id,
          t: disposed.t,
          client: connection.client,
          term: disposed.code ?? closeCode(context.ending),
          ending: context.ending,
          reasons: disposed.reasons,
          errors: context.errors,
          bytes: disposed.bytes,
          durationMs: disposed.durationMs,
          socketTimeouts,
          incomplete: connection.incomplete,
          lost: connection.lost,
        };
      }
      case 'gap':
        return { kind: 'gap', conn: connection.id, t: record.t, lost: change.record.lost, reason: change.record.reason, live: true, sinceOpen: record.t - connection.openedAt };
      case 'event':
        if (change.event.type.startsWith('xstate.after.socketTimeout.')) {
          this.socketTimeouts.set(connection.id, (this.socketTimeouts.get(connection.id) ?? 0) + 1);
        }
        return {
          kind: 'step',
          conn: connection.id,
          t: record.t,
          sinceOpen: record.t - connection.openedAt,
          event: change.event,
          label: describeEvent(change.event),
          before: regions(change.before),
          after: regions(connection.value),
        };
    }
  }

  /** Connections opened and not disposed. */
  pending(): PendingConnection[] {
    return [...this.replayer.pending()].map((c) => ({
      conn: c.id,
      openedAt: c.openedAt,
      client: c.client,
      regions: regions(c.value),
      term: closeCode(c.context.ending),
      incomplete: c.incomplete,
      lost: c.lost,
    }));
  }
}
