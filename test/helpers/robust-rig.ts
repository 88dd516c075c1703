import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { ManualClock, Supervisor, regionName, type CloseInfo, type Connection, type SupervisorOptions, type Upstream } from '../../src/index.js';
import { closeServer, listen } from './sockets.js';
import { until } from './wait.js';
import { recordConnections } from './replay.js';

/** Records uncaught exceptions and unhandled rejections while installed. */
export function guardUncaught(): { errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

/** A loopback port nothing listens on (it was listening a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

/**
 * The key of a TCP connection as seen from one end: its local and remote ports. A local
 * port alone is ambiguous: the kernel may hand out the same ephemeral port at once for
 * connections to different destinations.
 */
export function pairKey(socket: { localPort?: number; remotePort?: number }): number {
  return (socket.localPort ?? 0) * 65536 + (socket.remotePort ?? 0);
}

/** {@link pairKey} of the other end of the same connection. */
export function peerKey(socket: { localPort?: number; remotePort?: number }): number {
  return (socket.remotePort ?? 0) * 65536 + (socket.localPort ?? 0);
}

/** Values that arrive by key, awaited by key (no polling). */
export class Keyed<V> {
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

  get size(): number {
    return this.values.size + this.waiters.size;
  }
}

/** A test-side socket with what it received and whether it saw FIN / close / errors. */
export interface Endpoint {
  socket: net.Socket;
  received: number;
  hash: Hash;
  chunks: Buffer[] | null;
  gotEnd: boolean;
  closed: boolean;
  errors: string[];
}

/** Watches a test-side socket: counts and hashes what it reads, records end/close/errors. */
export function endpoint(socket: net.Socket, keepChunks = false): Endpoint {
  const ep: Endpoint = {
    socket,
    received: 0,
    hash: createHash('sha256'),
    chunks: keepChunks ? [] : null,
    gotEnd: false,
    closed: socket.destroyed,
    errors: [],
  };
  socket.on('data', (chunk: Buffer) => {
    ep.received += chunk.length;
    ep.hash.update(chunk);
    ep.chunks?.push(chunk);
  });
  socket.on('end', () => {
    ep.gotEnd = true;
  });
  socket.on('close', () => {
    ep.closed = true;
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    ep.errors.push(err.code ?? err.name);
  });
  return ep;
}

/** A supervisor behind a loopback proxy listener, an upstream listener, and pairing helpers. */
export interface Rig {
  supervisor: Supervisor;
  clock: ManualClock;
  recorded: Connection[];
  closes: CloseInfo[];
  /** `forward()` calls that threw (e.g. `SupervisorClosedError`), with the client they got. */
  refused: { error: unknown; client: net.Socket }[];
  upstreamPort: number;
  proxyPort: number;
  /** Connects a client through the proxy and returns it with its Connection (upstream not awaited). */
  connect(): Promise<{ c: Endpoint; conn: Connection }>;
  /** Connects and also waits for the upstream's accepted socket. */
  open(): Promise<{ c: Endpoint; u: Endpoint; conn: Connection }>;
  /** Waits for the upstream listener's socket of `conn` (once its upstream connected). */
  upstreamOf(conn: Connection): Promise<Endpoint>;
  close(): Promise<void>;
}

export interface RigOptions {
  supervisor?: SupervisorOptions;
  /** Upstream for each forwarded client; default: connect to the rig's upstream listener. */
  upstream?: (port: number) => Upstream;
  /** Keep the received chunks of each endpoint (for exact comparisons). */
  keepChunks?: boolean;
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const clock = (options.supervisor?.clock as ManualClock | undefined) ?? new ManualClock();
  const supervisor = new Supervisor({ ...options.supervisor, clock });
  const recorded = recordConnections(supervisor);
  const closes: CloseInfo[] = [];
  supervisor.on('close', (info) => closes.push(info));
  const connections = new Keyed<Connection>();
  supervisor.on('connection', (conn) => connections.set(peerKey(conn.client as net.Socket), conn));
  const accepted = new Keyed<net.Socket>();
  const upstreamSockets = new Set<net.Socket>();
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    upstreamSockets.add(socket);
    socket.on('close', () => upstreamSockets.delete(socket));
    socket.on('error', () => {});
    accepted.set(peerKey(socket), socket);
  });
  const upstreamPort = await listen(upstream);
  const refused: Rig['refused'] = [];
  const factory = options.upstream ?? ((port: number) => () => net.connect(port, '127.0.0.1'));
  const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
    try {
      supervisor.forward(client, factory(upstreamPort));
    } catch (error) {
      refused.push({ error, client });
    }
  });
  const proxyPort = await listen(proxy);
  const clients = new Set<net.Socket>();

  const rig: Rig = {
    supervisor,
    clock,
    recorded,
    closes,
    refused,
    upstreamPort,
    proxyPort,
    async connect() {
      const socket = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
      clients.add(socket);
      socket.on('close', () => clients.delete(socket));
      const c = endpoint(socket, options.keepChunks);
      await once(socket, 'connect');
      const conn = await connections.take(pairKey(socket), 'proxy connection for client');
      return { c, conn };
    },
    async open() {
      const { c, conn } = await rig.connect();
      const u = await rig.upstreamOf(conn);
      return { c, u, conn };
    },
    async upstreamOf(conn) {
      // The proxy has seen its upstream connect (not only got a local port).
      await until(() => localPort(conn) !== undefined && region(conn, 'server') !== 'connecting', 'upstream connected');
      return endpoint(await accepted.take(pairKey(conn.server as net.Socket), 'upstream socket for'), options.keepChunks);
    },
    async close() {
      // After a failed assertion, do not leave anything open (the run would hang).
      supervisor.abort();
      for (const s of clients) s.destroy();
      for (const s of upstreamSockets) s.destroy();
      await closeServer(proxy);
      await closeServer(upstream);
    },
  };
  return rig;
}

/** The local port of the proxy's upstream socket, once it connected. */
export function localPort(conn: Connection): number | undefined {
  return (conn.server as net.Socket | null)?.localPort;
}

/** `open`, `draining.flushing`, … of one side. */
export function region(conn: Connection, side: 'client' | 'server'): string {
  return regionName(conn.state, side);
}

/** Error codes that mean a reset. */
export const RESET_CODES = ['ECONNRESET', 'EPIPE', 'ECONNABORTED'];


/** Lets the event loop turn `n` times (I/O included). */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
