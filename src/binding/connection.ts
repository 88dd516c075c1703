import { closeCode, type CloseReason, type Ending } from '../../machines/close-reasons.js';
import type { ConnectionContext, ConnectionOutput, SidePair } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { Clock } from '../clock.js';
import { channels } from '../diagnostics.js';
import { UpstreamError } from '../errors.js';
import type { EventLog } from '../log/event-log.js';
import type { Logger } from '../logger.js';
import type { ResolvedLifecycleOptions } from '../options.js';
import type { EffectType, MachineRuntime, RuntimeEvent, RuntimeFactory, RuntimeHost } from '../runtime/machine-runtime.js';
import {
  bindSocket,
  holdSource,
  kClientPauses,
  kClientToServer,
  kDiscarded,
  kLastActivity,
  kPaused,
  kServer,
  kServerPauses,
  kServerToClient,
  kSocketClosed,
  kSocketEvent,
  resumeSource,
  unbindSocket,
  type BoundSocket,
  type SocketOwner,
} from './socket-handlers.js';
import type { ProxyAddress, ProxyProtocolVersion } from '../protocol/proxy-header.js';
import { upstreamProxyHeader } from '../protocol/upstream-proxy-header.js';
import type { ConnectionStream } from './connection-stream.js';
import { hostPort, isSocketLike, peerName, type SocketLike, type Upstream } from './socket-like.js';

/** What a connection reports once it is disposed. */
export interface CloseInfo {
  /** The connection's id, `<instance>-<boot>-<counter>` (see `ConnectionIds`). */
  id: string;
  /** The client's address as `host:port`, when known. */
  client?: string;
  reasons: SidePair<CloseReason | null>;
  /** What ended the connection: the most decisive reason, its side and phase. */
  ending: Ending | null;
  /** Two-letter termination code (see `closeCode`), e.g. `CO`, `sH`, `gD`. */
  code: string;
  /** Socket error codes per side, if any. */
  errors: SidePair<string | null>;
  /** Bytes read from each side (and forwarded, unless counted in `discarded`). */
  bytes: { clientToServer: number; serverToClient: number };
  /** Bytes read after the other side was gone, with nowhere to forward them. */
  discarded: number;
  /**
   * Times reading from each side was paused because the other could not keep up (Envoy's
   * `downstream_` / `upstream_flow_control_paused_reading_total`).
   */
  pauses: SidePair<number>;
  durationMs: number;
}

/** What a connection needs from whoever created it. */
export interface ConnectionEnvironment {
  clock: Clock;
  log: EventLog | null;
  runtime: RuntimeFactory;
  logger?: Logger;
  /** Where the connection publishes its sampled activity and its final state. */
  stream: ConnectionStream;
}

/**
 * What the supervisor learnt of a client before its connection existed, and what it owes the
 * upstream: the PROXY header's addresses (`acceptProxy`) and the header to send (`sendProxy`).
 */
export interface ConnectionPreamble {
  /** The client's address from its PROXY header; absent: the socket's (LOCAL, UNKNOWN, no header). */
  source?: ProxyAddress;
  /** The address the client connected to, from its PROXY header. */
  destination?: ProxyAddress;
  /** Write a PROXY header of this version to the upstream before any forwarded byte. */
  sendProxy?: ProxyProtocolVersion;
}

// The runtime's callbacks, keyed by module-private symbols: users cannot call them.
const kEffect = Symbol('proxy-lifecycle.effect');
const kRecord = Symbol('proxy-lifecycle.record');
const kDone = Symbol('proxy-lifecycle.done');
/** The supervisor's sampling tick: checkpoint when asked (a log or an inspector wants it), and publish the counts if they moved. */
export const kSample = Symbol('proxy-lifecycle.sample');

const CLIENT_CLOSED = 1;
const SERVER_CLOSED = 2;

/** The events that carry nothing but a side. */
const DATALESS = ['END', 'FINISHED', 'CLOSE', 'TIMEOUT'] as const;
type DatalessType = (typeof DATALESS)[number];
/**
 * Those events, and the three that carry nothing at all, made once and shared by every
 * connection: a step allocates no event. Frozen, as a log record or an inspector may keep them.
 */
