// SIGTERM / SIGINT on `proxy-lifecycle forward`: stop accepting, let connections in flight
// finish, destroy what is left at --shutdown-timeout, exit 0.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLines, counterOf, ensureBuilt, startForward } from './helpers/cli-harness.js';
import { closeServer, connect, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

/**
 * A client that sends `s` gets `count` chunks of 1 KiB, one every `every` ms, then a FIN;
 * any other client gets nothing, ever.
 */
function slowUpstream(count: number, every: number): { server: net.Server; close(): Promise<void> } {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.resume();
      if (first[0] === 0x73) stream(socket);
    });
  });
  const stream = (socket: net.Socket) => {
    let sent = 0;
    const timer = setInterval(() => {
      socket.write(Buffer.alloc(1024, 0x73));
      if (++sent === count) {
        clearInterval(timer);
        socket.end();
      }
    }, every);
    socket.on('close', () => clearInterval(timer));
  };
  return {
    server,
    async close() {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

/** Collects a client's bytes; `ended` once the proxy FINs it (the client then FINs back). */
function track(client: net.Socket) {
  const state = { bytes: 0, ended: false, closed: false };
  client.on('data', (c: Buffer) => (state.bytes += c.length));
  client.on('error', () => {});
  client.once('end', () => {
    state.ended = true;
    client.end();
  });
  client.once('close', () => (state.closed = true));
  return state;
}

/** Resolves with the error code of a connection attempt, or 'connected'. */
async function attempt(port: number): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    return await new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
  } finally {
    socket.destroy();
  }
}

test('SIGTERM: new connections are refused, the one in flight finishes, the idle one is destroyed at --shutdown-timeout, exit 0', async () => {
  const slow = slowUpstream(20, 40);
  const upstreamPort = await listen(slow.server);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--shutdown-timeout', '1500']);
  try {
    const busy = await connect(port);
    const busyState = track(busy);
    const idle = await connect(port);
    const idleState = track(idle);
    busy.write('s');
    idle.write('i');
    const [busyFrom, idleFrom] = [`127.0.0.1:${busy.localPort}`, `127.0.0.1:${idle.localPort}`];
    await until(() => busyState.bytes > 0, 'the response to start flowing');
    child.kill('SIGTERM');
    await child.waitFor('stderr', /^SIGTERM: not accepting connections; 2 in flight/);
    assert.is(await attempt(port), 'ECONNREFUSED', 'a new connection is refused once the signal arrived');
    await until(() => busyState.closed, 'the response in flight to finish', 10_000);
    assert.is(busyState.bytes, 20 * 1024, 'every byte of the response in flight was delivered');
    assert.ok(busyState.ended, 'the finished connection got a FIN, not a reset');
    const exit = await child.done();
    assert.equal(exit, { code: 0, signal: null });
    await until(() => idleState.closed, 'the idle connection to be closed');
    const lines = accessLines(child);
    assert.is(lines.length, 2, child.stderr);
    const byFrom = new Map(lines.map((l) => [l.from, l]));
    const finished = byFrom.get(busyFrom)!;
    const destroyed = byFrom.get(idleFrom)!;
    assert.equal([finished.server_close, finished.client_close, finished.term, finished.s2c_bytes], ['fin', 'peer_fin', 'SO', String(20 * 1024)]);
    assert.equal([destroyed.client_close, destroyed.server_close, destroyed.term], ['aborted', 'aborted', 'AO']);
    assert.match(child.stderr, /^stopped: 1 finished, 1 destroyed$/m);
  } finally {
    await child.dispose();
    await slow.close();
  }
});

test('SIGINT with nothing in flight exits 0 at once', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child } = await startForward(['--target', `127.0.0.1:${upstreamPort}`]);
  try {
    child.kill('SIGINT');
    const exit = await child.done(5_000);
    assert.equal(exit, { code: 0, signal: null });
    assert.match(child.stderr, /^SIGINT: not accepting connections; 0 in flight/m);
    assert.match(child.stderr, /^stopped: 0 finished, 0 destroyed$/m);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('a second signal during the drain destroys what is left at once, and still exits 0', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  // A deadline far beyond the test's bound: only the second signal can end this drain in time.
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--shutdown-timeout', '600000', '--json']);
  try {
    const idle = await connect(port);
    const state = track(idle);
    child.kill('SIGTERM');
    await child.waitFor('stderr', /"event":"stopping"/);
    child.kill('SIGINT');
    const exit = await child.done(10_000);
    assert.equal(exit, { code: 0, signal: null });
    await until(() => state.closed, 'the idle connection to be closed');
    const events = child.stderrLines().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(events.map((e) => e.event ?? `conn ${counterOf(e.conn as string)}`), ['stopping', 'abort', 'conn 1', 'stopped']);
    assert.equal([events[2]!.client_close, events[2]!.term], ['aborted', 'AO']);
    assert.equal([events[3]!.finished, events[3]!.destroyed], [0, 1]);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('a port already in use is a start-up error: one line, exit 2', async () => {
  const holder = net.createServer();
  const port = await listen(holder);
  try {
    const { runCli } = await import('./helpers/cli-harness.js');
    const result = await runCli(['forward', '--listen', `127.0.0.1:${port}`, '--target', '127.0.0.1:9']);
    assert.is(result.code, 2);
    assert.is(result.stdout, '');
    assert.is(result.stderr, `proxy-lifecycle: cannot listen on 127.0.0.1:${port}: the address is already in use\n`);
  } finally {
    await closeServer(holder);
  }
});

test.run();
