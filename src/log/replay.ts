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
  /** How it ended: present once done, unless {@link incomplete} (then it would be a guess). */
  output?: ConnectionOutput;
  /**
   * Records of this connection were lost (a `gap` record, or a hole in its `seq`): `value`,
   * `context` and `done` are what the records kept led to, and `output` is left out.
   */
  incomplete: boolean;
  /** Records known lost (0 when complete, or when a gap record did not say how many). */
  lost: number;
  /** Present when `replay(…, { timeline: true })`. */
  timeline?: TimelineStep[];
}

/** What {@link replay} returns. */
export interface ReplayResult {
  connections: Map<string, ReplayedConnection>;
  /**
   * Connections whose `open` record is missing (dropped from a bounded ring), skipped. (A
   * connection replayed with records missing later on is in `connections`, `incomplete: true`.)
   */
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
  /** `lost`: by gap records that came after the disposed one (the Replayer had let it go). */
  const replayed = new Map<string, { state: ReplayState; out: ReplayedConnection; lost: number; gapAfterClose: boolean }>();
  const incomplete = new Set<string>();
  for (const record of records) {
    if (record.kind === 'refused') continue;
    const change = replayer.apply(record);
    if (change === undefined) {
      // A gap written after its connection's disposed record belongs to the connection replayed.
      const disposed = record.kind === 'gap' ? replayed.get(record.conn) : undefined;
      if (record.kind === 'gap' && disposed !== undefined) {
        disposed.lost += record.lost;
        disposed.gapAfterClose = true;
        disposed.out.timeline?.push({ t: record.t, event: describeGap(record), client: 'closed', server: 'closed' });
      } else incomplete.add(record.conn);
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
        incomplete: false,
        lost: 0,
        timeline: options.timeline ? [] : undefined,
      };
      replayed.set(state.id, { state, out, lost: 0, gapAfterClose: false });
      incomplete.delete(state.id);
    } else if (change.kind === 'disposed') replayed.get(state.id)!.out.disposedAt = record.t;
    else {
      replayed.get(state.id)!.out.timeline?.push({
        t: record.t,
        event: change.kind === 'gap' ? describeGap(change.record) : describeEvent(change.event),
        client: regionName(state.value, 'client'),
        server: regionName(state.value, 'server'),
      });
    }
  }
  const connections = new Map<string, ReplayedConnection>();
  for (const [id, { state, out, lost, gapAfterClose }] of replayed) {
    const { context } = state;
    out.value = state.value;
    out.context = context;
    out.done = state.done;
    out.incomplete = state.incomplete || gapAfterClose;
    out.lost = state.lost + lost;
    out.output = state.done && !out.incomplete ? { reasons: context.reasons, ending: context.ending, errors: context.errors, bytes: context.bytes } : undefined;
    connections.set(id, out);
  }
  return { connections, incomplete: [...incomplete] };
}

/** The label of a gap record in a timeline: `3 records lost (spool_overflow)`. */
export function describeGap(record: { lost: number; reason: string }): string {
  return `${lostRecords(record.lost)} (${record.reason})`;
}

/** `1 record lost`, `3 records lost`; `records lost` when how many is not known (0). */
export function lostRecords(lost: number): string {
  return lost === 0 ? 'records lost' : `${lost} record${lost === 1 ? '' : 's'} lost`;
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
