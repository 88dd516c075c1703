import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { CloseReason } from '../../index.js';
import type { ClosedItem } from '../follow.js';
import type { StopResult } from '../proxy-server.js';

/** What a scenario needs from the demo: the proxy's port and each connection's outcome. */
export interface ScenarioContext {
  proxyPort: number;
  /** The proxy's record of the connection whose client is `key` (`host:port`), once disposed. */
  closed(key: string): Promise<ClosedItem>;
  /** Graceful shutdown of the proxy, as SIGTERM does it. */
  stop(timeoutMs: number): Promise<StopResult>;
  /** The socket timeout the demo's proxy runs with. */
  socketTimeout: number;
}

/** One row of the summary table. */
export interface Row {
  scenario: string;
  expected: string;
  delivered: string;
  client: string;
  server: string;
  term: string;
  ok: boolean;
  note?: string;
}

/** A scenario a naive proxy gets wrong. */
export interface Scenario {
  title: string;
  /** What the client does and what must happen. */
  story: string;
  /** What `a.pipe(b); b.pipe(a)` does instead. */
  naive: string;
  run(ctx: ScenarioContext): Promise<Row[]>;
}

const BOUND_MS = 8000;

/** Rejects with `what` if `promise` does not settle within the bound: the demo never hangs. */
function within<T>(promise: Promise<T>, what: string, ms = BOUND_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

/** The proxy's record of `client`'s connection, once it has closed it. */
function proxyClosed(ctx: ScenarioContext, client: Client): Promise<ClosedItem> {
  return within(ctx.closed(client.key), 'the proxy to close the connection');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A client connection through the proxy, recording what it receives. */
class Client {
  readonly socket: net.Socket;
  readonly chunks: Buffer[] = [];
  received = 0;
  /** Resolves when the proxy sends FIN (or the socket closes). */
  readonly ended: Promise<void>;
  error: string | null = null;
  key = '';

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.received += c.length;
    });
    this.socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e.code ?? e.message));
    this.ended = new Promise((resolve) => {
      this.socket.once('end', resolve);
      this.socket.once('close', resolve);
    });
  }

  async connected(): Promise<this> {
    await within(
      new Promise<void>((resolve, reject) => {
        this.socket.once('connect', resolve);
        this.socket.once('error', reject);
      }),
      'the proxy to accept',
    );
    this.key = `${this.socket.localAddress}:${this.socket.localPort}`;
    return this;
  }

  /** Sends `text` to the echo server and resolves once its echo is back. */
  ping(text: string): Promise<void> {
    const until = this.received + Buffer.byteLength(text);
    this.socket.write(text);
    return this.bytes(until);
  }

  /** Resolves once `n` bytes have arrived. */
  bytes(n: number): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (this.received >= n) {
            this.socket.off('data', check);
            resolve();
          }
        };
        this.socket.on('data', check);
        this.socket.once('close', () => (this.received >= n ? resolve() : reject(new Error(`connection closed after ${this.received} of ${n} bytes`))));
        check();
      }),
      `${n} bytes`,
    );
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function open(ctx: ScenarioContext, header?: string): Promise<Client> {
  const client = await new Client(ctx.proxyPort).connected();
  if (header !== undefined) client.socket.write(header + '\n');
  return client;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bytes = (n: number) => `${n} B`;

/** A row from the proxy's record, checking the bytes and the close reasons. */
function row(
  scenario: string,
  closed: ClosedItem,
  expected: { bytes: number; delivered: number; client: CloseReason; server: CloseReason; extra?: boolean },
  note?: string,
): Row {
  const ok =
    expected.delivered === expected.bytes &&
    closed.reasons.client === expected.client &&
    closed.reasons.server === expected.server &&
    (expected.extra ?? true);
  return {
    scenario,
    expected: bytes(expected.bytes),
    delivered: bytes(expected.delivered),
    client: closed.reasons.client ?? '-',
    server: closed.reasons.server ?? '-',
    term: closed.term,
    ok,
    note,
  };
}

/** A row for a scenario that could not finish. */
export function failedRow(scenario: string, err: unknown): Row {
  return { scenario, expected: '?', delivered: '?', client: '-', server: '-', term: '--', ok: false, note: (err as Error).message };
}

export const halfCloseEcho: Scenario = {
  title: 'half-close echo',
  story: 'the client sends 1 MiB, then FIN; the echo server answers every byte, then FIN',
  naive: 'allowHalfOpen false closes the client at its FIN and drops the echo still in flight',
  async run(ctx) {
    const data = randomBytes(1024 * 1024);
    const client = await open(ctx, 'echo');
    client.socket.end(data);
    await within(client.ended, 'the echo to end');
    const got = client.data();
    const closed = await proxyClosed(ctx, client);
    const intact = sha(got) === sha(data);
    return [
      row(this.title, closed, { bytes: data.length, delivered: got.length, client: 'fin', server: 'peer_fin', extra: intact }, intact ? undefined : 'bytes differ'),
    ];
  },
};

export const streamAfterFin: Scenario = {
  title: "stream after the request's FIN",
  story: 'the client sends a request and FIN; the server streams 20 chunks over 0.5 s after it',
  naive: "treats the request's FIN as the end of the connection: the stream is cut",
  async run(ctx) {
    const client = await new Client(ctx.proxyPort).connected();
    client.socket.end('stream 20 512 25\n');
    await within(client.ended, 'the stream to end');
    const closed = await proxyClosed(ctx, client);
    return [row(this.title, closed, { bytes: 20 * 512, delivered: client.received, client: 'fin', server: 'peer_fin' })];
  },
};

export const idleLongLived: Scenario = {
  title: 'idle connection, socket timeouts',
  story: 'the client pings, stays silent for six socket-timeout periods of 200 ms, then pings again',
  naive: 'socket.setTimeout(200, () => socket.destroy()) kills the idle connection',
  async run(ctx) {
    const client = await open(ctx, 'echo');
    await client.ping('ping 1\n');
    await sleep(ctx.socketTimeout * 6);
    await client.ping('ping 2\n');
    client.socket.end();
    await within(client.ended, 'the echo to end');
    const closed = await proxyClosed(ctx, client);
    const survived = closed.socketTimeouts;
    return [
      row(
        this.title,
        closed,
        { bytes: 14, delivered: client.received, client: 'fin', server: 'peer_fin', extra: survived > 0 },
        `survived ${survived} socket timeout${survived === 1 ? '' : 's'}`,
      ),
    ];
  },
};

export const peerReset: Scenario = {
  title: 'peer reset',
  story: 'the server sends 64 KiB, then resets the connection when the client answers',
  naive: 'an unhandled ECONNRESET crashes the process, or the client hangs on a half-dead pair',
  async run(ctx) {
    const size = 64 * 1024;
    const client = await open(ctx, `reset ${size}`);
    await client.bytes(size);
    client.socket.write('ack\n');
    await within(client.ended, 'the client side to be closed');
    client.socket.end();
    const closed = await proxyClosed(ctx, client);
    return [
      row(this.title, closed, { bytes: size, delivered: client.received, client: 'peer_closed', server: 'reset', extra: closed.errors.server !== null }, `server error ${closed.errors.server ?? 'none'}; the client got a clean FIN`),
    ];
  },
};

export const gracefulShutdown: Scenario = {
  title: 'graceful shutdown',
  story: 'while a 10 KiB response is in flight and another connection idles, the proxy is told to stop (deadline 1 s)',
  naive: 'server.close() waits forever for the idle connection; process.exit() cuts the response',
  async run(ctx) {
    const [inFlight, idle] = await Promise.all([open(ctx, 'slow 10 1024 50'), open(ctx, 'echo')]);
    await inFlight.bytes(1024);
    const stopping = ctx.stop(1000);
    // New connections are refused at once.
    const late = new Client(ctx.proxyPort);
    const refused = await within(
      new Promise<boolean>((resolve) => {
        late.socket.once('connect', () => resolve(false));
        late.socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
      }),
      'the new connection to be refused',
    );
    late.socket.destroy();
    await within(inFlight.ended, 'the response in flight to end');
    inFlight.socket.end();
    const done = await within(ctx.closed(inFlight.key), 'the response connection to close');
    const idleClosed = await within(ctx.closed(idle.key), 'the idle connection to be destroyed');
    await within(stopping, 'the proxy to stop');
    idle.socket.destroy();
    return [
      row('shutdown: response in flight', done, { bytes: 10 * 1024, delivered: inFlight.received, client: 'peer_fin', server: 'fin' }, 'finished on its own'),
      row('shutdown: idle at the deadline', idleClosed, { bytes: 0, delivered: idle.received, client: 'aborted', server: 'aborted' }, 'destroyed at the deadline'),
      {
        scenario: 'shutdown: new connection',
        expected: 'refused',
        delivered: refused ? 'refused' : 'accepted',
        client: '-',
        server: '-',
        term: '--',
        ok: refused,
      },
    ];
  },
};

/** The scenarios, in the order the demo runs them (shutdown last: it stops the proxy). */
export const SCENARIOS: readonly Scenario[] = [halfCloseEcho, streamAfterFin, idleLongLived, peerReset, gracefulShutdown];
