import type { ConnectionContext, ConnectionOutput } from '../../machines/connection-machine.js';
import { tableFor, type TableNode } from '../runtime/transition-table.js';
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

interface Replaying {
  node: TableNode;
  bytes: { clientToServer: number; serverToClient: number };
  out: ReplayedConnection;
}

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
 * no timers: timer events are in the log like any other event. Steps go through the same
 * transition table the live runtime uses, derived from the XState machine.
 */
export function replay(records: Iterable<LogRecord>, options: { timeline?: boolean } = {}): ReplayResult {
  const live = new Map<number, Replaying>();
  const incomplete = new Set<number>();
  for (const record of records) {
    if (record.kind === 'open') {
      const node = tableFor(record.settings).initial.next;
      const out: ReplayedConnection = {
        id: record.conn,
        client: record.client,
        openedAt: record.t,
        value: node.snapshot.value,
        context: node.snapshot.context,
        done: false,
        timeline: options.timeline ? [] : undefined,
      };
      live.set(record.conn, { node, bytes: { clientToServer: 0, serverToClient: 0 }, out });
      incomplete.delete(record.conn);
      continue;
    }
    const entry = live.get(record.conn);
    if (entry === undefined) {
      incomplete.add(record.conn);
      continue;
    }
    if (record.kind === 'disposed') {
      entry.out.disposedAt = record.t;
      continue;
    }
    const event = record.event;
    entry.node = tableFor(entry.node.snapshot.context.settings).step(entry.node, event).next;
    if (event.type === 'ACTIVITY') entry.bytes = { clientToServer: event.clientToServer, serverToClient: event.serverToClient };
    entry.out.timeline?.push({
      t: record.t,
      event: describeEvent(event),
      client: regionName(entry.node.snapshot.value, 'client'),
      server: regionName(entry.node.snapshot.value, 'server'),
    });
  }
  const connections = new Map<number, ReplayedConnection>();
  for (const [id, { node, bytes, out }] of live) {
    const context = { ...node.snapshot.context, bytes };
    out.value = node.snapshot.value;
    out.context = context;
    out.done = node.done;
    out.output = node.done ? { reasons: context.reasons, ending: context.ending, errors: context.errors, bytes } : undefined;
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
