/**
 * Reference for the socket binding (src/binding/ with the Supervisor's sampler and shutdown),
 * written independently of it; binding-model.test.ts runs both on the same peer scripts and
 * compares them.
 *
 * The model side of the binding model test: a simulated proxy whose lifecycle machine is the
 * pure reference runtime (XState `transition()` per event, `TransitionRuntime`) on its own
 * ManualClock, bound to four simulated TCP endpoints instead of real sockets.
 *
 * The endpoints follow Node's `net.Socket` semantics with `allowHalfOpen: true` as far as the
 * binding can observe them:
 * - `end()` sends FIN once pending writes are flushed, then emits 'finish'; a socket whose
 *   readable side has ended and whose writable side has finished destroys itself ('close').
 * - a FIN from the remote emits 'end' (a paused test peer only once it resumes).
 * - `destroy()` closes the fd: the remote gets FIN and the socket emits 'close'.
 * - a reset from the remote is seen at once by a socket that still reads (ECONNRESET); a
 *   socket that already read EOF sees it only on its next write (EPIPE). Ending such a socket
 *   still emits 'finish' (Node ignores the ENOTCONN of shutdown()).
 * - a write that fails synchronously makes `write()` return false: the binding pauses the
 *   source (and counts a pause) until the error resumes it.
 *
 * Asynchronous socket events are queued and delivered in order once the current command's
 * synchronous part is over, like the event loop does after `ManualClock.advance()` returns.
 * The binding logic (checkpoints before END/ERROR/CLOSE and timers, forwarding, discarding,
 * disposal) mirrors src/binding/connection.ts and the Supervisor's sampler and shutdown.
 */
