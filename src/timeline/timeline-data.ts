/**
 * The data of a timeline page: each connection's lane states over time, events, bytes and
 * outcome, replayed from log records and packed as compact JSON (a string table and flat
 * number arrays), so that 10 000 connections embed in a page that opens at once.
 */
import { closeCode } from '../../machines/close-reasons.js';
import type { DisposedRecord, LogRecord } from '../log/log-record.js';
import { regionName, replay } from '../log/replay.js';
import { tableFor } from '../runtime/transition-table.js';

/** The lane states a timeline colours, in palette order. */
export const LANE_STATES = ['connecting', 'open', 'readEnded', 'writeEnded', 'flushing', 'closed'] as const;
export type LaneState = (typeof LANE_STATES)[number];

/**
 * One connection, as an array: `[id, open, end, c2s, s2c, code, clientReason, serverReason,
 * address, clientLane, serverLane, events, lost]`. Times are ms from the page's `t0` (`open`) or
 * from the connection's open (lanes, events); `end` is -1 while the log leaves it open.
 * `code`, reasons and `address` index the string table (-1: none). A lane is
 * `[dt, state, dt, state, …]` with `state` an index into {@link LANE_STATES}; events are
 * `[dt, label, …]` with `label` an index into the string table. `lost` is -1 for a complete
 * connection, else the records known lost (a gap record or a hole in `seq`; 0: how many unknown).
 */
export type TimelineRow = [
  id: string,
  open: number,
  end: number,
  c2s: number,
  s2c: number,
  code: number,
  clientReason: number,
  serverReason: number,
  address: number,
  clientLane: number[],
  serverLane: number[],
  events: number[],
  lost: number,
];

/** Everything the page draws. */
export interface TimelineData {
  title: string;
  /** The log's first open, on the log's clock (ms; wall-clock epoch for a live proxy's log). */
  t0: number;
  /** From `t0` to the last record, ms. */
  span: number;
  states: readonly string[];
  strings: string[];
  rows: TimelineRow[];
  /** Connections whose `open` record the log lost (a bounded ring), not drawn. */
  incomplete: number;
}

function laneState(region: string): number {
  const leaf = region.slice(region.lastIndexOf('.') + 1);
  const index = LANE_STATES.indexOf(leaf as LaneState);
  return index < 0 ? LANE_STATES.indexOf('open') : index;
}

class StringTable {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  id(text: string | null | undefined): number {
    if (text === null || text === undefined) return -1;
    let i = this.index.get(text);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(text);
      this.index.set(text, i);
    }
    return i;
  }
}

/**
 * A log appended by several runs reuses connection ids; replay keys by id, so each later
 * `open` of an id gets a key of its own here (the page still shows the original id).
 */
function separateRuns(records: readonly LogRecord[]): { records: readonly LogRecord[]; shownId: (key: string) => string } {
  const opened = new Set<string>();
  let reused = false;
  for (const r of records) {
    if (r.kind !== 'open') continue;
    if (opened.has(r.conn)) {
      reused = true;
      break;
    }
    opened.add(r.conn);
  }
  if (!reused) return { records, shownId: (key) => key };
  const current = new Map<string, string>();
  const original = new Map<string, string>();
  let run = 0;
  const out = records.map((r): LogRecord => {
    if (r.kind === 'refused') return r;
    if (r.kind === 'open') {
      // '#' is in no connection id (the parser checks them), so no key is a real id.
      const key = `${r.conn}#${++run}`;
      current.set(r.conn, key);
      original.set(key, r.conn);
    }
    const key = current.get(r.conn);
    return key === undefined ? r : { ...r, conn: key };
  });
  return { records: out, shownId: (key) => original.get(key) ?? key };
}

/** Replays `records` and packs what a timeline page needs. */
export function timelineData(input: readonly LogRecord[], options: { title?: string } = {}): TimelineData {
  const { records, shownId } = separateRuns(input);
  const { connections, incomplete } = replay(records, { timeline: true });
  const disposed = new Map<string, DisposedRecord>();
  const settingsOf = new Map<string, LogRecord & { kind: 'open' }>();
  let last = -Infinity;
  for (const record of records) {
    if (record.t > last) last = record.t;
    if (record.kind === 'disposed') disposed.set(record.conn, record);
    else if (record.kind === 'open') settingsOf.set(record.conn, record);
  }
  // In order of opening; ties (and separate runs) keep the log's order.
  const ordered = [...connections.values()].sort((a, b) => a.openedAt - b.openedAt);
  const t0 = ordered.length > 0 ? ordered[0]!.openedAt : 0;
  const strings = new StringTable();
  const rows: TimelineRow[] = [];
  for (const conn of ordered) {
    const initial = tableFor(settingsOf.get(conn.id)!.settings).initial.next.snapshot.value;
    const clientLane = [0, laneState(regionName(initial, 'client'))];
    const serverLane = [0, laneState(regionName(initial, 'server'))];
    const events: number[] = [];
    for (const step of conn.timeline ?? []) {
      const dt = step.t - conn.openedAt;
      events.push(dt, strings.id(step.event));
      const c = laneState(step.client);
      const s = laneState(step.server);
      if (clientLane[clientLane.length - 1] !== c) clientLane.push(dt, c);
      if (serverLane[serverLane.length - 1] !== s) serverLane.push(dt, s);
    }
    const end = disposed.get(conn.id);
    const bytes = end?.bytes ?? conn.context.bytes;
    const code = end?.code ?? closeCode(conn.context.ending);
    rows.push([
      shownId(conn.id),
      conn.openedAt - t0,
      conn.disposedAt === undefined ? -1 : conn.disposedAt - t0,
      bytes.clientToServer,
      bytes.serverToClient,
      strings.id(code),
      strings.id(conn.context.reasons.client),
      strings.id(conn.context.reasons.server),
      strings.id(conn.client),
      clientLane,
      serverLane,
      events,
      conn.incomplete ? conn.lost : -1,
    ]);
  }
  return {
    title: options.title ?? 'proxy-lifecycle timeline',
    t0,
    span: rows.length === 0 ? 0 : Math.max(0, last - t0),
    states: LANE_STATES,
    strings: strings.strings,
    rows,
    incomplete: incomplete.length,
  };
}
