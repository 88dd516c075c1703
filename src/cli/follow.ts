import { initialTransition, transition } from 'xstate';
import {
  connectionMachine,
  describeEvent,
  regionName,
  type CloseReason,
  type ConnectionInputEvent,
  type ConnectionSettings,
  type LogRecord,
  type RuntimeEvent,
  type SidePair,
} from '../index.js';
import { TerminationTracker, type Facts, type Regions } from './termination.js';

type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];

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
  /** The two-letter termination code (see {@link TerminationTracker}). */
  term: string;
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
  term: string;
}

interface Tracked {
  snapshot: Snapshot;
  openedAt: number;
  client?: string;
  term: TerminationTracker;
  socketTimeouts: number;
}

function factsOf(snapshot: Snapshot): Facts {
  return {
    regions: { client: regionName(snapshot.value, 'client'), server: regionName(snapshot.value, 'server') },
    reasons: snapshot.context.reasons,
    errors: snapshot.context.errors,
  };
}

/**
 * Follows event-log records as they come (live from `supervisor.events$`, or read from a
 * file) and turns them into a per-connection story: each event with the states of both sides
 * before and after it, and on disposal the close reasons and the termination code. It runs
 * the same machine the connection ran, so what it reports is what the live connection did.
 */
export class Follower {
  private readonly live = new Map<number, Tracked>();
  /** Connections whose `open` record was never seen (dropped from a bounded log). */
  readonly incomplete = new Set<number>();

  observe(record: LogRecord): FollowItem | undefined {
    if (record.kind === 'open') {
      const [snapshot] = initialTransition(connectionMachine, record.settings);
      this.live.set(record.conn, { snapshot, openedAt: record.t, client: record.client, term: new TerminationTracker(), socketTimeouts: 0 });
      return { kind: 'open', conn: record.conn, t: record.t, client: record.client, settings: record.settings, regions: factsOf(snapshot).regions };
    }
    const tracked = this.live.get(record.conn);
    if (tracked === undefined) {
      this.incomplete.add(record.conn);
      return undefined;
    }
    if (record.kind === 'disposed') {
      this.live.delete(record.conn);
      return {
        kind: 'closed',
        conn: record.conn,
        t: record.t,
        client: tracked.client,
        term: tracked.term.code,
        reasons: record.reasons,
        errors: tracked.snapshot.context.errors,
        bytes: record.bytes,
        durationMs: record.durationMs,
        socketTimeouts: tracked.socketTimeouts,
      };
    }
    const before = factsOf(tracked.snapshot);
    const [next] = transition(connectionMachine, tracked.snapshot, record.event as ConnectionInputEvent);
    tracked.snapshot = next;
    const after = factsOf(next);
    tracked.term.observe({ event: record.event, before, after });
    if (record.event.type.startsWith('xstate.after.socketTimeout.')) tracked.socketTimeouts++;
    return {
      kind: 'step',
      conn: record.conn,
      t: record.t,
      sinceOpen: record.t - tracked.openedAt,
      event: record.event,
      label: describeEvent(record.event),
      before: before.regions,
      after: after.regions,
    };
  }

  /** Connections opened and not disposed. */
  pending(): PendingConnection[] {
    return [...this.live].map(([conn, t]) => ({
      conn,
      openedAt: t.openedAt,
      client: t.client,
      regions: factsOf(t.snapshot).regions,
      term: t.term.code,
    }));
  }
}
