/**
 * A small end-to-end rig for lifecycle tests over real loopback sockets: a client-facing
 * proxy server bound to a Supervisor on a ManualClock, and an upstream server whose
 * behaviour each test supplies. Everything the rig opens is closed by `close()`.
 */
import { once } from 'node:events';
import net from 'node:net';
import * as assert from 'uvu/assert';
import { ManualClock, Supervisor, regionName, replay, type Connection, type EventLog, type EventRecord, type SupervisorOptions } from '../../src/index.js';
import { boundListenerCount } from '../../src/internal.js';
import { closeServer, listen } from './sockets.js';
import { until } from './wait.js';
import { assertReplayMatches, recordConnections } from './replay.js';

/** One turn of the event loop, so real socket I/O can run between clock steps. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Collects what a socket reads; `ended` flips on its 'end'. */
export interface Collector {
  data(): Buffer;
  readonly length: number;
  readonly ended: boolean;
}

export function collect(socket: net.Socket): Collector {
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    length += c.length;
  });
  socket.on('end', () => {
    ended = true;
  });
  return {
    data: () => Buffer.concat(chunks),
    get length() {
      return length;
    },
    get ended() {
      return ended;
    },
  };
}

export interface RigOptions {
  /** Supervisor options; the rig adds its ManualClock. */
  supervisor?: Omit<SupervisorOptions, 'clock'>;
  /** Called for each socket the upstream accepts (the upstream allows half-open). */
  upstream: (socket: net.Socket) => void;
  /** Options of the client-facing server. Default `{ allowHalfOpen: true }`. */
  front?: net.ServerOpts;
}

export interface Rig {
  clock: ManualClock;
  supervisor: Supervisor;
  recorded: Connection[];
  front: net.Server;
  upstream: net.Server;
  upstreamPort: number;
  /** Sockets the upstream accepted, in order. */
  upstreamSockets: net.Socket[];
  /** Sockets the client-facing server accepted (before the supervisor took them). */
  accepted: net.Socket[];
  /** Connects a test client (half-open allowed, errors swallowed). */
  connect(): Promise<net.Socket>;
  /** The n-th connection the supervisor took on, once it exists. */
  connection(n?: number): Promise<Connection>;
  /** Destroys every socket and closes both servers. */
  close(): Promise<void>;
}

export async function startRig(options: RigOptions): Promise<Rig> {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ ...options.supervisor, clock });
  const recorded = recordConnections(supervisor);
  const upstreamSockets: net.Socket[] = [];
  const accepted: net.Socket[] = [];
  const clients: net.Socket[] = [];
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    upstreamSockets.push(socket);
    socket.on('error', () => {});
    options.upstream(socket);
  });
  const upstreamPort = await listen(upstream);
  const front = net.createServer(options.front ?? { allowHalfOpen: true }, (client) => {
    accepted.push(client);
    supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1'));
  });
  const port = await listen(front);
  return {
    clock,
    supervisor,
    recorded,
    front,
    upstream,
    upstreamPort,
    upstreamSockets,
    accepted,
    async connect() {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => {});
      clients.push(socket);
      await once(socket, 'connect');
      return socket;
    },
    async connection(n = 0) {
      await until(() => recorded.length > n, `connection ${n} taken on`);
      return recorded[n]!;
    },
    async close() {
      for (const s of [...clients, ...upstreamSockets, ...accepted]) s.destroy();
      for (const c of recorded) c.server?.destroy();
      await closeServer(front);
      await closeServer(upstream);
    },
  };
}

/** `open`, `draining.readEnded`, `closed`, … of one side's region. */
export function region(conn: Connection, side: 'client' | 'server'): string {
  return regionName(conn.state, side);
}

/** The event records of one connection in a log. */
export function eventsOf(log: EventLog, id: number): EventRecord[] {
  return log.records().filter((r): r is EventRecord => r.kind === 'event' && r.conn === id);
}

/** Timer events of one connection whose delay is `delay` (e.g. `socketTimeout`). */
export function timerEvents(log: EventLog, id: number, delay: string): EventRecord[] {
  return eventsOf(log, id).filter((r) => r.event.type.startsWith(`xstate.after.${delay}.`));
}

/**
 * The end of every supervisor test: the supervisor is empty with no timer left on its
 * clock, the log replays to the live state, and no handler of ours is left on a socket.
 */
export async function assertCleanEnd(rig: Rig, ms = 10_000): Promise<void> {
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

/** Replay for a standalone `forward()` connection that was given its own log. */
export function assertForwardReplayMatches(log: EventLog, conn: Connection): void {
  const { connections, incomplete } = replay(log.records());
  assert.equal(incomplete, [], 'log lost the open record');
  const again = connections.get(conn.id);
  assert.ok(again, `connection ${conn.id} missing from replay`);
  assert.equal(again!.value, conn.state, 'replayed state');
  assert.equal(again!.context, conn.context, 'replayed context');
  assert.equal(again!.done, conn.disposed, 'replayed done-ness');
}