const SIDED_EVENTS = sidedEvents();
const CONNECTED_EVENT: ConnectionInputEvent = Object.freeze({ type: 'CONNECTED' });
const SHUTDOWN_EVENT: ConnectionInputEvent = Object.freeze({ type: 'SHUTDOWN' });
const ABORT_EVENT: ConnectionInputEvent = Object.freeze({ type: 'ABORT' });

function sidedEvents(): Record<DatalessType, SidePair<ConnectionInputEvent>> {
  const events = {} as Record<DatalessType, SidePair<ConnectionInputEvent>>;
  for (const type of DATALESS) {
    events[type] = { client: Object.freeze({ type, side: 'client' }), server: Object.freeze({ type, side: 'server' }) };
  }
  return events;
}

// Not `implements SocketOwner`: the published declarations leave the symbol-keyed members
// out (stripped as internal), and `bindSocket(…, this, …)` checks the shape where it matters.
/**
 * One proxied connection: two sockets bound to one lifecycle machine. Created by
 * {@link forward} or `Supervisor.forward`; it disposes of itself (every listener and timer
 * removed) once both sides are closed.
 */
export class Connection {
  /**
   * `<instance>-<boot>-<counter>`, e.g. `web1-mf3k2a1b-1047`: unique across hosts, restarts
   * and worker processes when each supervisor has its own instance and boot (see `ConnectionIds`).
   */
  readonly id: string;
  /** The accepted socket. */
  readonly client: SocketLike;
  /** When the connection started, on its clock. */
  readonly startedAt: number;
  /** @internal The clock every timer and activity stamp of this connection uses. */
  readonly clock: Clock;

  // Written by the socket handlers on the hot path (see SocketOwner); users read the getters.
  /** @internal */ [kServer]: SocketLike | null = null;
  /** @internal */ [kClientToServer] = 0;
  /** @internal */ [kServerToClient] = 0;
  /** @internal */ [kDiscarded] = 0;
  /** @internal */ [kPaused] = 0;
  /** @internal */ [kClientPauses] = 0;
  /** @internal */ [kServerPauses] = 0;
  /** @internal */ [kLastActivity]: number;

  private readonly runtime: MachineRuntime;
  private readonly env: ConnectionEnvironment;
  private readonly options: ResolvedLifecycleOptions;
  private readonly clientAddress: string | undefined;
  /** The PROXY header for the upstream (`sendProxy`), written before anything else reaches it. */
  private readonly proxyHeader: Buffer | null;
  private checkpointC2S = 0;
  private checkpointS2C = 0;
  /** The counts the stream has carried so far: a tick publishes only when they moved. */
  private publishedC2S = 0;
  private publishedS2C = 0;
  private closedSockets = 0;
  /** The upstream was still connecting when attached: its socket options wait for the connect. */
  private configureOnConnect = false;
  /** The `seq` of this connection's last log record: 0 is its `open`, each later record one more. */
  private seq = 0;
  private disposedInfo: CloseInfo | null = null;
  private closeWaiters: ((info: CloseInfo) => void)[] | null = null;

  /** @param preamble what the supervisor's door read or owes the upstream (see {@link ConnectionPreamble}). */
  constructor(id: string, client: SocketLike, upstream: Upstream, options: ResolvedLifecycleOptions, env: ConnectionEnvironment, preamble: ConnectionPreamble | null = null) {
    this.id = id;
    this.client = client;
    this.env = env;
    this.options = options;
    this.clock = env.clock;
    this.startedAt = env.clock.now();
    this[kLastActivity] = this.startedAt;
    bindSocket(client as BoundSocket, this, 'client', false);
    this.configure(client);
    this.runtime = env.runtime(options.settings, env.clock, new ConnectionHost(this));
    // Read now: once the socket is closed its address is gone, and CloseInfo reports it.
    // A PROXY header's source stands in for the socket's address everywhere the client is named.
    const source = preamble?.source;
    this.clientAddress = !options.clientAddress ? undefined : source === undefined ? peerName(client) : hostPort(source.address, source.port);
    // Encoded now, while the client's local address is still there to read.
    this.proxyHeader = preamble?.sendProxy === undefined ? null : upstreamProxyHeader(preamble.sendProxy, client, source, preamble.destination);
    if (env.log?.active) env.log.append({ t: this.startedAt, conn: id, kind: 'open', seq: 0, settings: options.settings, client: this.clientAddress });
    this.runtime.start();
    if (channels.open.hasSubscribers) channels.open.publish({ connection: this });
    if (client.destroyed) {
      // Nothing to proxy for: record the close and do not open the upstream at all.
      this[kSocketClosed]('client');
      this.abort();
    } else this.openUpstream(upstream);
  }

