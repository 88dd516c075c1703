// `proxy-lifecycle forward`, run as a child process against real loopback sockets.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SETTINGS, readEventLog, replay } from '../src/index.js';
import { accessLines, connLine, counterOf, ensureBuilt, startForward, type Child } from './helpers/cli-harness.js';
import { closeServer, connect, echoServer, listen, payload, readAll, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const tmp = mkdtempSync(join(tmpdir(), 'pl-cli-forward-'));

/** Servers whose accepted sockets are destroyed on close: a half-open one would never close. */
const accepted = new WeakMap<net.Server, Set<net.Socket>>();
function server(handler: (socket: net.Socket) => void): net.Server {
  const sockets = new Set<net.Socket>();
  const s = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    handler(socket);
  });
  accepted.set(s, sockets);
  return s;
}
async function closeAll(s: net.Server): Promise<void> {
  for (const socket of accepted.get(s) ?? []) socket.destroy();
  await closeServer(s);
}

/** An upstream that reads the request and never answers nor FINs. */
function silentAfterFin(): net.Server {
  return server((socket) => socket.resume());
}

/** An upstream that streams `total` bytes as fast as the other end reads them, then FINs. */
function flood(total: number): net.Server {
  return server((socket) => {
    socket.resume();
    const chunk = Buffer.alloc(64 * 1024, 0x66);
    let sent = 0;
    const pump = () => {
      while (sent < total && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (!socket.destroyed) socket.end();
    };
    pump();
  });
}

/** Waits (bounded) until the proxy ends `client`, answers with its own FIN, and waits for the close. */
async function endedByProxy(client: net.Socket): Promise<void> {
  let ended = false;
  let closed = false;
  client.once('end', () => {
    ended = true;
    client.end();
  });
  client.once('close', () => (closed = true));
  await until(() => ended || closed, 'the proxy to end the client side', 10_000);
  await until(() => closed, 'the client socket to close', 10_000);
}

/** Stops a forward child with SIGTERM and asserts the clean exit. */
async function stop(child: Child): Promise<void> {
  child.kill('SIGTERM');
  const exit = await child.done();
  assert.equal(exit, { code: 0, signal: null }, `exit after SIGTERM; stderr: ${child.stderr}`);
}

test('forward proxies a half-closed echo byte for byte and logs one access line for it', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const logFile = join(tmp, 'echo.jsonl');
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', logFile]);
  try {
    const data = payload(1024 * 1024);
    const client = await connect(port);
    const from = `127.0.0.1:${client.localPort}`;
    const got = readAll(client);
    client.end(data);
    const echoed = await got;
    assert.is(echoed.length, data.length, 'every byte echoed after the client FIN');
    assert.is(sha256(echoed), sha256(data));
    await child.waitFor('stderr', connLine(1));
    const [line] = accessLines(child);
    assert.match(line!.conn!, /^[A-Za-z0-9_-]+-[0-9a-z]+-1$/, 'the id is instance-boot-counter');
    assert.equal(line, {
      conn: line!.conn,
      from,
      term: 'CO',
      duration_ms: line!.duration_ms!,
      c2s_bytes: String(data.length),
      s2c_bytes: String(data.length),
      client_close: 'fin',
      server_close: 'peer_fin',
    });
    assert.match(line!.duration_ms!, /^\d+$/);
    client.destroy();
    await stop(child);
    // The event log replays to the same ending the access log printed.
    const { connections, incomplete } = replay(await readEventLog(logFile));
    assert.equal(incomplete, []);
    const [c] = [...connections.values()];
    assert.is(connections.size, 1);
    assert.ok(c.done, 'connection 1 is done in the replayed log');
    assert.equal(c.context.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(c.client, from);
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('an access log on standard error and the notices there are one ordered stream: a status line follows the access lines of the connections it counts closed', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`]);
  try {
    const n = 5;
    for (let i = 0; i < n; i++) {
      const client = await connect(port);
      const got = readAll(client);
      client.end(`hello ${i}`);
      assert.is((await got).toString(), `hello ${i}`);
    }
    // Ask until a status line says all n were accepted and none is open: each closed first.
    const done = new RegExp(`^status: 0 connections open, ${n} accepted`);
    await until(() => {
      if (child.stderrLines().some((l) => done.test(l))) return true;
      child.process.kill('SIGUSR2');
      return false;
    }, 'a status line with every connection closed');
    const lines = child.stderrLines();
    const status = lines.findIndex((l) => done.test(l));
    const closedBefore = lines.slice(0, status).filter((l) => l.startsWith('conn=')).length;
    assert.is(closedBefore, n, `the ${n} access lines come before the status line:\n${lines.join('\n')}`);
    await stop(child);
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('--json prints each access-log line as JSON; --quiet prints none and still proxies', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const json = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--json']);
  const quiet = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--quiet']);
  try {
    for (const [i, text] of ['first', 'second!'].entries()) {
      const client = await connect(json.port);
      const got = readAll(client);
      client.end(text);
      assert.is((await got).toString(), text);
      client.destroy();
      await json.child.waitFor('stderr', new RegExp(`"conn":"[A-Za-z0-9_-]+-${i + 1}",`));
    }
    const entries = json.child.stderrLines().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.is(entries.length, 2, json.child.stderr);
    assert.equal(entries.map((e) => [counterOf(e.conn as string), e.c2s_bytes, e.s2c_bytes, e.client_close, e.server_close, e.term]), [
      [1, 5, 5, 'fin', 'peer_fin', 'CO'],
      [2, 7, 7, 'fin', 'peer_fin', 'CO'],
    ]);
    assert.ok(!Number.isNaN(Date.parse(entries[0]!.time as string)), 'ISO time');

    const client = await connect(quiet.port);
    const got = readAll(client);
    client.end('quiet please');
    assert.is((await got).toString(), 'quiet please');
    client.destroy();
    await stop(quiet.child);
    assert.is(quiet.child.stderr, '', 'nothing on stderr with --quiet');
    assert.equal(quiet.child.stdoutLines().length, 1, 'only the listening line on stdout');
    await stop(json.child);
  } finally {
    await json.child.dispose();
    await quiet.child.dispose();
    await closeAll(upstream);
  }
});

test('an unreachable target is no start-up error: each connection records connect_refused', async () => {
  const gone = net.createServer();
  const deadPort = await listen(gone);
  await closeServer(gone);
  const { child, port } = await startForward(['--target', `127.0.0.1:${deadPort}`]);
  try {
    for (let i = 1; i <= 2; i++) {
      const client = await connect(port);
      client.on('error', () => {});
      client.write('hello?');
      await endedByProxy(client);
      await child.waitFor('stderr', connLine(i));
    }
    const lines = accessLines(child);
    assert.equal(lines.map((l) => [counterOf(l.conn!), l.server_close, l.server_error, l.term, l.s2c_bytes]), [
      [1, 'connect_refused', 'ECONNREFUSED', 'RK', '0'],
      [2, 'connect_refused', 'ECONNREFUSED', 'RK', '0'],
    ]);
    assert.ok(child.running, 'still running after failed connects');
    await stop(child);
  } finally {
    await child.dispose();
  }
});

test('--connect-timeout: an upstream that never answers the SYN ends in connect_timeout', async () => {
  // A listener whose accept queue is full (its process never accepts) drops further SYNs.
  const holder = spawn(process.execPath, [
    '-e',
    `const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       process.stdout.write(s.address().port + '\\n');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000);
     });`,
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  const fillers: net.Socket[] = [];
  let child: Child | undefined;
  try {
    const [chunk] = (await once(holder.stdout!, 'data')) as [Buffer];
    const holePort = Number(String(chunk).trim());
    for (let i = 0; i < 8; i++) {
      const s = net.connect(holePort, '127.0.0.1');
      s.on('error', () => {});
      fillers.push(s);
      const connected = await Promise.race([once(s, 'connect').then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
      if (!connected) break;
    }
    const started = await startForward(['--target', `127.0.0.1:${holePort}`, '--connect-timeout', '250']);
    child = started.child;
    const client = await connect(started.port);
    client.on('error', () => {});
    await endedByProxy(client);
    await child.waitFor('stderr', connLine(1));
    const [line] = accessLines(child);
    assert.is(line!.server_close, 'connect_timeout');
    assert.is(line!.client_close, 'peer_closed');
    assert.is(line!.term, 'TK');
    await stop(child);
  } finally {
    await child?.dispose();
    for (const s of fillers) s.destroy();
    holder.kill('SIGKILL');
  }
});

test('every lifecycle flag reaches the connection settings one to one', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const logFile = join(tmp, 'settings.jsonl');
  const { child, port } = await startForward([
    '--target', `127.0.0.1:${upstreamPort}`, '--log', logFile,
    '--grace-period', '1234', '--socket-timeout', '2345', '--timeout-behavior', 'ignore',
    '--parity-timeout', '3456', '--parity-inactivity', '4567', '--connect-timeout', '5678',
    '--idle-timeout', '6789', '--max-lifetime', '7890', '--no-half-open', '--shutdown-timeout', '100',
  ]);
  try {
    const client = await connect(port);
    const got = readAll(client);
    client.end('x');
    await got;
    client.destroy();
    await child.waitFor('stderr', connLine(1));
    await stop(child);
    const open = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.kind === 'open');
    assert.equal(open.settings, {
      ...DEFAULT_SETTINGS,
      gracePeriod: 1234,
      socketTimeout: 2345,
      timeoutBehavior: 'ignore',
      parityTimeout: 3456,
      parityInactivity: 4567,
      connectTimeout: 5678,
      idleTimeout: 6789,
      maxLifetime: 7890,
      allowHalfOpen: false,
    });
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('duration flags take units: the connection gets their milliseconds, --shutdown-timeout too', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const logFile = join(tmp, 'units.jsonl');
  const { child, port } = await startForward([
    '--target', `127.0.0.1:${upstreamPort}`, '--log', logFile,
    '--grace-period', '1.5s', '--socket-timeout', '1h30m', '--parity-timeout', '2h', '--parity-inactivity=1m30s',
    '--connect-timeout', '250ms', '--idle-timeout', '5m', '--max-lifetime', '1d', '--keep-alive', '30s',
    '--shutdown-timeout', '200ms',
  ]);
  try {
    const client = await connect(port);
    client.on('end', () => {}).resume();
    client.write('x');
    await until(() => client.bytesRead === 1, 'the echo of x');
    // The connection stays open: only --shutdown-timeout (200 ms, not the default 30 s) ends it.
    await stop(child);
    const [line] = accessLines(child);
    assert.is(line!.term, 'AO', 'destroyed at the shutdown deadline');
    client.destroy();
    const open = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.kind === 'open');
    assert.equal(open.settings, {
      ...DEFAULT_SETTINGS,
      gracePeriod: 1500,
      socketTimeout: 5_400_000,
      parityTimeout: 7_200_000,
      parityInactivity: 90_000,
      connectTimeout: 250,
      idleTimeout: 300_000,
      maxLifetime: 86_400_000,
    });
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('--idle-timeout closes a silent connection (idle_timeout, iO); --socket-timeout with close ends it (timeout, tO)', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const idle = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--idle-timeout', '300']);
  const socket = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--socket-timeout', '300', '--timeout-behavior', 'close']);
  try {
    for (const { child, port } of [idle, socket]) {
      const client = await connect(port);
      const got = readAll(client);
      client.write('ping');
      // The proxy ends the client side once the connection has been silent: the echo arrives first.
      assert.is((await got).toString(), 'ping');
      client.end();
      await child.waitFor('stderr', connLine(1));
      client.destroy();
    }
    const [i] = accessLines(idle.child);
    assert.equal([i!.client_close, i!.server_close, i!.term], ['idle_timeout', 'idle_timeout', 'iO']);
    const [s] = accessLines(socket.child);
    assert.equal([s!.client_close, s!.server_close, s!.term], ['timeout', 'timeout', 'tO']);
    await stop(idle.child);
    await stop(socket.child);
  } finally {
    await idle.child.dispose();
    await socket.child.dispose();
    await closeAll(upstream);
  }
});

test('--parity-timeout and --parity-inactivity close a connection left half-closed and silent (pH)', async () => {
  const upstream = silentAfterFin();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--parity-timeout', '300', '--parity-inactivity', '100']);
  try {
    const client = await connect(port);
    const got = readAll(client);
    client.end('request');
    // The upstream never answers nor FINs: only the parity check can end this connection.
    await got;
    await child.waitFor('stderr', connLine(1));
    const [line] = accessLines(child);
    assert.equal([line!.client_close, line!.server_close, line!.term], ['parity_timeout', 'parity_timeout', 'pH']);
    client.destroy();
    await stop(child);
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('--max-lifetime with --grace-period: a client that stops reading is destroyed when its grace runs out (lO)', async () => {
  const upstream = flood(256 * 1024 * 1024);
  const upstreamPort = await listen(upstream);
  const logFile = join(tmp, 'lifetime.jsonl');
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--max-lifetime', '300', '--grace-period', '200', '--log', logFile]);
  try {
    const client = await connect(port);
    client.on('error', () => {});
    client.pause(); // never reads: the proxy's writes to it cannot flush
    await child.waitFor('stderr', connLine(1));
    const [line] = accessLines(child);
    // The lifetime is why it ended; the grace period is how the client side was cut.
    assert.equal([line!.client_close, line!.term], ['max_lifetime', 'lO']);
    client.destroy();
    await stop(child);
    const records = await readEventLog(logFile);
    const graceTimers = records.filter((r) => r.kind === 'event' && r.event.type === 'xstate.after.gracePeriod.connection.client.draining.flushing');
    assert.is(graceTimers.length, 1, 'the client side was destroyed by its grace period');
  } finally {
    await child.dispose();
    await closeAll(upstream);
  }
});

test('--no-half-open ends both sides at the first FIN: a response sent after the request FIN is not delivered', async () => {
  // Answers only after the request's FIN, like an HTTP/1.0 server reading to EOF.
  const upstream = server((socket) => {
    socket.resume();
    socket.once('end', () => setTimeout(() => socket.end('late answer'), 50));
  });
  const upstreamPort = await listen(upstream);
  const halfOpen = await startForward(['--target', `127.0.0.1:${upstreamPort}`]);
  const noHalfOpen = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--no-half-open']);
  try {
    const answers: string[] = [];
    for (const { child, port } of [halfOpen, noHalfOpen]) {
      const client = await connect(port);
      const got = readAll(client);
      client.end('question');
      answers.push((await got).toString());
      await child.waitFor('stderr', connLine(1));
      client.destroy();
    }
    assert.equal(answers, ['late answer', '']);
    const [line] = accessLines(noHalfOpen.child);
    assert.equal([line!.client_close, line!.term], ['fin', 'CO']);
    await stop(halfOpen.child);
    await stop(noHalfOpen.child);
  } finally {
    await halfOpen.child.dispose();
    await noHalfOpen.child.dispose();
    await closeAll(upstream);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
