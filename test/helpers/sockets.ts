/**
 * Loopback socket utilities for tests: listen and close, connect and read, watch a test-side
 * socket ({@link endpoint}), and the upstreams tests keep needing (echo, reset, refused).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';

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

/** A loopback port nothing listens on (it was listening a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

/** An upstream that echoes every byte, then FINs after the client's FIN (half-open aware). */
export function echoServer(): net.Server {
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
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

/** Error codes that mean a reset. */
export const RESET_CODES = ['ECONNRESET', 'EPIPE', 'ECONNABORTED'];

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
  const refusedPort = await closedPort();
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

/** A test-side socket with what it received and whether it saw FIN / close / errors. */
export interface Endpoint {
  socket: net.Socket;
  received: number;
  /** sha256 of everything received so far (`hash.copy().digest()` to read it mid-stream). */
  hash: Hash;
  /** What it received, when kept (see {@link endpoint}). */
  chunks: Buffer[] | null;
  gotEnd: boolean;
  closed: boolean;
  errors: string[];
  /** The bytes received, in one buffer (only when the chunks are kept). */
  data(): Buffer;
}

/**
 * Watches a test-side socket: counts and hashes what it reads (keeping the chunks with
 * `keepChunks`), records end, close and error codes. It reads from now on (flowing mode).
 */
export function endpoint(socket: net.Socket, keepChunks = false): Endpoint {
  const ep: Endpoint = {
    socket,
    received: 0,
    hash: createHash('sha256'),
    chunks: keepChunks ? [] : null,
    gotEnd: false,
    closed: socket.destroyed,
    errors: [],
    data() {
      if (ep.chunks === null) throw new Error('endpoint(socket, keepChunks = true) keeps what it reads');
      return Buffer.concat(ep.chunks);
    },
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