  /** The upstream socket; `null` until an async upstream factory resolves. */
  get server(): SocketLike | null {
    return this[kServer];
  }

  /** Bytes read from the client (and forwarded to the server, unless counted in {@link discarded}). */
  get clientToServer(): number {
    return this[kClientToServer];
  }

  /** Bytes read from the server (and forwarded to the client, unless counted in {@link discarded}). */
  get serverToClient(): number {
    return this[kServerToClient];
  }

  /** Bytes read after the other side was gone, with nowhere to forward them. */
  get discarded(): number {
    return this[kDiscarded];
  }

  /** Times reading from the client was paused for backpressure (see {@link CloseInfo.pauses}). */
  get clientPauses(): number {
    return this[kClientPauses];
  }

  /** Times reading from the server was paused for backpressure. */
  get serverPauses(): number {
    return this[kServerPauses];
  }

  /** When a byte last moved either way, on the connection's clock. */
  get lastActivity(): number {
    return this[kLastActivity];
  }

  /** The machine's current state value. */
  get state(): unknown {
    return this.runtime.value;
  }

  /** The machine's context: settings, reasons, errors, last byte checkpoint. */
  get context(): ConnectionContext {
    return this.runtime.context;
  }

  /** The close reason of each side so far (`null` while that side is open). */
  get reasons(): SidePair<CloseReason | null> {
    return this.runtime.context.reasons;
  }

  /** Both regions are final and the sockets are released. */
  get disposed(): boolean {
    return this.disposedInfo !== null;
  }

  /** Times reading from either side was paused for backpressure. */
  get pauses(): number {
    return this.clientPauses + this.serverPauses;
  }

  /** Timers this connection has armed (zero once disposed). */
  get pendingTimers(): number {
    return this.runtime.pendingTimers;
  }

  /**
   * Resolves with the close info once the connection is disposed (a method, not a `closed`
   * property: in Node and undici `closed` is a boolean).
   */
  whenClosed(): Promise<CloseInfo> {
    if (this.disposedInfo !== null) return Promise.resolve(this.disposedInfo);
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
  }

  /** Graceful close: both sides end after their pending writes, bounded by the grace period. */
  shutdown(): void {
    this.send(SHUTDOWN_EVENT);
  }

  /** Immediate close: both sockets destroyed. */
  abort(): void {
    this.send(ABORT_EVENT);
  }

  /**
   * Sends a byte checkpoint if bytes moved since the last one. Runs on the supervisor's
   * sampling tick, and before timers and lifecycle events.
   *
   * @returns whether bytes had moved.
   */
  checkpoint(): boolean {
    const clientToServer = this[kClientToServer];
    const serverToClient = this[kServerToClient];
    if (clientToServer === this.checkpointC2S && serverToClient === this.checkpointS2C) return false;
    if (this.runtime.done) return false;
    this.checkpointC2S = clientToServer;
    this.checkpointS2C = serverToClient;
    const idleMs = this.clock.now() - this[kLastActivity];
    this.runtime.send({ type: 'ACTIVITY', clientToServer, serverToClient, idleMs });
    return true;
  }

  /**
   * @internal A sampling tick at `t`: checkpoints the machine when `checkpoint` (a log or an
   * inspector wants the sample), and publishes the counts on the stream if they moved since the
   * stream last carried them (a lifecycle checkpoint in between does not hide them from the samples).
   */
  [kSample](t: number, checkpoint: boolean): void {
    if (checkpoint) this.checkpoint();
    const clientToServer = this[kClientToServer];
    const serverToClient = this[kServerToClient];
    const addedC2S = clientToServer - this.publishedC2S;
    const addedS2C = serverToClient - this.publishedS2C;
    if (addedC2S === 0 && addedS2C === 0) return;
    this.publishedC2S = clientToServer;
    this.publishedS2C = serverToClient;
    this.env.stream.publishActivity(this, t, clientToServer, serverToClient, addedC2S, addedS2C);
  }

