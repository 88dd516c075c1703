/**
 * The loopback rig of the supervisor tests, all on 127.0.0.1: a test client connects to a
 * client-facing listener (the front), whose connections a Supervisor (on the rig's
 * ManualClock unless told otherwise) forwards to an upstream listener. The rig pairs each
 * test client with its Connection and each Connection with the socket the upstream accepted,
 * records what the supervisor did (connections, close infos, refused clients), and closes
 * whatever it opened. The listeners can outlive a supervisor: {@link Loopback.renew} starts
 * afresh for the next run of a property.
 */
import { once } from 'node:events';
import net from 'node:net';
import * as assert from 'uvu/assert';
import { ManualClock, Supervisor, regionName, type CloseInfo, type Connection, type SupervisorOptions, type Upstream } from '../../src/index.js';
import { boundListenerCount } from '../../src/internal.js';
import { assertReplayMatches, recordConnections } from './replay.js';
import { closeServer, endpoint, listen, type Endpoint } from './sockets.js';
import { until } from './wait.js';

export interface LoopbackOptions {
  /** Supervisor options; `clock` defaults to the rig's ManualClock (`rig.clock`). */
  supervisor?: SupervisorOptions;
  /**
   * What the upstream listener does with each socket it accepts, at once (the listener allows
   * half-open and swallows socket errors). Default: nothing; the test drives the socket it
   * gets from {@link Loopback.upstreamOf}.
   */
  upstream?: (socket: net.Socket) => void;
  /** The upstream `forward()` gets for each client. Default: a connect to the upstream listener. */
  dial?: (upstreamPort: number) => Upstream;
  /** Options of the front listener. Default `{ allowHalfOpen: true }`. */
  front?: net.ServerOpts;
  /** Endpoints keep what they read (for `data()` and exact comparisons). */
  keepChunks?: boolean;
  /** The front hands each client to `supervisor.accept()` (the PROXY-header door) instead of `forward()`. */
  accept?: boolean;
}

/** Starts a {@link Loopback}: both listeners on free ports, a supervisor behind the front. */
export async function startLoopback(options: LoopbackOptions = {}): Promise<Loopback> {
  const rig = new Loopback(options);
  await rig.listen();
  return rig;
}

export class Loopback {
  clock!: ManualClock;
  supervisor!: Supervisor;
  /** Every connection the supervisor took on, in order. */
  recorded!: Connection[];
  /** Every 'close' the supervisor emitted, in order. */
  closes!: CloseInfo[];
  /** `forward()` calls that threw (e.g. `SupervisorClosedError`), with the client they got. */
  refused!: { error: unknown; client: net.Socket }[];
  readonly front: net.Server;
  readonly upstream: net.Server;
  proxyPort = 0;
  upstreamPort = 0;
  private readonly options: LoopbackOptions;
  /** Every socket the rig made or accepted (test peers and proxy sockets), until it closes. */
  private readonly sockets = new Set<net.Socket>();
  private readonly fronts: net.Server[] = [];
  private connections!: Keyed<Connection>;
  private accepted!: Keyed<net.Socket>;

  constructor(options: LoopbackOptions) {
    this.options = options;
    this.renew(options.supervisor);
    this.upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.track(socket);
      socket.on('error', () => {});
      this.accepted.set(peerKey(socket), socket);
      options.upstream?.(socket);
    });
    this.front = this.frontServer(options.front ?? { allowHalfOpen: true }, options.dial ?? ((port) => () => this.track(net.connect(port, '127.0.0.1'))));
  }

  /** @internal {@link startLoopback} */
  async listen(): Promise<void> {
    this.upstreamPort = await listen(this.upstream);
    this.proxyPort = await listen(this.front);
  }

  /** A fresh ManualClock and Supervisor (with `options`) behind the same listeners; the records start empty. */
  renew(options: SupervisorOptions = {}): void {
    this.clock = new ManualClock();
    const supervisor = new Supervisor({ ...options, clock: options.clock ?? this.clock });
    this.supervisor = supervisor;
    this.recorded = recordConnections(supervisor);
    const closes: CloseInfo[] = [];
    supervisor.on('close', (info) => closes.push(info));
    this.closes = closes;
    this.refused = [];
    const connections = new Keyed<Connection>();
    supervisor.on('connection', (conn) => connections.set(peerKey(conn.client as net.Socket), conn));
    this.connections = connections;
    this.accepted = new Keyed<net.Socket>();
  }

  /** Another front listener on the same supervisor, whose clients get `dial`'s upstream (say, a refused one). */
  async listenFront(dial: (upstreamPort: number) => Upstream): Promise<{ server: net.Server; port: number }> {
    const server = this.frontServer({ allowHalfOpen: true }, dial);
    this.fronts.push(server);
    return { server, port: await listen(server) };
  }

  /** Connects a test client to a front (half-open allowed) and returns it with its Connection; the upstream is not awaited. */
  async connect(port = this.proxyPort): Promise<{ c: Endpoint; conn: Connection }> {
    const socket = this.track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    const c = endpoint(socket, this.options.keepChunks);
    await once(socket, 'connect');
    const conn = await this.connections.take(pairKey(socket), 'proxy connection for client');
    return { c, conn };
  }

  /** Connects and also waits for the upstream listener's socket. */
  async open(): Promise<{ c: Endpoint; u: Endpoint; conn: Connection }> {
    const { c, conn } = await this.connect();
    const u = await this.upstreamOf(conn);
    return { c, u, conn };
  }

  /** The upstream listener's socket of `conn`, once the proxy saw its upstream connect (not only got a local port). */
  async upstreamOf(conn: Connection): Promise<Endpoint> {
    await until(() => localPort(conn) !== undefined && region(conn, 'server') !== 'connecting', 'upstream connected');
    return this.upstreamAt(conn.server as net.Socket);
  }

  /** The upstream listener's end of `socket` (a proxy-side upstream socket), once `socket` connected. */
  async upstreamAt(socket: net.Socket): Promise<Endpoint> {
    await until(() => socket.localPort !== undefined, 'upstream socket connected');
    return endpoint(await this.accepted.take(pairKey(socket), 'upstream socket for'), this.options.keepChunks);
  }

  /** Sockets of any kind (test peers and proxy sockets) the rig saw open and not closed yet. */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Aborts the supervisor, destroys every socket and closes the listeners (after a failed assertion too: nothing may keep the run alive). */
  async close(): Promise<void> {
    this.supervisor.abort();
    for (const s of this.sockets) s.destroy();
    for (const c of this.recorded) c.server?.destroy();
    for (const server of [this.front, ...this.fronts, this.upstream]) await closeServer(server);
  }

  private frontServer(options: net.ServerOpts, dial: (upstreamPort: number) => Upstream): net.Server {
    return net.createServer(options, (client) => {
      this.track(client);
      if (this.options.accept) {
        void this.supervisor.accept(client, dial(this.upstreamPort));
        return;
      }
      try {
        this.supervisor.forward(client, dial(this.upstreamPort));
      } catch (error) {
        this.refused.push({ error, client });
      }
    });
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }
}

