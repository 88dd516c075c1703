import type { Side } from '../../machines/connection-events.js';
import type { Clock } from '../clock.js';
import type { SocketLike } from './socket-like.js';

/*
 * The owner's counters and callbacks are keyed by these symbols, not by names: the owner is the
 * public `Connection`, and what the socket handlers write or call must not be writable or
 * callable by its users. A symbol key costs the hot path nothing over a named field.
 */
export const kClientToServer = Symbol('proxy-lifecycle.clientToServer');
export const kServerToClient = Symbol('proxy-lifecycle.serverToClient');
export const kDiscarded = Symbol('proxy-lifecycle.discarded');
export const kPaused = Symbol('proxy-lifecycle.paused');
export const kClientPauses = Symbol('proxy-lifecycle.clientPauses');
export const kServerPauses = Symbol('proxy-lifecycle.serverPauses');
export const kLastActivity = Symbol('proxy-lifecycle.lastActivity');
export const kServer = Symbol('proxy-lifecycle.server');
export const kSocketEvent = Symbol('proxy-lifecycle.socketEvent');
export const kSocketClosed = Symbol('proxy-lifecycle.socketClosed');

/** The owner a bound socket points back to; implemented by `Connection`. */
export interface SocketOwner {
  /** Bytes read from the client (and forwarded to the server), and the reverse. */
  [kClientToServer]: number;
  [kServerToClient]: number;
  /** Bytes read with nowhere left to forward them (the other side was gone). */
  [kDiscarded]: number;
  /** Bit 1: client paused by backpressure; bit 2: server paused. */
  [kPaused]: number;
  /** Times reading from the client was paused because the server could not keep up. */
  [kClientPauses]: number;
  /** Times reading from the server was paused because the client could not keep up. */
  [kServerPauses]: number;
  /** When the last byte was read from either side, on {@link clock}: inactivity counts from here. */
  [kLastActivity]: number;
  readonly clock: Clock;
  readonly client: SocketLike;
  [kServer]: SocketLike | null;
  [kSocketEvent](side: Side, type: 'END' | 'FINISHED' | 'ERROR' | 'TIMEOUT' | 'CONNECTED', code?: string): void;
  [kSocketClosed](side: Side): void;
}

/** Where a bound socket finds its owner and side: no closure per connection (as in `ws`). */
export const kOwner = Symbol('proxy-lifecycle.owner');
export const kSide = Symbol('proxy-lifecycle.side');

/** A socket the binding has attached to. */
export interface BoundSocket extends SocketLike {
  [kOwner]?: SocketOwner;
  [kSide]?: Side;
}

const PAUSED_BIT: Record<Side, number> = { client: 1, server: 2 };

/** Bytes a connection may read and discard before it stops reading a side with nowhere to forward to. */
export const DISCARD_BUDGET = 64 * 1024;

function peerOf(owner: SocketOwner, side: Side): SocketLike | null {
  return side === 'client' ? owner[kServer] : owner.client;
}

/** The hot path: count, forward, and pause the source when the destination is full. */
function socketOnData(this: BoundSocket, chunk: Buffer): void {
  const owner = this[kOwner]!;
  const side = this[kSide]!;
  if (side === 'client') owner[kClientToServer] += chunk.length;
  else owner[kServerToClient] += chunk.length;
  // A plain field write: timers read it when they fall due, so no timer moves per chunk.
  owner[kLastActivity] = owner.clock.now();
  const dest = peerOf(owner, side);
  if (dest === null || dest.destroyed || dest.writableEnded) {
    // Nowhere to forward, ever again (a destroyed or ended socket stays so). Reading on for a
    // while drains what was in flight and lets a FIN or RST be seen; past the budget, stop, so
    // a peer that keeps sending is held by TCP flow control instead of read at full speed. The
    // machine closes this side once its own writes are out (or at the grace period).
    owner[kDiscarded] += chunk.length;
    if (owner[kDiscarded] > DISCARD_BUDGET) this.pause();
    return;
  }
  if (!dest.write(chunk)) {
    owner[kPaused] |= PAUSED_BIT[side];
    if (side === 'client') owner[kClientPauses]++;
    else owner[kServerPauses]++;
    this.pause();
  }
}