  // --- SocketOwner: called by the shared socket handlers ---

  /** @internal */
  [kSocketEvent](side: Side, type: 'END' | 'FINISHED' | 'ERROR' | 'TIMEOUT' | 'CONNECTED', code?: string): void {
    switch (type) {
      case 'END':
        this.checkpoint();
        this.send(SIDED_EVENTS.END[side]);
        return;
      case 'ERROR':
        // The other side can no longer send here: let it read on so its FIN or RST is seen.
        resumeSource(this, side === 'client' ? 'server' : 'client');
        this.checkpoint();
        this.send({ type, side, code });
        return;
      case 'CONNECTED':
        // Set now, not while connecting: Node applies an option set on a connecting socket
        // twice (at once, and again after the connect), a system call each.
        if (this.configureOnConnect) {
          this.configureOnConnect = false;
          const server = this[kServer];
          if (server !== null && !server.destroyed) this.setSocketOptions(server);
        }
        this.send(CONNECTED_EVENT);
        return;
      default:
        this.send(SIDED_EVENTS[type][side]);
    }
  }

  /** @internal */
  [kSocketClosed](side: Side): void {
    this.closedSockets |= side === 'client' ? CLIENT_CLOSED : SERVER_CLOSED;
    resumeSource(this, side === 'client' ? 'server' : 'client');
    this.checkpoint();
    this.send(SIDED_EVENTS.CLOSE[side]);
    this.tryDispose();
  }

  // --- RuntimeHost: called by the machine runtime, through ConnectionHost ---

  /** @internal */
  [kEffect](type: EffectType, side: Side): void {
    const socket = side === 'client' ? this.client : this[kServer];
    switch (type) {
      case 'endSocket':
        // No socket yet (an async upstream): the machine marks serverEndPending, attachServer ends it.
        if (socket !== null && !socket.destroyed && !socket.writableEnded) socket.end();
        return;
      case 'destroySocket':
        socket?.destroy();
        return;
      case 'refreshTimeout':
        if (socket !== null && socket.timeout && socket.setTimeout) socket.setTimeout(socket.timeout);
        return;
    }
  }

  /** @internal */
  [kRecord](event: RuntimeEvent): void {
    const log = this.env.log;
    if (log !== null && log.active) log.append({ t: this.env.clock.now(), conn: this.id, kind: 'event', seq: ++this.seq, event });
  }

  /** @internal */
  [kDone](_output: ConnectionOutput): void {
    // Every path to a closed region ends or destroys its socket; this is only a safety net.
    const server = this[kServer];
    if (!this.client.destroyed) this.client.destroy();
    if (server !== null && !server.destroyed) server.destroy();
    this.tryDispose();
  }

  // --- internals ---

  private send(event: ConnectionInputEvent): void {
    this.runtime.send(event);
  }

  private configure(socket: SocketLike): void {
    // Half-open must be on, or Node ends our write side as soon as the peer's FIN arrives.
    (socket as { allowHalfOpen?: boolean }).allowHalfOpen = true;
    this.setSocketOptions(socket);
  }

  private setSocketOptions(socket: SocketLike): void {
    if (this.options.keepAlive) socket.setKeepAlive?.(true, this.options.keepAliveInitialDelay);
    if (this.options.noDelay) socket.setNoDelay?.(true);
  }

  private openUpstream(upstream: Upstream): void {
    if (typeof upstream !== 'function') {
      this.attachServer(upstream);
      return;
    }
    let result: SocketLike | Promise<SocketLike>;
    try {
      result = upstream(this.client);
    } catch (err) {
      this.upstreamFailed(err);
      return;
    }
    if (isSocketLike(result)) {
      this.attachServer(result);
      return;
    }
    // Hold the client's bytes until there is somewhere to put them.
    holdSource(this, 'client');
    Promise.resolve(result).then(
      (socket) => this.attachServer(socket),
      (err: unknown) => this.upstreamFailed(err),
    );
  }