import { createHash } from 'node:crypto';
import type { Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import { ManualClock, describeEvent, regionName, type EffectType, type LogRecord, type RuntimeEvent, type RuntimeHost, type TimerHandle } from '../../src/index.js';
import { TransitionRuntime } from '../../src/internal.js';
import type { ConnectionOutput } from '../../machines/connection-machine.js';
import { DISCARD_BUDGET } from '../../src/binding/socket-handlers.js';

export type PeerName = 'client' | 'upstream';
export const PEERS: readonly PeerName[] = ['client', 'upstream'];
export const sideOfPeer = (peer: PeerName): Side => (peer === 'client' ? 'client' : 'server');
export const peerOfSide = (side: Side): PeerName => (side === 'client' ? 'client' : 'upstream');
const otherSide = (side: Side): Side => (side === 'client' ? 'server' : 'client');

/** One of the proxy's two sockets. */
export interface ProxySocket {
  writableEnded: boolean;
  finished: boolean;
  readEnded: boolean;
  destroyed: boolean;
  closed: boolean;
  /** The remote reset while we no longer read: seen on our next write. */
  resetPending: boolean;
}

/** A test peer: what it sent, what it has been delivered, and its socket's state. */
export interface PeerModel {
  sent: Buffer[];
  sentBytes: number;
  /** Bytes the proxy forwarded to this peer, in order. */
  inbound: Buffer[];
  inboundBytes: number;
  /** Of `inbound`, how many bytes the peer's 'data' handler has seen (the rest waits while paused). */
  received: number;
  writableEnded: boolean;
  paused: boolean;
  /** The proxy's FIN arrived ('end' waits for buffered data while paused). */
  eofArrived: boolean;
  gotEnd: boolean;
  /** The peer reset its socket. */
  reset: boolean;
  /**
   * The peer wrote to a connection the proxy had already closed: its socket is reset by the
   * kernel at some point. The proxy no longer sees it, so the model stops tracking it.
   */
  unknown: boolean;
}

function newProxySocket(): ProxySocket {
  return { writableEnded: false, finished: false, readEnded: false, destroyed: false, closed: false, resetPending: false };
}

function newPeer(): PeerModel {
  return {
    sent: [],
    sentBytes: 0,
    inbound: [],
    inboundBytes: 0,
    received: 0,
    writableEnded: false,
    paused: false,
    eofArrived: false,
    gotEnd: false,
    reset: false,
    unknown: false,
  };
}

/** Whether the peer's socket has closed: reset, or both directions done. */
export function peerClosed(p: PeerModel): boolean {
  return p.reset || (p.writableEnded && p.gotEnd);
}

/** Whether a command may still act on the peer's socket. */
export function peerUsable(p: PeerModel): boolean {
  return !p.reset && !p.unknown && !peerClosed(p);
}

/** sha256 of the first `n` bytes of a chunk list. */
export function prefixHash(chunks: readonly Buffer[], n: number): string {
  const h = createHash('sha256');
  let left = n;
  for (const c of chunks) {
    if (left <= 0) break;
    const part = c.length <= left ? c : c.subarray(0, left);
    h.update(part);
    left -= part.length;
  }
  return h.digest('hex');
}

const PAUSED_BIT: Record<Side, number> = { client: 1, server: 2 };
const CLIENT_CLOSED = 1;
const SERVER_CLOSED = 2;

export interface ModelOptions {
  settings: ConnectionSettings;
  activitySampleInterval: number;
}

/** The simulated proxy connection and its two peers. */
export class ModelWorld implements RuntimeHost {
  readonly clock = new ManualClock();
  readonly runtime: TransitionRuntime;
  readonly sockets: Record<Side, ProxySocket> = { client: newProxySocket(), server: newProxySocket() };
  readonly peers: Record<PeerName, PeerModel> = { client: newPeer(), upstream: newPeer() };
  /** Every event the model's machine processed, with the model time. */
  readonly log: { t: number; event: RuntimeEvent }[] = [];
  clientToServer = 0;
  serverToClient = 0;
  discarded = 0;
  paused = 0;
  pauses = 0;
  disposed = false;
  /** Supervisor shutdown began. */
  closing = false;
  /** Timer events (xstate.after.*) the machine processed so far. */
  timerEvents = 0;
  /** SHUTDOWN or ABORT reached the machine. */
  proxyDecided = false;

  private checkpointC2S = 0;
  private checkpointS2C = 0;
  /** When the last byte was read, as the binding stamps it: inactivity timers count from it. */
  private lastActivity = 0;
  private closedSockets = 0;
  private finishedMachine = false;
  private sampler: TimerHandle | null = null;
  private deadline: TimerHandle | null = null;
  private readonly queue: (() => void)[] = [];
  private readonly sampleInterval: number;
  private readonly settings: ConnectionSettings;

  constructor(options: ModelOptions) {
    this.settings = options.settings;
    this.sampleInterval = options.activitySampleInterval;
    this.runtime = new TransitionRuntime(options.settings, this.clock, this);
    // As Connection's constructor, then Supervisor.forward arming its sampler.
    this.runtime.start();
    this.armSampler();
    // The tests start commands only once the upstream connected.
    this.send({ type: 'CONNECTED' });
  }

  // --- what the test reads ---

  region(side: Side): string {
    return regionName(this.runtime.value, side);
  }

  get value(): unknown {
    return this.runtime.value;
  }

  get pendingTimers(): number {
    return this.runtime.pendingTimers;
  }

  /** The model's events as event-log records of connection `id` (for `replay()`). */
  records(id: string): LogRecord[] {
    return [
      { t: 0, conn: id, kind: 'open', settings: this.settings },
      ...this.log.map((r): LogRecord => ({ t: r.t, conn: id, kind: 'event', event: r.event })),
    ];
  }

  /** `describeEvent` of every event so far. */
  describeLog(): string[] {
    return this.log.map((r) => `${r.t} ${describeEvent(r.event)}`);
  }

  // --- peer actions (a command's synchronous part; call settle() after) ---

  write(peer: PeerName, data: Buffer): void {
    const p = this.peers[peer];
    p.sent.push(data);
    p.sentBytes += data.length;
    const side = sideOfPeer(peer);
    const y = this.sockets[side];
    if (y.destroyed) {
      // The proxy's end is gone: the kernel answers with RST, the peer errors at some point.
      p.unknown = true;
      return;
    }
    this.later(() => this.onData(side, data));
  }

  end(peer: PeerName): void {
    const p = this.peers[peer];
    p.writableEnded = true;
    const side = sideOfPeer(peer);
    const y = this.sockets[side];
    if (y.destroyed) return;
    this.later(() => this.onEof(side));
  }

  reset(peer: PeerName): void {
    const p = this.peers[peer];
    p.reset = true;
    const side = sideOfPeer(peer);
    const y = this.sockets[side];
    if (y.destroyed) return;
    if (!y.readEnded) {
      y.destroyed = true;
      this.later(() => this.socketEvent(side, 'ERROR', 'ECONNRESET'));
      this.later(() => this.socketClosed(side));
    } else y.resetPending = true;
  }

  pause(peer: PeerName): void {
    this.peers[peer].paused = true;
  }

  resume(peer: PeerName): void {
    const p = this.peers[peer];
    p.paused = false;
    p.received = p.inboundBytes;
    if (p.eofArrived) p.gotEnd = true;
  }

  /** ManualClock.advance on the model's clock: timers fire, their socket events come after. */
  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /** Supervisor.shutdown({ timeout }). */
  shutdown(timeout: number): void {
    if (this.closing) return;
    this.closing = true;
    if (!this.disposed) {
      this.send({ type: 'SHUTDOWN' });
      this.deadline = this.clock.setTimeout(() => {
        this.deadline = null;
        this.abort();
      }, timeout);
    }
  }

  /** Supervisor.abort(). */
  abort(): void {
    if (!this.disposed) this.send({ type: 'ABORT' });
  }

  /** Delivers every queued socket event, in order, including the ones they cause. */
  settle(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 10_000) throw new Error('model does not settle');
      this.queue.shift()!();
    }
  }

  // --- RuntimeHost ---

  effect(type: EffectType, side: Side): void {
    const y = this.sockets[side];
    switch (type) {
      case 'endSocket':
        if (!y.destroyed && !y.writableEnded) {
          y.writableEnded = true;
          this.later(() => this.onFinish(side));
        }
        return;
      case 'destroySocket':
        this.destroy(side);
        return;
      case 'refreshTimeout':
        // The binding sets no socket timeouts of its own: nothing to refresh.
        return;
    }
  }

  beforeTimer(): void {
    this.checkpoint();
  }

  record(event: RuntimeEvent): void {
    this.log.push({ t: this.clock.now(), event });
    if (event.type.startsWith('xstate.after.')) this.timerEvents++;
    if (event.type === 'SHUTDOWN' || event.type === 'ABORT') this.proxyDecided = true;
  }

  done(_output: ConnectionOutput): void {
    this.finishedMachine = true;
    this.destroy('client');
    this.destroy('server');
    this.tryDispose();
  }

  // --- the simulated binding ---

  private later(fn: () => void): void {
    this.queue.push(fn);
  }

  private send(event: Parameters<TransitionRuntime['send']>[0]): void {
    this.runtime.send(event);
  }

  private checkpoint(): boolean {
    if (this.clientToServer === this.checkpointC2S && this.serverToClient === this.checkpointS2C) return false;
    if (this.runtime.done) return false;
    this.checkpointC2S = this.clientToServer;
    this.checkpointS2C = this.serverToClient;
    const idleMs = this.clock.now() - this.lastActivity;
    this.send({ type: 'ACTIVITY', clientToServer: this.clientToServer, serverToClient: this.serverToClient, idleMs });
    return true;
  }

  private resumeSource(side: Side): void {
    this.paused &= ~PAUSED_BIT[side];
  }

  private socketEvent(side: Side, type: 'END' | 'FINISHED' | 'ERROR', code?: string): void {
    if (type === 'ERROR') {
      this.resumeSource(otherSide(side));
      this.checkpoint();
      this.send({ type, side, code });
    } else if (type === 'END') {
      this.checkpoint();
      this.send({ type, side });
    } else this.send({ type, side });
  }

  private socketClosed(side: Side): void {
    this.sockets[side].closed = true;
    this.closedSockets |= side === 'client' ? CLIENT_CLOSED : SERVER_CLOSED;
    this.resumeSource(otherSide(side));
    this.checkpoint();
    this.send({ type: 'CLOSE', side });
    this.tryDispose();
  }

  /** The proxy socket's fd is closed: its remote reads FIN (if it still reads), then 'close'. */
  private destroy(side: Side): void {
    const y = this.sockets[side];
    if (y.destroyed) return;
    y.destroyed = true;
    this.finArrives(peerOfSide(side));
    this.later(() => this.socketClosed(side));
  }

  private finArrives(peer: PeerName): void {
    const p = this.peers[peer];
    if (p.reset) return;
    p.eofArrived = true;
    // net.Socket emits 'end' at EOF even while paused when nothing is buffered (it calls
    // read(0) on EOF); buffered data must be consumed first.
    if (!p.paused || p.received === p.inboundBytes) p.gotEnd = true;
  }

  private onFinish(side: Side): void {
    const y = this.sockets[side];
    if (y.destroyed) return;
    y.finished = true;
    this.finArrives(peerOfSide(side));
    this.socketEvent(side, 'FINISHED');
    if (y.readEnded) this.autoDestroy(side);
  }

  private onEof(side: Side): void {
    const y = this.sockets[side];
    if (y.destroyed) return;
    y.readEnded = true;
    this.socketEvent(side, 'END');
    if (y.finished) this.autoDestroy(side);
  }

  private autoDestroy(side: Side): void {
    const y = this.sockets[side];
    if (y.destroyed) return;
    y.destroyed = true;
    this.later(() => this.socketClosed(side));
  }

  private onData(side: Side, chunk: Buffer): void {
    const y = this.sockets[side];
    if (y.destroyed) return;
    if (side === 'client') this.clientToServer += chunk.length;
    else this.serverToClient += chunk.length;
    this.lastActivity = this.clock.now();
    const destSide = otherSide(side);
    const z = this.sockets[destSide];
    if (z.destroyed || z.writableEnded) {
      this.discarded += chunk.length;
      // The binding stops reading past its discard budget; the model does not model that (a
      // run writes at most MAX_COMMANDS x 2 KiB), so a run that gets there says so.
      if (this.discarded > DISCARD_BUDGET) throw new Error('model: more discarded than the binding reads (DISCARD_BUDGET)');
      return;
    }
    if (z.resetPending) {
      // write() fails at once: the socket is destroyed, write() returns false (the source is
      // paused until the error resumes it), and 'error' then 'close' follow.
      z.destroyed = true;
      this.paused |= PAUSED_BIT[side];
      this.pauses++;
      this.later(() => this.socketEvent(destSide, 'ERROR', 'EPIPE'));
      this.later(() => this.socketClosed(destSide));
      return;
    }
    const w = this.peers[peerOfSide(destSide)];
    if (w.reset) throw new Error('model: a reset peer behind a live socket');
    w.inbound.push(chunk);
    w.inboundBytes += chunk.length;
    if (!w.paused) w.received = w.inboundBytes;
  }

  private tryDispose(): void {
    if (!this.finishedMachine || this.disposed) return;
    if ((this.closedSockets & (CLIENT_CLOSED | SERVER_CLOSED)) !== (CLIENT_CLOSED | SERVER_CLOSED)) return;
    this.runtime.stop();
    this.disposed = true;
    // Supervisor.disposed(): the sampler stops, a pending shutdown deadline is cleared.
    if (this.sampler !== null) {
      this.clock.clearTimeout(this.sampler);
      this.sampler = null;
    }
    if (this.deadline !== null) {
      this.clock.clearTimeout(this.deadline);
      this.deadline = null;
    }
  }

  private armSampler(): void {
    if (this.sampler !== null || this.sampleInterval === 0) return;
    this.sampler = this.clock.setTimeout(() => this.sample(), this.sampleInterval);
  }

  private sample(): void {
    this.sampler = null;
    if (!this.disposed) this.checkpoint();
    if (!this.disposed) this.armSampler();
  }
}
