import type { ConnectionEvent } from './connection-events.js';

/**
 * The delays that measure silence: each is re-armed by a byte checkpoint (`ACTIVITY`), and
 * counts from the last byte the checkpoint saw, not from the checkpoint itself (which may come
 * up to a sampling period later).
 */
export const INACTIVITY_DELAYS: ReadonlySet<string> = new Set(['socketTimeout', 'idleTimeout', 'parityInactivity']);

/**
 * What is left of an inactivity `delay` when `event` armed it: the whole delay, or, for a
 * checkpoint that saw the connection already silent for `idleMs`, the rest of it.
 */
export function sinceLastByte(delay: number, event: ConnectionEvent | { type: string }): number {
  if (event.type !== 'ACTIVITY') return delay;
  const idle = (event as { idleMs?: number }).idleMs;
  return idle === undefined || !(idle > 0) ? delay : Math.max(0, delay - idle);
}