  private upstreamFailed(err: unknown): void {
    const error = err instanceof UpstreamError ? err : new UpstreamError('the upstream factory failed', err);
    this.env.logger?.warn?.(error.message, { id: this.id, code: error.code, error });
    // As any server error: this also resumes the client we paused while waiting, so its FIN is read.
    this[kSocketEvent]('server', 'ERROR', 'PL_ERR_UPSTREAM');
  }

  private attachServer(socket: unknown): void {
    if (!isSocketLike(socket)) {
      this.upstreamFailed(new UpstreamError(`the upstream factory gave ${socket === null ? 'null' : typeof socket}, not a socket`));
      return;
    }
    if (this.runtime.done) {
      // The connection ended while the upstream was being opened.
      socket.destroy();
      return;
    }
    this[kServer] = socket;
    const connecting = socket.connecting === true;
    bindSocket(socket as BoundSocket, this, 'server', connecting);
    if (!connecting) this.configure(socket);
    else {
      (socket as { allowHalfOpen?: boolean }).allowHalfOpen = true;
      this.configureOnConnect = this.options.keepAlive || this.options.noDelay;
    }
    // Before any forwarded byte (the client's are only written once kServer is set and it reads
    // on) and before an end: not counted, as it is not the client's.
    if (this.proxyHeader !== null && !socket.destroyed) socket.write(this.proxyHeader);
    if (this.runtime.context.serverEndPending) socket.end();
    resumeSource(this, 'client');
    if (socket.destroyed) this[kSocketClosed]('server');
    else if (socket.connecting !== true) this[kSocketEvent]('server', 'CONNECTED');
  }

  private tryDispose(): void {
    if (!this.runtime.done || this.disposedInfo !== null) return;
    // Wait for each socket's 'close' event: an 'error' may still be emitted before it.
    const server = this[kServer];
    const needed = server === null ? CLIENT_CLOSED : CLIENT_CLOSED | SERVER_CLOSED;
    if ((this.closedSockets & needed) !== needed) return;
    unbindSocket(this.client as BoundSocket);
    if (server !== null) unbindSocket(server as BoundSocket);
    this.runtime.stop();
    const context = this.runtime.context;
    const now = this.env.clock.now();
    const info: CloseInfo = {
      id: this.id,
      client: this.clientAddress,
      reasons: context.reasons,
      ending: context.ending,
      code: closeCode(context.ending),
      errors: context.errors,
      bytes: { clientToServer: this[kClientToServer], serverToClient: this[kServerToClient] },
      // An upstream that never connected got none of the client's bytes.
      discarded: context.connected ? this[kDiscarded] : this[kClientToServer] + this[kServerToClient],
      pauses: { client: this[kClientPauses], server: this[kServerPauses] },
      durationMs: now - this.startedAt,
    };
    this.disposedInfo = info;
    if (this.env.log?.active) this.env.log.append({
      t: now,
      conn: this.id,
      kind: 'disposed',
      seq: ++this.seq,
      reasons: info.reasons,
      code: info.code,
      bytes: info.bytes,
      durationMs: info.durationMs,
    });
    this.env.stream.publishFinal(this, info, info.bytes.clientToServer - this.publishedC2S, info.bytes.serverToClient - this.publishedS2C);
    if (channels.close.hasSubscribers) channels.close.publish({ connection: this, info });
    const waiters = this.closeWaiters;
    this.closeWaiters = null;
    if (waiters !== null) for (const resolve of waiters) resolve(info);
  }
}

/**
 * What the machine runtime calls back: a small object per connection, so the public
 * `Connection` has no `effect()` or `done()` a user could call behind the machine's back.
 * Prototype methods, not closures: nothing is allocated per event.
 */
class ConnectionHost implements RuntimeHost {
  constructor(private readonly connection: Connection) {}

  effect(type: EffectType, side: Side): void {
    this.connection[kEffect](type, side);
  }

  beforeTimer(): void {
    void this.connection.checkpoint();
  }

  record(event: RuntimeEvent): void {
    this.connection[kRecord](event);
  }

  done(output: ConnectionOutput): void {
    this.connection[kDone](output);
  }
}
