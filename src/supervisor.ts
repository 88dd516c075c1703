import { EventEmitter } from 'eventemitter3';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import { checkSignal, whenAborted } from './abort-signal.js';
import type { RefusalReason } from '../machines/close-reasons.js';
import { checkAdmissionHook, type AdmissionHook } from './admission/admission-hook.js';
import { refusal, type Refusal } from './admission/refusal.js';
import { ConnectionIds, type ConnectionIdOptions } from './connection-ids.js';
import { Connection, kSample, type CloseInfo, type ConnectionEnvironment, type ConnectionPreamble } from './binding/connection.js';
import { ConnectionStream, kConnectionStream, type ConnectionMessage, type FinalMessage } from './binding/connection-stream.js';
import { hostPort, peerName, type SocketLike, type Upstream } from './binding/socket-like.js';
import type { Clock, TimerHandle } from './clock.js';
import { TimerWheel } from './timer-wheel.js';
import { InvalidOptionError, SupervisorClosedError } from './errors.js';
import { EventLog } from './log/event-log.js';
import { ProxyHeaderReader, type ProxyHeaderOutcome } from './protocol/proxy-header-reader.js';
import { resolveProxyProtocol, type AcceptProxyOptions } from './protocol/proxy-protocol-options.js';
import type { ProxyProtocolVersion } from './protocol/proxy-header.js';
import type { LogRecord, RefusedRecord } from './log/log-record.js';
import { checkCount, checkDuration } from './validate.js';
import {
  resolveEnvironment,
  resolveOptions,
  type EnvironmentOptions,
  type LifecycleOptions,
  type ResolvedLifecycleOptions,
} from './options.js';
import { ActorRuntime, type InspectionObserver } from './runtime/actor-runtime.js';
import type { RuntimeFactory } from './runtime/machine-runtime.js';

/** Options of a {@link Supervisor}: defaults for every connection, plus its own. */
export interface SupervisorOptions extends LifecycleOptions, EnvironmentOptions, ConnectionIdOptions {
  /**
   * How often byte counts are sampled into checkpoints and streams, in ms (how fresh the
   * byte streams and metrics are; inactivity timers count from the last byte whatever it is).
   * Default 1000; 0 samples only around lifecycle events.
   */
  activitySampleInterval?: number;
  /** In-memory event log capacity (records) when no `log` is given. Default 100 000. */
  logCapacity?: number;
  /**
   * Run the selected connections as real XState actors and send their inspection events
   * to `observer` (e.g. `createWebSocketInspector().inspect` from `@statelyai/inspect`).
   * Each connection is its own actor, so select a sample on busy proxies. Others keep the
   * lean table runtime.
   */
  inspect?: { observer: InspectionObserver; select?: (connectionId: string) => boolean };
  /**
   * Aborting it starts a graceful {@link Supervisor.shutdown} with its defaults, as an
   * aborted `server.listen({ signal })` closes a Node server. Already aborted: the
   * supervisor starts out shut down. The listener is removed once shutdown completes.
   */
  signal?: AbortSignal;
  /** The admission policy {@link Supervisor.admit} applies to each new client. Default: admit all. */
  admit?: AdmissionHook;
  /**
   * Every client starts with a PROXY protocol header (v1 text or v2 binary, told apart by its
   * first byte), as behind HAProxy's `send-proxy` or an AWS NLB: {@link Supervisor.accept}
   * reads it before anything else, admits the client under the header's source address and
   * forwards the bytes after it. A client without a valid header within `timeout` (default
   * 10 000 ms) is refused (`proxy_header_invalid` / `proxy_header_timeout`). Needs `accept()`:
   * `forward()` reads no header and throws while this is on. Default off.
   */
  acceptProxy?: boolean | AcceptProxyOptions;
  /**
   * Write a PROXY protocol header (`'v1'` text or `'v2'` binary) to each upstream before the
   * first forwarded byte, as HAProxy's `send-proxy` / `send-proxy-v2`: the client's address
   * (its own PROXY header's source, when it came with one) and the address it connected to.
   * Its bytes are not counted as forwarded. Default off.
   */
  sendProxy?: ProxyProtocolVersion;
}

/** What {@link Supervisor.refuse} records about a refused client. */
export interface RefuseOptions {
  /** Default `rejected`. */
  reason?: RefusalReason;
  /** What refused it: a limit's name, `admit`, `accept_proxy`, … */
  limit: string;
  /** The client's `host:port`; default the socket's, null when there is no socket. */
  client?: string | null;
  /** The PROXY header's error code, when that was the cause. */
  error?: string;
}

