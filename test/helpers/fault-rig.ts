/**
 * One fault-matrix cell over real loopback sockets: a test client, the proxy (Supervisor on a
 * ManualClock) and a test upstream, each test peer scripted (reads or not, answers FIN or
 * not), plus the upstream factory the cell needs (a deferred connect, a refused port, a
 * connect that never completes).
 */
import { once } from 'node:events';
import net from 'node:net';
import { ManualClock, Supervisor, type Connection, type SocketLike, type SupervisorOptions } from '../../src/index.js';
import { closeServer, listen } from './sockets.js';
import { closedPort, endpoint, type Endpoint } from './robust-rig.js';

/** How the upstream socket is made. */
export type UpstreamKind = 'connect' | 'deferred' | 'refused' | 'never';

/** A test peer: what it read, plus how it behaves from now on. */
export interface Peer extends Endpoint {
  /** End our side as soon as the proxy's FIN arrives (cooperative). */
  answerFin: boolean;
}

function peer(socket: net.Socket, answerFin = true): Peer {
  const p = endpoint(socket) as Peer;
  p.answerFin = answerFin;
  socket.on('end', () => {
    if (p.answerFin && !socket.writableEnded && !socket.destroyed) socket.end();
  });
  return p;
}

export interface FaultRig {
  clock: ManualClock;
  supervisor: Supervisor;
  conn: Connection;
  client: Peer;
  /** The upstream's accepted socket, once the upstream connected (see {@link connectUpstream}). */
  upstream: Peer | null;
  /** When each of the proxy's own sockets closed, on the rig's clock (null while open). */
  closedAt: { client: number | null; server: number | null };
  /** For a deferred upstream: starts the connect now and waits until the upstream accepted. */
  connectUpstream(answerFin?: boolean): Promise<Peer>;
  /** Waits until the upstream accepted the proxy's connection (a non-deferred upstream). */
  acceptedUpstream(answerFin?: boolean): Promise<Peer>;
  close(): Promise<void>;
}

export interface FaultRigOptions {
  supervisor: Omit<SupervisorOptions, 'clock'>;
  upstream: UpstreamKind;
  /** High-water mark of both proxy sockets (a large one: the proxy buffers without pausing). */
  highWaterMark?: number;
}

export async function startFaultRig(options: FaultRigOptions): Promise<FaultRig> {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ ...options.supervisor, clock });
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): net.Socket => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    return s;
  };
  const accepted: net.Socket[] = [];
  let onAccept: (() => void) | null = null;
  const upstreamServer = net.createServer({ allowHalfOpen: true }, (s) => {
    track(s);
    accepted.push(s);
    onAccept?.();
  });
  const upstreamPort = await listen(upstreamServer);
  const deadPort = options.upstream === 'refused' ? await closedPort() : 0;
  const hwm = options.highWaterMark;
  const closedAt: FaultRig['closedAt'] = { client: null, server: null };
  const proxySocket = (s: net.Socket, side: 'client' | 'server'): net.Socket => {
    s.once('close', () => (closedAt[side] = clock.now()));
    return track(s);
  };
  const connectTo = (port: number) =>
    proxySocket(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...(hwm ? { highWaterMark: hwm } : {}) }), 'server');

  let release: ((s: SocketLike) => void) | null = null;
  const factory = (): SocketLike | Promise<SocketLike> => {
    switch (options.upstream) {
      case 'connect':
        return connectTo(upstreamPort);
      case 'refused':
        return connectTo(deadPort);
      case 'never': {
        // A socket whose connect never completes (as for a peer that drops the SYN).
        const s = proxySocket(new net.Socket(), 'server');
        (s as { connecting: boolean }).connecting = true;
        return s;
      }
      case 'deferred':
        return new Promise<SocketLike>((resolve) => {
          release = resolve;
        });
    }
  };

  let conn: Connection | null = null;
  supervisor.once('connection', (c) => {
    conn = c;
  });
  const proxy = net.createServer({ allowHalfOpen: true, ...(hwm ? { highWaterMark: hwm } : {}) }, (client) => {
    proxySocket(client, 'client');
    supervisor.forward(client, factory);
  });
  const proxyPort = await listen(proxy);
  const clientSocket = track(net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true }));
  const client = peer(clientSocket);
  await once(clientSocket, 'connect');
  await waitUntil(() => conn !== null, 'the proxy to take the connection');

  const acceptedUpstream = async (answerFin = true): Promise<Peer> => {
    if (rig.upstream !== null) return rig.upstream;
    if (accepted.length === 0) await new Promise<void>((resolve) => (onAccept = resolve));
    rig.upstream = peer(accepted[0]!, answerFin);
    return rig.upstream;
  };

  const rig: FaultRig = {
    clock,
    supervisor,
    conn: conn!,
    client,
    upstream: null,
    closedAt,
    async connectUpstream(answerFin = true) {
      if (release === null) throw new Error('the upstream is not deferred (or was released already)');
      const resolve = release as (s: SocketLike) => void;
      release = null;
      resolve(connectTo(upstreamPort));
      return acceptedUpstream(answerFin);
    },
    acceptedUpstream,
    async close() {
      supervisor.abort();
      for (const s of sockets) s.destroy();
      await closeServer(proxy);
      await closeServer(upstreamServer);
    },
  };
  return rig;
}

/** Polls once per event-loop turn until `predicate` holds; throws after `ms` of wall time. */
export async function waitUntil(predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  const start = Date.now();
  for (let i = 0; !predicate(); i++) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await (i < 500 ? new Promise((r) => setImmediate(r)) : new Promise((r) => setTimeout(r, 1)));
  }
}

/**
 * Waits until nothing moves any more: no new log record, no byte counted by the proxy or the
 * peers, no FIN or close seen, for `stable` event-loop turns in a row.
 */
export async function settle(rig: FaultRig, stable = 6, ms = 10_000): Promise<void> {
  const print = () => {
    const c = rig.conn;
    const peers = [rig.client, rig.upstream].map((p) => (p === null ? null : [p.received, p.gotEnd, p.closed, p.socket.writableLength]));
    return JSON.stringify([rig.supervisor.log.records().length, c.clientToServer, c.serverToClient, c.disposed, c.client.writableLength, c.server?.writableLength, peers]);
  };
  const start = Date.now();
  let last = print();
  let same = 0;
  while (same < stable) {
    if (Date.now() - start > ms) throw new Error('the proxy did not settle');
    await new Promise((r) => setImmediate(r));
    const now = print();
    if (now === last) same++;
    else {
      same = 0;
      last = now;
    }
  }
}
