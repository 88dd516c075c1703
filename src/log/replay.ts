import type { ConnectionContext, ConnectionOutput } from '../../machines/connection-machine.js';
import type { LogRecord } from './log-record.js';
import { Replayer, type ReplayState } from './replayer.js';

/** One step of a replayed connection: the event and the states it led to. */
export interface TimelineStep {
  t: number;
  event: string;
  client: string;
  server: string;
}

/** A connection rebuilt from its log records. */
export interface ReplayedConnection {
  id: string;
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
  connections: Map<string, ReplayedConnection>;
  /** Connections whose `open` record is missing (dropped from a bounded ring), skipped. */
  incomplete: string[];
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
 * no timers: timer events are in the log like any other event. Runs the {@link Replayer}
 * over the whole log.
 */
export function replay(records: Iterable<LogRecord>, options: { timeline?: boolean } = {}): ReplayResult {
  const replayer = new Replayer();
  const replayed = new Map<string, { state: ReplayState; out: ReplayedConnection }>();
  const incomplete = new Set<string>();
  for (const record of records) {
    if (record.kind === 'refused') continue;
    const change = replayer.apply(record);
    if (change === undefined) {
      incomplete.add(record.conn);
      continue;
    }
    const state = change.connection;
    if (change.kind === 'open') {
      const out: ReplayedConnection = {
        id: state.id,
        client: state.client,
        openedAt: state.openedAt,
        value: state.value,
        context: state.context,
        done: false,
        timeline: options.timeline ? [] : undefined,
      };
      replayed.set(state.id, { state, out });
      incomplete.delete(state.id);
    } else if (change.kind === 'disposed') replayed.get(state.id)!.out.disposedAt = record.t;
    else {
      replayed.get(state.id)!.out.timeline?.push({
        t: record.t,
        event: describeEvent(change.event),
        client: regionName(state.value, 'client'),
        server: regionName(state.value, 'server'),
      });
    }
  }
  const connections = new Map<string, ReplayedConnection>();
  for (const [id, { state, out }] of replayed) {
    const { context } = state;
    out.value = state.value;
    out.context = context;
    out.done = state.done;
    out.output = state.done ? { reasons: context.reasons, ending: context.ending, errors: context.errors, bytes: context.bytes } : undefined;
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
