import { lostRecords } from '../log/replay.js';
import type { ClosedItem, GapItem, OpenItem, PendingConnection, StepItem } from './follow.js';

const pad = (text: string, width: number) => (text.length >= width ? text + ' ' : text.padEnd(width));

/** Milliseconds as `+12 ms`, right-aligned. */
export function formatSince(ms: number): string {
  return `+${Math.round(ms)} ms`.padStart(10);
}

/** The header of a timeline table. */
export const TIMELINE_HEADER = `${'time'.padStart(10)}  ${pad('event', 48)}${pad('client', 20)}server`;

/** One timeline row: time since open, event, then each side's state after it. */
export function formatStep(step: StepItem): string {
  return `${formatSince(step.sinceOpen)}  ${pad(step.label, 48)}${pad(step.after.client, 20)}${step.after.server}`;
}

/** The row of a `gap` record: records lost here, states unknown until the next record. */
export function formatGap(gap: GapItem): string {
  const since = gap.sinceOpen === undefined ? ''.padStart(10) : formatSince(gap.sinceOpen);
  return `${since}  ${pad(`${lostRecords(gap.lost)} (${gap.reason})`, 48)}${pad('?', 20)}?`;
}

/**
 * The closing line of a connection whose records are not all in the log: said instead of a
 * close reason replay would have to guess. `closed`: its close record, when the log kept it
 * (its code and duration are recorded, not replayed).
 */
export function formatIncomplete(conn: string, lost: number, closed?: ClosedItem): string {
  const recorded = closed === undefined ? '' : `; its close record says term ${closed.term} after ${Math.round(closed.durationMs)} ms`;
  return `  connection ${conn}: incomplete, ${lostRecords(lost)}${recorded}`;
}

/** The row for the `open` record: the states a connection starts in. */
export function formatOpen(open: OpenItem): string {
  return `${formatSince(0)}  ${pad('open', 48)}${pad(open.regions.client, 20)}${open.regions.server}`;
}

/** `term CO, client fin, server peer_fin, c2s 5 B, s2c 5 B` (and errors when there were any). */
export function formatOutcome(closed: ClosedItem): string {
  const parts = [
    `term ${closed.term}`,
    `client ${closed.reasons.client ?? '-'}`,
    `server ${closed.reasons.server ?? '-'}`,
    `c2s ${closed.bytes.clientToServer} B`,
    `s2c ${closed.bytes.serverToClient} B`,
  ];
  if (closed.errors.client !== null) parts.push(`client error ${closed.errors.client}`);
  if (closed.errors.server !== null) parts.push(`server error ${closed.errors.server}`);
  return parts.join(', ');
}

/** The closing line of a connection's timeline. */
export function formatClosed(closed: ClosedItem): string {
  return `  closed after ${Math.round(closed.durationMs)} ms: ${formatOutcome(closed)}`;
}

/** The closing line of a connection the log leaves open. */
export function formatPending(pending: PendingConnection): string {
  return `  still open at the end of the log: client ${pending.regions.client}, server ${pending.regions.server}, term so far ${pending.term}`;
}
