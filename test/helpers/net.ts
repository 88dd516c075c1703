import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { Supervisor, type SupervisorOptions } from '../../src/index.js';

/** Listens on a free loopback port. */
export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Closes a listening server (sockets it accepted are the test's to close). */
export async function closeServer(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** An upstream that echoes every byte, then FINs after the client's FIN (half-open aware). */
export function echoServer(): net.Server {
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
}

/** A proxy on a free port forwarding to `targetPort` through a supervisor. */
export async function startProxy(targetPort: number, options: SupervisorOptions = {}) {
  const supervisor = new Supervisor(options);
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    supervisor.forward(client, () => net.connect(targetPort, '127.0.0.1'));
  });
  const port = await listen(server);
  return {
    supervisor,
    server,
    port,
    async close() {
      await closeServer(server);
    },
  };
}

/** Connects to a loopback port with half-open allowed. */
export async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/** Reads a socket to its end; resolves with all bytes. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function payload(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** Waits until `predicate` holds, polling the event loop (for real-socket tests). */
export async function until(predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The error code of a loopback connect to `port` (e.g. `ECONNREFUSED`), or `null` if it connected. */
export function connectError(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      resolve(null);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/**
 * Three upstreams for tests that need every kind of ending: one that echoes, one that resets
 * at the first byte, and a port that refuses (listened on, then closed).
 */
export async function startUpstreams(): Promise<{ echoPort: number; resetPort: number; refusedPort: number; close(): Promise<void> }> {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const resetter = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.resetAndDestroy());
  });
  const resetPort = await listen(resetter);
  const refused = net.createServer();
  const refusedPort = await listen(refused);
  await closeServer(refused);
  return {
    echoPort,
    resetPort,
    refusedPort,
    async close() {
      await closeServer(echo);
      await closeServer(resetter);
    },
  };
}

/** One round trip through a proxy: sends `text` and FIN, resolves with the echo, or `closed` when it was closed unserved. */
export function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('connect', () => socket.end(text));
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve(got === '' ? 'closed' : got));
  });
}
