import type { CloseReason } from './close-reasons.js';

/** Which socket of a proxied connection: the accepted `client` or the upstream `server`. */
export type Side = 'client' | 'server';

/** The upstream socket finished connecting. */
export interface ConnectedEvent { type: 'CONNECTED' }
/** The peer of `side` sent FIN: nothing more will be read from that socket. */
export interface EndEvent { type: 'END'; side: Side }
/** Our own `end()` of `side` flushed: every pending write went out, then our FIN. */
export interface FinishedEvent { type: 'FINISHED'; side: Side }
/** The socket of `side` closed. */
export interface CloseEvent { type: 'CLOSE'; side: Side }
/** The socket of `side` failed; `code` is the Node error code when there is one. */
export interface ErrorEvent { type: 'ERROR'; side: Side; code?: string }
/** The socket of `side` was idle for its socket timeout. */
export interface TimeoutEvent { type: 'TIMEOUT'; side: Side }
/**
 * A byte checkpoint: cumulative bytes forwarded each way. Sent at most once per
 * sampling period, and only when the counts moved, never per chunk. `idleMs`: how long
 * before the checkpoint the last byte moved, so inactivity timers count from that byte.
 */
export interface ActivityEvent { type: 'ACTIVITY'; clientToServer: number; serverToClient: number; idleMs?: number }
/** Graceful shutdown: end both sides after their pending writes. */
export interface ShutdownEvent { type: 'SHUTDOWN' }
/** Immediate close: destroy both sides. */
export interface AbortEvent { type: 'ABORT' }
/** Raised by the machine itself when a connection-wide timer closes the connection. */
export interface ExpireEvent { type: 'EXPIRE'; reason: CloseReason }

/** Every event the connection machine accepts from outside (timer events aside). */
export type ConnectionInputEvent =
  | ConnectedEvent
  | EndEvent
  | FinishedEvent
  | CloseEvent
  | ErrorEvent
  | TimeoutEvent
  | ActivityEvent
  | ShutdownEvent
  | AbortEvent;

/** Every event the machine handles, including the ones it raises for itself. */
export type ConnectionEvent = ConnectionInputEvent | ExpireEvent;

/** The input event types, for validating logs and driving tests. */
export const INPUT_EVENT_TYPES = [
  'CONNECTED',
  'END',
  'FINISHED',
  'CLOSE',
  'ERROR',
  'TIMEOUT',
  'ACTIVITY',
  'SHUTDOWN',
  'ABORT',
] as const;