/** Options of {@link Supervisor.shutdown}. */
export interface ShutdownOptions {
  /** Destroy what is left after this many ms. Default 30 000. */
  timeout?: number;
  /** Let connections finish by themselves this long before ending them. Default 0. */
  drainTimeout?: number;
  /**
   * Aborting it turns the graceful shutdown forced: whatever is left is destroyed at once,
   * as if `timeout` had passed. Already aborted: the shutdown is forced from the start. The
   * listener is removed once shutdown completes.
   */
  signal?: AbortSignal;
}

const SHUTDOWN_KEYS: readonly string[] = ['timeout', 'drainTimeout', 'signal'];

function shutdownOptions(options: unknown): { timeout: number; drainTimeout: number; signal: AbortSignal | undefined } {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', `shutdown options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!SHUTDOWN_KEYS.includes(key)) throw new InvalidOptionError(key, `unknown shutdown option ${key}. Allowed: ${SHUTDOWN_KEYS.join(', ')}`);
  }
  const { timeout, drainTimeout, signal } = options as ShutdownOptions;
  return {
    timeout: timeout === undefined ? 30_000 : checkDuration('timeout', timeout),
    drainTimeout: drainTimeout === undefined ? 0 : checkDuration('drainTimeout', drainTimeout),
    signal: signal === undefined ? undefined : checkSignal('signal', signal),
  };
}

/**
 * Node's own symbol: Node 20.4 and later define `Symbol.asyncDispose` as it, earlier 20.x
 * do not define it at all (no polyfill installed: the global `Symbol` is not ours to patch).
 */
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** Bytes moved by all connections, sampled. */
export interface AggregateSample {
  t: number;
  active: number;
  clientToServer: number;
  serverToClient: number;
}

/** Bytes moved by one connection, sampled when they changed. */
export interface ConnectionSample {
  t: number;
  id: string;
  clientToServer: number;
  serverToClient: number;
}

/** The supervisor's typed events. */
export interface SupervisorEvents {
  /** A connection was taken on. */
  connection: [connection: Connection];
  /** A connection was disposed: both sides closed, every listener and timer removed. */
  close: [info: CloseInfo];
  /** A client was refused at the door (a limit, the admission hook, a bad PROXY header), before any connection existed. */
  refused: [refusal: Refusal];
}

/** Counters that only move forward, except `active`, which is exact. */
export interface SupervisorStats {
  active: number;
  total: number;
  closed: number;
  /** Clients refused at the door ({@link Supervisor.admit}, {@link Supervisor.refuse}). */
  refused: number;
}

