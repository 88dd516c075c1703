// `forward --max-connections-per-ip N` and `--max-connections N` on the real binary: a client
// over a limit is closed at once, never reaches the upstream, and is data everywhere a close
// is: one access-log line, one `refused` record in --log (that `replay` counts), one count in
// /metrics, and one in the SIGUSR2 status.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLines, ensureBuilt, runCli, startForward, type Child } from './helpers/cli-harness.js';
import { closeServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

type Outcome = { socket: net.Socket; from: string } & ({ served: true } | { served: false; ms: number });

/**
 * A client from `localAddress` that sends a line: served once it has the echo (it stays open),
 * or refused when the proxy closes it first (EOF or a reset), with how long that took.
 */
async function client(port: number, localAddress: string, text: string): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
  socket.on('error', () => {});
  const start = performance.now();
  await once(socket, 'connect');
  // Read now: a closed socket no longer knows its port.
  const from = `${socket.localAddress}:${socket.localPort}`;
  socket.write(text);
  let got = '';
  return new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => resolve({ served: false, socket, from, ms: Infinity }), 5000);
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === text) {
        clearTimeout(timer);
        resolve({ served: true, socket, from });
      }
    });
    const closed = () => {
      clearTimeout(timer);
      resolve({ served: false, socket, from, ms: performance.now() - start });
    };
    socket.once('end', closed);
    socket.once('close', closed);
  });
}

/** An echo upstream that records what each accepted connection sent. */
async function recordingUpstream(): Promise<{ server: net.Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const i = received.push('') - 1;
    s.on('data', (d: Buffer) => {
      received[i] += d.toString();
      s.write(d);
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  return { server, port: await listen(server), received };
}

/** The value of one series in the proxy's /metrics (-1 when absent). */
async function scrape(url: string, series: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? -1 : Number(line.slice(series.length + 1));
}

const series = (limit: string) => `proxy_lifecycle_downstream_cx_refused_total{reason="rejected",limit="${limit}"}`;

/**
 * Runs `forward` with `flags`, a --log file and --metrics; three clients: two from 127.0.0.2,
 * then one from 127.0.0.3 once the second has been refused. Checks that the second is
 * refused at `limit` and recorded once in every output; returns the child for more checks.
 */
async function threeClients(flags: readonly string[], limit: string, more: (child: Child, url: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pl-refusals-'));
  const log = join(dir, 'run.jsonl');
  const upstream = await recordingUpstream();
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstream.port}`, ...flags, '--log', log, '--metrics', '127.0.0.1:0']);
  const sockets: net.Socket[] = [];
  try {
    const [, url] = (await child.waitFor('stdout', /^metrics on (\S+)$/))!;
    const first = await client(port, '127.0.0.2', 'first\n');
    sockets.push(first.socket);
    assert.ok(first.served, 'the first from 127.0.0.2 is served');
    const second = await client(port, '127.0.0.2', 'second\n');
    sockets.push(second.socket);
    assert.not.ok(second.served, 'the second is refused');
    assert.ok(!second.served && second.ms < 2000, `closed promptly (${!second.served && second.ms} ms)`);
    const secondFrom = second.from;
    if (limit === 'max_connections_per_ip') {
      const third = await client(port, '127.0.0.3', 'third\n');
      sockets.push(third.socket);
      assert.ok(third.served, 'another address is served');
    }

    // The access log: one refusal line, in the close lines' fields, with its limit.
    await child.waitFor('stderr', /^conn=- /);
    const refusedLines = accessLines(child).filter((l) => l.conn === '-');
    assert.equal(refusedLines, [{ conn: '-', from: secondFrom, term: 'XA', client_close: 'rejected', limit }]);
    assert.is(await scrape(url!, series(limit)), 1, 'counted once in /metrics, with its limit');
    for (const other of ['max_connections', 'max_connections_per_ip', 'backoff'].filter((l) => l !== limit)) {
      assert.is(await scrape(url!, series(other)), 0, `nothing at ${other}`);
    }
    await more(child, url!);

    for (const s of sockets) s.destroy();
    await until(() => accessLines(child).filter((l) => l.conn !== '-').length === sockets.length - 1, 'the served ones closed');
    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0, child.stderr);
    // Never reached the upstream: only the served clients' bytes arrived there.
    assert.equal(upstream.received, sockets.length === 3 ? ['first\n', 'third\n'] : ['first\n']);

    // The event log: the refused record, and replay counts it.
    const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = records.filter((r) => r.kind === 'refused');
    assert.equal(refused, [{ t: refused[0]?.t, kind: 'refused', reason: 'rejected', limit, code: 'XA', client: secondFrom }]);
    const replayed = await runCli(['replay', log]);
    assert.is(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, new RegExp(`^1 refused at accept: 1 ${limit}$`, 'm'));
    assert.is(replayed.stdout.match(/^connection \S+ from /gm)?.length, sockets.length - 1, 'the served connections replay; the refusal has none');
  } finally {
    for (const s of sockets) s.destroy();
    await child.dispose();
    await closeServer(upstream.server);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('--max-connections-per-ip 1: the second client from an address is closed at once, unserved, and recorded once in the access log, --log, replay and /metrics', async () => {
  await threeClients(['--max-connections-per-ip', '1'], 'max_connections_per_ip', async () => {});
});

test('--max-connections 1: the second client is refused at max_connections, once: the guard reports it, the status line counts it once', async () => {
  await threeClients(['--max-connections', '1'], 'max_connections', async (child, url) => {
    // The guard's view of the same refusal, not a second one.
    assert.is(await scrape(url, 'proxy_lifecycle_downstream_cx_overflow_total{reason="max_connections"}'), 1);
    await child.waitFor('stderr', /^refused 1 connection in the last 1 s: --max-connections 1 reached \(1 connection open\)$/);
    child.kill('SIGUSR2');
    await child.waitFor('stderr', /^status: 1 connections open, 1 accepted, 1 refused; /);
  });
});

test('--max-connections-per-ip: a bad value is one line naming the flag, exit 2', async () => {
  const res = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--max-connections-per-ip', '0']);
  assert.is(res.code, 2);
  assert.is(res.stderr.trim(), 'proxy-lifecycle: --max-connections-per-ip must be a whole number from 1 to 2147483647, got "0"');
  assert.is(res.stdout, '');
});

test.run();
