/**
 * The real side of the binding model test: loopback client <-> proxy (Supervisor on a
 * ManualClock) <-> upstream server. The two listeners live for the whole property; each run
 * gets a fresh Supervisor and clock and exactly one proxied connection.
 */
import { once } from 'node:events';
import net from 'node:net';
import { ManualClock, Supervisor, type Connection, type SupervisorOptions } from '../../src/index.js';
import { closeServer, listen } from './sockets.js';
import { endpoint, type Endpoint } from './robust-rig.js';

/** Polls `predicate` once per event-loop turn (I/O included) until it holds, or throws after `ms`. */
export async function waitFor(predicate: () => boolean, what: () => string, ms = 3000): Promise<void> {
  const start = Date.now();
  for (let i = 0; !predicate(); i++) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what()}`);
    await (i < 200 ? new Promise((r) => setImmediate(r)) : new Promise((r) => setTimeout(r, 1)));
  }
}

/**
 * Waits until `fingerprint()` has not changed for `stable` consecutive event-loop turns: every
 * socket event caused by the last action has been delivered.
 */
export async function quiesce(fingerprint: () => string, stable = 4, ms = 3000): Promise<void> {
  const start = Date.now();
  let last = fingerprint();
  let same = 0;
  while (same < stable) {
    if (Date.now() - start > ms) throw new Error('the proxy did not settle');
    await new Promise((r) => setImmediate(r));
    const now = fingerprint();
    if (now === last) same++;
    else {
      same = 0;
      last = now;
    }
  }
}

export interface LiveRun {
  clock: ManualClock;
  supervisor: Supervisor;
  conn: Connection;
  client: Endpoint;
  upstream: Endpoint;
  /** Destroys whatever test socket is left and waits for it to close. */
  destroyPeers(): Promise<void>;
}

/** The two listeners shared by every run of the property. */
export class LiveBench {
  private proxy!: net.Server;
  private upstreamServer!: net.Server;
  private proxyPort = 0;
  private current: Supervisor | null = null;
  private acceptedUpstream: net.Socket[] = [];
  private readonly everything = new Set<net.Socket>();

  async start(): Promise<void> {
    this.upstreamServer = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.track(socket);
      this.acceptedUpstream.push(socket);
    });
    const upstreamPort = await listen(this.upstreamServer);
    this.proxy = net.createServer({ allowHalfOpen: true }, (client) => {
      this.track(client);
      const supervisor = this.current;
      if (supervisor === null) {
        client.destroy();
        return;
      }
      supervisor.forward(client, () => this.track(net.connect(upstreamPort, '127.0.0.1')));
    });
    this.proxyPort = await listen(this.proxy);
  }

  private track(socket: net.Socket): net.Socket {
    this.everything.add(socket);
    socket.on('close', () => this.everything.delete(socket));
    return socket;
  }

  /** Sockets of any kind (test peers and proxy sockets) not closed yet. */
  get openSockets(): number {
    return this.everything.size;
  }

  /** A fresh supervisor and one connection through it, with the upstream connected. */
  async open(options: SupervisorOptions): Promise<LiveRun> {
    const clock = new ManualClock();
    const supervisor = new Supervisor({ ...options, clock });
    this.current = supervisor;
    this.acceptedUpstream = [];
    let conn: Connection | null = null;
    supervisor.once('connection', (c) => {
      conn = c;
    });
    const socket = this.track(net.connect({ port: this.proxyPort, host: '127.0.0.1', allowHalfOpen: true }));
    const client = endpoint(socket);
    await once(socket, 'connect');
    await waitFor(
      () => conn !== null && this.acceptedUpstream.length === 1 && conn.server !== null && conn.server.connecting === false && conn.context !== undefined && regionOf(conn) === 'open',
      () => 'the proxied connection to open',
    );
    const upstream = endpoint(this.acceptedUpstream[0]!);
    const live = conn! as Connection;
    return {
      clock,
      supervisor,
      conn: live,
      client,
      upstream,
      destroyPeers: async () => {
        for (const ep of [client, upstream]) if (!ep.socket.destroyed) ep.socket.destroy();
        await waitFor(() => client.closed && upstream.closed, () => 'test peers to close');
        this.current = null;
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.everything) s.destroy();
    await closeServer(this.proxy);
    await closeServer(this.upstreamServer);
  }
}

function regionOf(conn: Connection): string {
  const value = conn.state as { server?: unknown };
  return typeof value.server === 'string' ? value.server : 'draining';
}