/**
 * Owns every proxied connection: creates each one, samples its activity, and disposes of
 * it exactly once, when both of its regions are final. Its connections publish their
 * sampled activity and their final state on one stream; sampling and disposal subscribe to it.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor({ gracePeriod: 2000 });
 * net.createServer({ allowHalfOpen: true }, (client) =>
 *   supervisor.forward(client, () => net.connect(6379, '127.0.0.1')),
 * ).listen(6380);
 * supervisor.on('close', (info) => logger.info(info));
 * process.on('SIGTERM', () => supervisor.shutdown({ timeout: 10_000 }));
 * ```
 *
 * @example `await using` shuts it down gracefully when the scope is left:
 * ```ts
 * await using supervisor = new Supervisor();
 * ```
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  /** Live connections by id. */
  readonly connections = new Map<string, Connection>();
  /** Every lifecycle event of every connection. */
  readonly log: EventLog;
  /** Lifecycle records as they are appended. */
  readonly events$: Observable<LogRecord>;
  /** The number of live connections, current value first. */
  readonly activeConnections$: Observable<number>;
  /** Aggregate bytes, once per sampling tick while connections are live. */
  readonly bytes$: Observable<AggregateSample>;
  /** Per-connection bytes, on each sampling tick where a connection's counts moved. */
  readonly connectionBytes$: Observable<ConnectionSample>;

  private readonly defaults: ResolvedLifecycleOptions;
  private readonly env: ConnectionEnvironment;
  private readonly clock: Clock;
  private readonly sampleInterval: number;
  /** Whether an inspector watches the machines: then each tick checkpoints them, so it sees live bytes. */
  private readonly inspecting: boolean;
  private readonly active = new BehaviorSubject<number>(0);
  private readonly aggregate = new Subject<AggregateSample>();
  private readonly perConnection = new Subject<ConnectionSample>();
  /** @internal What every connection of this supervisor publishes on (tests watch it). */
  readonly [kConnectionStream] = new ConnectionStream();
  private sampler: TimerHandle | null = null;
  private readonly ids: ConnectionIds;
  /** The id of the connection being created, for the `inspect.select` of its runtime. */
  private openingId = '';
  private total = 0;
  private closedCount = 0;
  private refusedCount = 0;
  private readonly admission: AdmissionHook | null;
  /** `acceptProxy`'s header timeout in ms; null when off. */
  private readonly acceptTimeout: number | null;
  private readonly sendProxy: ProxyProtocolVersion | null;
  /** The preamble of a client without a PROXY header: one object shared by all of them. */
  private readonly plainPreamble: ConnectionPreamble | null;
  /** Clients whose PROXY header is being read: shutdown refuses them. */
  private readonly pendingHeaders = new Set<ProxyHeaderReader>();
  /**
   * Bytes the stream has carried, disposed connections' in full: at a tick, after every
   * connection has published what moved, the aggregate of live and retired bytes.
   */
  private streamedC2S = 0;
  private streamedS2C = 0;
  private shutdownPromise: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  private deadline: TimerHandle | null = null;
  private drainTimer: TimerHandle | null = null;
  /** Removes the abort listeners of the `signal` options, once shutdown is complete. */
  private unwatchSignals: (() => void)[] = [];

  constructor(options: SupervisorOptions = {}) {
    super();
    // One timer wheel per supervisor: its connections' timers on one real timer (issue 14).
    const [own, env] = resolveEnvironment(options, () => new TimerWheel());
    const { activitySampleInterval, logCapacity, inspect, signal, admit, acceptProxy, sendProxy, instance, boot, ...lifecycle } = own;
    this.ids = new ConnectionIds({ instance, boot });
    this.admission = admit === undefined ? null : checkAdmissionHook(admit);
    ({ acceptTimeout: this.acceptTimeout, sendProxy: this.sendProxy } = resolveProxyProtocol(acceptProxy, sendProxy));
    this.plainPreamble = this.sendProxy === null ? null : Object.freeze({ sendProxy: this.sendProxy });
    this.defaults = resolveOptions(lifecycle);
    this.sampleInterval = activitySampleInterval === undefined ? 1000 : checkDuration('activitySampleInterval', activitySampleInterval);
    this.inspecting = inspect !== undefined;
    if (logCapacity !== undefined) checkCount('logCapacity', logCapacity);
    const abortSignal = signal === undefined ? undefined : checkSignal('signal', signal);
    this.clock = env.clock;
    // A supervisor always keeps a log: its streams and metrics read it.
    this.log = env.log ?? new EventLog({ capacity: logCapacity });
    this.events$ = this.log.records$;
    this.activeConnections$ = this.active.asObservable();
    this.bytes$ = this.aggregate.asObservable();
    this.connectionBytes$ = this.perConnection.asObservable();
    this.env = {
      ...env,
      log: this.log,
      runtime: this.runtimeFactory(env.runtime, inspect),
      stream: this[kConnectionStream],
    };
    // The stream's only two subscribers, whatever the number of connections. Sampling first:
    // disposing of the last connection after shutdown completes the stream.
    this[kConnectionStream].messages$.subscribe((message) => this.sampled(message));
    this[kConnectionStream].messages$.subscribe((message) => {
      if (message.type === 'final') this.disposed(message);
    });
    // Last: an aborted signal shuts the supervisor down at once.
    if (abortSignal !== undefined) this.unwatchSignals.push(whenAborted(abortSignal, () => void this.shutdown()));
  }

  /** Inspected connections run as actors; the id is the one about to be created. */
  private runtimeFactory(base: RuntimeFactory, inspect: SupervisorOptions['inspect']): RuntimeFactory {
    if (inspect === undefined) return base;
    if (typeof inspect !== 'object' || inspect === null || (typeof inspect.observer !== 'function' && typeof inspect.observer !== 'object')) {
      throw new InvalidOptionError('inspect', 'inspect must be { observer, select? } with an inspection callback or observer');
    }
    return (settings, clock, host) =>
      inspect.select === undefined || inspect.select(this.openingId)
        ? new ActorRuntime(settings, clock, host, inspect.observer)
        : base(settings, clock, host);
  }

  /** This supervisor's `instance`: the first part of its connection ids. */
  get instance(): string {
    return this.ids.instance;
  }

  /** This supervisor's `boot` id: the second part of its connection ids. */
  get boot(): string {
    return this.ids.boot;
  }

  /** Clients accepted whose PROXY header is still being read (`acceptProxy`). */
  get pendingHeaderCount(): number {
    return this.pendingHeaders.size;
  }

  /** Live, total and closed connection counts. */
  get stats(): SupervisorStats {
    return { active: this.connections.size, total: this.total, closed: this.closedCount, refused: this.refusedCount };
  }

  /** Whether {@link shutdown} has begun. */
  get closing(): boolean {
    return this.shutdownPromise !== null;
  }

  /**
   * Applies the admission hook (`admit` option) to a client just accepted, before any
   * connection or upstream exists (`address`: the client's, by default the socket's): `true` to go on and {@link forward} it; `false` when it was
   * refused, in which case the client is destroyed, counted in `stats.refused` and reported as
   * a `refused` event. Also `false`, destroying the client, once shutdown has begun.
   *
   * @example
   * ```ts
   * net.createServer({ allowHalfOpen: true }, (client) => {
   *   if (supervisor.admit(client)) supervisor.forward(client, () => net.connect(5432, 'db'));
   * });
   * ```
   */
  admit(client: SocketLike, address: string | null = client.remoteAddress ?? null, port: number | undefined = address === client.remoteAddress ? client.remotePort : undefined): boolean {
    if (this.shutdownPromise !== null) {
      client.destroy();
      return false;
    }
    const verdict = this.admission === null ? true : this.admission(client, address);
    if (verdict === true) return true;
    const from = address === null ? null : port === undefined ? address : hostPort(address, port);
    this.refuse(client, { limit: typeof verdict === 'string' ? verdict : 'admit', client: from });
    return false;
  }

  /**
   * Refuses a client at the door: destroys it (if not already), counts it in
   * `stats.refused`, appends a `refused` record to the event log and emits `refused`. For
   * policies applied outside the admission hook, and for clients Node closed unserved (`client`
   * null, e.g. a `net.Server` `'drop'`).
   */
  refuse(client: SocketLike | null, options: RefuseOptions): Refusal {
    // The address first: a destroyed socket no longer knows it.
    const from = options.client !== undefined ? options.client : client === null ? null : (peerName(client) ?? null);
    if (client !== null && !client.destroyed) client.destroy();
    const refused = refusal(this.clock.now(), from, options.reason ?? 'rejected', options.limit, options.error ?? null);
    this.refusedCount++;
    if (this.log.active) {
      const record: RefusedRecord = { t: refused.t, kind: 'refused', reason: refused.reason, limit: refused.limit, code: refused.code };
      if (from !== null) record.client = from;
      if (refused.error !== null) record.error = refused.error;
      this.log.append(record);
    }
    this.emit('refused', refused);
    return refused;
  }

  /**
   * Proxies `client` to `upstream` and supervises the connection. `overrides` replace the
   * supervisor's defaults for this connection only.
   *
   * @throws {SupervisorClosedError} after `shutdown()` began; the client socket (and an
   * upstream socket, if one was given) is destroyed, so nothing leaks.
   * @throws {InvalidOptionError} for a bad override; naming `acceptProxy` when that is on
   * (`forward()` reads no PROXY header: use {@link accept}), after destroying the sockets.
   */
  forward(client: SocketLike, upstream: Upstream, overrides?: LifecycleOptions): Connection {
    if (this.shutdownPromise !== null) {
      dropSockets(client, upstream);
      throw new SupervisorClosedError();
    }
    if (this.acceptTimeout !== null) {
      dropSockets(client, upstream);
      throw new InvalidOptionError('acceptProxy', 'acceptProxy is on: forward() would pass the PROXY header on as data; use supervisor.accept(client, upstream), which reads it first');
    }
    const options = overrides ? resolveOptions(overrides, this.defaults) : this.defaults;
    return this.open(client, upstream, options, this.plainPreamble);
  }

  /**
   * The whole door for a listener: reads the client's PROXY header first when `acceptProxy`
   * is on, applies the admission hook ({@link admit}) under the header's source address (the
   * socket's for a v2 LOCAL or v1 UNKNOWN header, or without `acceptProxy`), then forwards the
   * client ({@link forward}), the bytes after the header first. Nothing is dialled before
   * that: give `upstream` as a function, and a refused or bad client never costs an upstream
   * connect (an upstream socket given as such is destroyed with a refused client). A bad,
   * missing or late header, or a client gone mid-header, is refused with
   * `proxy_header_invalid` or `proxy_header_timeout` (limit `accept_proxy`, the header's
   * error code); a client whose header is pending when shutdown begins, with limit `shutdown`.
   *
   * Resolves with the connection, or null when the client was refused or shutdown had begun
   * (then the sockets are destroyed); never rejects.
   *
   * @throws {InvalidOptionError} for a bad override, at once.
   *
   * @example
   * ```ts
   * const supervisor = new Supervisor({ acceptProxy: true });
   * net.createServer({ allowHalfOpen: true }, (client) => {
   *   void supervisor.accept(client, () => net.connect(5432, 'db'));
   * });
   * ```
   */
  accept(client: SocketLike, upstream: Upstream, overrides?: LifecycleOptions): Promise<Connection | null> {
    const options = overrides ? resolveOptions(overrides, this.defaults) : this.defaults;
    if (this.shutdownPromise !== null) {
      dropSockets(client, upstream);
      return Promise.resolve(null);
    }
    if (this.acceptTimeout === null) {
      if (!this.admit(client)) return Promise.resolve(dropUpstream(upstream));
      return Promise.resolve(this.open(client, upstream, options, this.plainPreamble));
    }
    if (client.destroyed) {
      this.refuse(client, { reason: 'proxy_header_invalid', limit: 'accept_proxy', error: 'PROXY_HEADER_MISSING' });
      return Promise.resolve(dropUpstream(upstream));
    }
    return new Promise((resolve) => {
      const reader = new ProxyHeaderReader(client, { timeout: this.acceptTimeout!, clock: this.clock }, (outcome, done) => {
        this.pendingHeaders.delete(done);
        resolve(this.afterHeader(client, upstream, options, outcome));
      });
      this.pendingHeaders.add(reader);
    });
  }

  /** A client's PROXY header was read (or not): refuse, or admit under its source and open. */
  private afterHeader(client: SocketLike, upstream: Upstream, options: ResolvedLifecycleOptions, outcome: ProxyHeaderOutcome): Connection | null {
    if (outcome.state !== 'done') {
      if (outcome.state === 'stopped') this.refuse(client, { limit: this.shutdownPromise !== null ? 'shutdown' : 'aborted' });
      else this.refuse(client, { reason: outcome.state === 'timeout' ? 'proxy_header_timeout' : 'proxy_header_invalid', limit: 'accept_proxy', error: outcome.code });
      return dropUpstream(upstream);
    }
    const { source, destination } = outcome.header;
    const admitted = source === undefined ? this.admit(client) : this.admit(client, source.address, source.port);
    if (!admitted) return dropUpstream(upstream);
    const preamble: ConnectionPreamble = { source, destination };
    if (this.sendProxy !== null) preamble.sendProxy = this.sendProxy;
    // The reader left the client paused, the bytes after the header back in it; the
    // connection's handlers are bound before the resume takes effect (next tick).
    client.resume();
    return this.open(client, upstream, options, preamble);
  }

  /** Creates and registers a connection (shutdown and acceptProxy already checked). */
  private open(client: SocketLike, upstream: Upstream, options: ResolvedLifecycleOptions, preamble: ConnectionPreamble | null): Connection {
    const id = (this.openingId = this.ids.next());
    const connection = new Connection(id, client, upstream, options, this.env, preamble);
    if (connection.disposed) return connection;
    this.connections.set(connection.id, connection);
    this.total++;
    this.active.next(this.connections.size);
    this.armSampler();
    this.emit('connection', connection);
    return connection;
  }

  /**
   * Graceful shutdown: takes no new connections at once; lets connections finish by
   * themselves for `drainTimeout` (default 0), as HAProxy's soft-stop and Envoy's drain do;
   * then ends both sides of what is left after their pending writes (bounded by each
   * connection's grace period); destroys whatever is still there at `timeout` (default
   * 30 000), or when `signal` aborts. Resolves once every connection is disposed. Safe to
   * call more than once: later calls return the same promise, and a `signal` given to one
   * can still force it.
   *
   * @throws {InvalidOptionError} for a bad option, on any call.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    const { timeout, drainTimeout, signal } = shutdownOptions(options);
    if (this.shutdownPromise === null) {
      this.shutdownPromise = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      // Not connections yet: refused at once, as admit() refuses from now on.
      this.stopHeaderReads();
      // Forced from the start: nothing to end gracefully first.
      if (signal?.aborted !== true) {
        if (drainTimeout === 0) this.endAll();
        else if (drainTimeout < timeout) this.drainTimer = this.clock.setTimeout(() => this.endAll(), drainTimeout);
      }
      if (this.connections.size > 0) {
        this.deadline = this.clock.setTimeout(() => {
          this.deadline = null;
          this.abort();
        }, timeout);
      }
    }
    if (signal !== undefined && this.drained !== null) this.unwatchSignals.push(whenAborted(signal, () => this.abort()));
    this.checkDrained();
    return this.shutdownPromise;
  }

  /** `await using`: a graceful {@link shutdown} with its defaults. */
  [asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Ends both sides of every live connection (the machine's SHUTDOWN). */
  private endAll(): void {
    this.drainTimer = null;
    for (const connection of [...this.connections.values()]) connection.shutdown();
  }

  /** Destroys every connection now, and refuses the clients whose PROXY header is still being read. */
  abort(): void {
    this.stopHeaderReads();
    for (const connection of [...this.connections.values()]) connection.abort();
  }

  /** Ends every pending PROXY-header read: each client is refused (limit `shutdown`, or `aborted` without a shutdown). */
  private stopHeaderReads(): void {
    for (const reader of [...this.pendingHeaders]) reader.stop();
  }

  /** Disposal, a subscriber of the connection stream: each connection's final state, once. */
  private disposed({ connection, info }: FinalMessage): void {
    // A connection disposed while being created was never taken on.
    if (!this.connections.delete(connection.id)) return;
    this.closedCount++;
    this.active.next(this.connections.size);
    this.emit('close', info);
    if (this.connections.size === 0) this.disarmSampler();
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.drained === null || this.connections.size > 0) return;
    if (this.deadline !== null) {
      this.clock.clearTimeout(this.deadline);
      this.deadline = null;
    }
    if (this.drainTimer !== null) {
      this.clock.clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    const resolve = this.drained;
    this.drained = null;
    for (const unwatch of this.unwatchSignals) unwatch();
    this.unwatchSignals = [];
    this.active.complete();
    this.aggregate.complete();
    this.perConnection.complete();
    this[kConnectionStream].complete();
    resolve();
  }

  private armSampler(): void {
    if (this.sampler !== null || this.sampleInterval === 0) return;
    this.sampler = this.clock.setTimeout(() => this.sample(), this.sampleInterval);
  }

  private disarmSampler(): void {
    if (this.sampler === null) return;
    this.clock.clearTimeout(this.sampler);
    this.sampler = null;
  }

  /**
   * One sampling tick: every connection publishes what moved on the stream (which
   * {@link sampled} adds up), then the aggregate goes to whoever listens. The machines get an
   * `ACTIVITY` checkpoint only when a log keeps it or an inspector shows it: their timers take
   * one themselves before they fire (and count from the last byte either way), so a tick
   * that nobody records would only re-arm each connection's inactivity timers, a machine step
   * and two timers per connection per second with `socketTimeout` and `idleTimeout` on.
   */
  private sample(): void {
    this.sampler = null;
    const t = this.clock.now();
    const checkpoint = this.log.active || this.inspecting;
    for (const connection of this.connections.values()) connection[kSample](t, checkpoint);
    if (this.aggregate.observed) this.aggregate.next({ t, active: this.connections.size, clientToServer: this.streamedC2S, serverToClient: this.streamedS2C });
    if (this.connections.size > 0) this.armSampler();
  }

  /** Sampling, a subscriber of the connection stream: bytes into the totals and `connectionBytes$`. */
  private sampled(message: ConnectionMessage): void {
    // A connection disposed while being created adds nothing: it never read a byte.
    this.streamedC2S += message.addedClientToServer;
    this.streamedS2C += message.addedServerToClient;
    if (message.type === 'activity' && this.perConnection.observed) {
      this.perConnection.next({ t: message.t, id: message.connection.id, clientToServer: message.clientToServer, serverToClient: message.serverToClient });
    }
  }
}

/** Destroys a client and, when it was given as a socket, its upstream. */
function dropSockets(client: SocketLike, upstream: Upstream): void {
  client.destroy();
  dropUpstream(upstream);
}

/** Destroys an upstream given as a socket (a factory was never called); null, for the caller's result. */
function dropUpstream(upstream: Upstream): null {
  if (typeof upstream !== 'function') upstream.destroy();
  return null;
}
