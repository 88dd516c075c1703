import { initialTransition, transition } from 'xstate';
import { connectionMachine, type ConnectionContext, type ConnectionOutput } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent } from '../../machines/connection-events.js';
import type { LogRecord } from './log-record.js';

/** One step of a replayed connection: the event and the states it led to. */
export interface TimelineStep {
  t: number;
  event: string;
  client: string;
  server: string;
}

/** A connection rebuilt from its log records. */
export interface ReplayedConnection {
  id: number;
  client?: string;
  openedAt: number;
  disposedAt?: number;
  value: unknown;
  context: ConnectionContext;
  done: boolean;
  output?: ConnectionOutput;
  /** Present when `replay(…, { timeline: true })`. */
  timeline?: TimelineStep[];
}

/** What {@link replay} returns. */
export interface ReplayResult {
  connections: Map<number, ReplayedConnection>;
  /** Connections whose `open` record is missing (dropped from a bounded ring), skipped. */
  incomplete: number[];
}

type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];

/** `open`, `draining.flushing`, … for one side's region of a state value. */
export function regionName(value: unknown, region: 'client' | 'server'): string {
  const v = (value as Record<string, unknown>)[region];
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    const [k, inner] = Object.entries(v)[0]!;
    return `${k}.${typeof inner === 'string' ? inner : JSON.stringify(inner)}`;
  }
  return String(v);
}

/**
 * Rebuilds every connection's state, context and close reasons from the event log, with
 * no timers: timer events are in the log like any other event.
 */
export function replay(records: Iterable<LogRecord>, options: { timeline?: boolean } = {}): ReplayResult {
  const snapshots = new Map<number, { snapshot: Snapshot; out: ReplayedConnection }>();
  const incomplete = new Set<number>();
  for (const record of records) {
    if (record.kind === 'open') {
      const [snapshot] = initialTransition(connectionMachine, record.settings);
      const out: ReplayedConnection = {
        id: record.conn,
        client: record.client,
        openedAt: record.t,
        value: snapshot.value,
        context: snapshot.context,
        done: false,
        timeline: options.timeline ? [] : undefined,
      };
      snapshots.set(record.conn, { snapshot, out });
      incomplete.delete(record.conn);
      continue;
    }
    const entry = snapshots.get(record.conn);
    if (entry === undefined) {
      incomplete.add(record.conn);
      continue;
    }
    if (record.kind === 'disposed') {
      entry.out.disposedAt = record.t;
      continue;
    }
    const [next] = transition(connectionMachine, entry.snapshot, record.event as ConnectionInputEvent);
    entry.snapshot = next;
    entry.out.timeline?.push({
      t: record.t,
      event: describeEvent(record.event),
      client: regionName(next.value, 'client'),
      server: regionName(next.value, 'server'),
    });
  }
  const connections = new Map<number, ReplayedConnection>();
  for (const [id, { snapshot, out }] of snapshots) {
    out.value = snapshot.value;
    out.context = snapshot.context;
    out.done = snapshot.status === 'done';
    out.output = snapshot.output;
    connections.set(id, out);
  }
  return { connections, incomplete: [...incomplete] };
}

/** A short human label: `END client`, `timer gracePeriod (server)`, `ACTIVITY 10/20`. */
export function describeEvent(runtimeEvent: { type: string }): string {
  const event = runtimeEvent as { type: string; side?: string; code?: string; clientToServer?: number; serverToClient?: number };
  if (event.type.startsWith('xstate.after.')) {
    const [, , delay, ...path] = event.type.split('.');
    return `timer ${delay} (${path.slice(1).join('.')})`;
  }
  if (event.type === 'ACTIVITY') return `ACTIVITY ${String(event.clientToServer)}/${String(event.serverToClient)}`;
  if (event.type === 'ERROR') return `ERROR ${String(event.side)} ${event.code ?? ''}`.trim();
  return event.side !== undefined ? `${event.type} ${event.side}` : event.type;
}