/** `open`, `draining.readEnded`, `closed`, … of one side's region. */
export function region(conn: Connection, side: 'client' | 'server'): string {
  return regionName(conn.state, side);
}

/** The local port of the proxy's upstream socket, once it connected. */
export function localPort(conn: Connection): number | undefined {
  return (conn.server as net.Socket | null)?.localPort;
}

/** Nothing was thrown while `guard` watched, and the log replays to every connection the rig recorded. */
export function assertCleanRun(rig: Loopback, guard: { errors: unknown[] }): void {
  assert.equal(guard.errors, []);
  assertReplayMatches(rig.supervisor, rig.recorded);
}

/**
 * The end of every supervisor test: the supervisor is empty with no timer left on its
 * clock, the log replays to the live state, and no handler of ours is left on a socket.
 */
export async function assertCleanEnd(rig: Loopback, ms = 10_000): Promise<void> {
  await until(() => rig.supervisor.stats.active === 0, 'every connection disposed', ms);
  assert.is(rig.supervisor.stats.active, 0, 'supervisor empty');
  assert.is(rig.supervisor.connections.size, 0, 'no live connection left');
  assert.is(rig.clock.pending, 0, 'no timer left on the clock');
  assertReplayMatches(rig.supervisor, rig.recorded);
  for (const conn of rig.recorded) {
    assert.ok(conn.disposed, `connection ${conn.id} disposed`);
    assert.is(conn.pendingTimers, 0, `connection ${conn.id} has no timers`);
    assert.is(boundListenerCount(conn.client), 0, `no handler left on client socket of ${conn.id}`);
    assert.ok(conn.server !== null, `connection ${conn.id} had an upstream socket`);
    assert.is(boundListenerCount(conn.server!), 0, `no handler left on server socket of ${conn.id}`);
  }
}

/**
 * The key of a TCP connection as seen from one end: its local and remote ports. A local
 * port alone is ambiguous: the kernel may hand out the same ephemeral port at once for
 * connections to different destinations.
 */
function pairKey(socket: { localPort?: number; remotePort?: number }): number {
  return (socket.localPort ?? 0) * 65536 + (socket.remotePort ?? 0);
}

/** {@link pairKey} of the other end of the same connection. */
function peerKey(socket: { localPort?: number; remotePort?: number }): number {
  return (socket.remotePort ?? 0) * 65536 + (socket.localPort ?? 0);
}

/** Values that arrive by key, awaited by key (no polling). */
class Keyed<V> {
  private readonly values = new Map<number, V>();
  private readonly waiters = new Map<number, (v: V) => void>();

  set(key: number, value: V): void {
    const waiter = this.waiters.get(key);
    if (waiter !== undefined) {
      this.waiters.delete(key);
      waiter(value);
    } else this.values.set(key, value);
  }

  /** Resolves with the value for `key` (and forgets it), or rejects after `ms`. */
  take(key: number, what: string, ms = 5000): Promise<V> {
    const have = this.values.get(key);
    if (have !== undefined) {
      this.values.delete(key);
      return Promise.resolve(have);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`timed out waiting for ${what} ${key}`));
      }, ms);
      this.waiters.set(key, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }
}
