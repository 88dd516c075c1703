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
import { tableFor } from '../runtime/transition-table.js';

/** A node of the engine's transition table (the type is not exported by name). */
type TableNode = ReturnType<typeof tableFor>['initial']['next'];

/** The region names of a connection's two sides, e.g. `open`, `draining.readEnded`. */
export interface Regions {
  client: string;
  server: string;
}

/** A connection was opened. */
export interface OpenItem {
  kind: 'open';
  conn: number;
  t: number;
  client?: string;
  settings: ConnectionSettings;
  regions: Regions;
}

/** A connection processed one event. */
export interface StepItem {
  kind: 'step';
  conn: number;
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
  conn: number;
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
}

export type FollowItem = OpenItem | StepItem | ClosedItem;

/** A connection that was not disposed (yet), as the follower sees it. */
export interface PendingConnection {
  conn: number;
  openedAt: number;
  client?: string;
  regions: Regions;
  /** The termination code so far (`--` while nothing decisive happened). */
  term: string;
}

interface Tracked {
  node: TableNode;
  openedAt: number;
  client?: string;
  socketTimeouts: number;
}

function regions(node: TableNode): Regions {
  return { client: regionName(node.snapshot.value, 'client'), server: regionName(node.snapshot.value, 'server') };
}

/**
 * Follows event-log records as they come (live from `supervisor.events$`, or read from a
 * file) and turns them into a per-connection story: each event with both sides' states
 * before and after it, and on disposal the close reasons and termination code. It steps the
 * engine's own transition table, as `replay()` does, so it reports what the connection did.
 */
export class Follower {
  private readonly live = new Map<number, Tracked>();
  /** Connections whose `open` record was never seen (dropped from a bounded log). */
  readonly incomplete = new Set<number>();

  observe(record: LogRecord): FollowItem | undefined {
    if (record.kind === 'open') {
      const node = tableFor(record.settings).initial.next;
      this.live.set(record.conn, { node, openedAt: record.t, client: record.client, socketTimeouts: 0 });
      return { kind: 'open', conn: record.conn, t: record.t, client: record.client, settings: record.settings, regions: regions(node) };
    }
    const tracked = this.live.get(record.conn);
    if (tracked === undefined) {
      this.incomplete.add(record.conn);
      return undefined;
    }
    if (record.kind === 'disposed') {
      this.live.delete(record.conn);
      const context = tracked.node.snapshot.context;
      return {
        kind: 'closed',
        conn: record.conn,
        t: record.t,
        client: tracked.client,
        term: record.code ?? closeCode(context.ending),
        ending: context.ending,
        reasons: record.reasons,
        errors: context.errors,
        bytes: record.bytes,
        durationMs: record.durationMs,
        socketTimeouts: tracked.socketTimeouts,
      };
    }
    const before = regions(tracked.node);
    tracked.node = tableFor(tracked.node.snapshot.context.settings).step(tracked.node, record.event).next;
    if (record.event.type.startsWith('xstate.after.socketTimeout.')) tracked.socketTimeouts++;
    return {
      kind: 'step',
      conn: record.conn,
      t: record.t,
      sinceOpen: record.t - tracked.openedAt,
      event: record.event,
      label: describeEvent(record.event),
      before,
      after: regions(tracked.node),
    };
  }

  /** Connections opened and not disposed. */
  pending(): PendingConnection[] {
    return [...this.live].map(([conn, t]) => ({
      conn,
      openedAt: t.openedAt,
      client: t.client,
      regions: regions(t.node),
      term: closeCode(t.node.snapshot.context.ending),
    }));
  }
}