/** The destination drained: resume the source we paused for it. */
function socketOnDrain(this: BoundSocket): void {
  const owner = this[kOwner]!;
  const source: Side = this[kSide] === 'client' ? 'server' : 'client';
  resumeSource(owner, source);
}

/** Pauses `side` until {@link resumeSource}, as backpressure does (without counting a pause). */
export function holdSource(owner: SocketOwner, side: Side): void {
  owner[kPaused] |= PAUSED_BIT[side];
  (side === 'client' ? owner.client : owner[kServer])?.pause();
}

/** Resumes `side` if backpressure paused it. */
export function resumeSource(owner: SocketOwner, side: Side): void {
  const bit = PAUSED_BIT[side];
  if ((owner[kPaused] & bit) === 0) return;
  owner[kPaused] &= ~bit;
  const socket = side === 'client' ? owner.client : owner[kServer];
  socket?.resume();
}

function socketOnEnd(this: BoundSocket): void {
  this[kOwner]![kSocketEvent](this[kSide]!, 'END');
}

function socketOnFinish(this: BoundSocket): void {
  this[kOwner]![kSocketEvent](this[kSide]!, 'FINISHED');
}

function socketOnClose(this: BoundSocket): void {
  this[kOwner]![kSocketClosed](this[kSide]!);
}

function socketOnError(this: BoundSocket, err: NodeJS.ErrnoException): void {
  const owner = this[kOwner];
  // An error after disposal has no owner; the handler stays only until 'close'.
  owner?.[kSocketEvent](this[kSide]!, 'ERROR', err.code ?? err.name);
}

function socketOnTimeout(this: BoundSocket): void {
  this[kOwner]![kSocketEvent](this[kSide]!, 'TIMEOUT');
}

function socketOnConnect(this: BoundSocket): void {
  // on() and a removal here rather than once(): once() wraps the handler anew per socket.
  this.removeListener('connect', socketOnConnect);
  this[kOwner]![kSocketEvent]('server', 'CONNECTED');
}

const HANDLERS = [
  ['data', socketOnData],
  ['drain', socketOnDrain],
  ['end', socketOnEnd],
  ['finish', socketOnFinish],
  ['close', socketOnClose],
  ['error', socketOnError],
  ['timeout', socketOnTimeout],
] as const;

/**
 * Attaches the shared handlers to `socket`. The error handler goes first, so that an error
 * emitted at any later point has a listener.
 */
export function bindSocket(socket: BoundSocket, owner: SocketOwner, side: Side, watchConnect: boolean): void {
  socket[kOwner] = owner;
  socket[kSide] = side;
  for (const [event, handler] of HANDLERS) socket.on(event, handler as (...args: unknown[]) => void);
  if (watchConnect) socket.on('connect', socketOnConnect);
}

/** Removes every handler {@link bindSocket} attached. */
export function unbindSocket(socket: BoundSocket): void {
  for (const [event, handler] of HANDLERS) socket.removeListener(event, handler as (...args: unknown[]) => void);
  socket.removeListener('connect', socketOnConnect);
  // Assigned, not deleted: `delete` turns the socket into a slow dictionary-mode object.
  socket[kOwner] = undefined;
  socket[kSide] = undefined;
}

/** How many of our handlers are on `socket` (tests use it to prove cleanup). */
export function boundListenerCount(socket: SocketLike): number {
  let n = 0;
  for (const [event, handler] of HANDLERS) n += socket.listeners(event).filter((l) => l === handler).length;
  return n + socket.listeners('connect').filter((l) => l === socketOnConnect).length;
}
