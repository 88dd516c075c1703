// The proxy behind `forward` and `demo`, in process: lifecycle items as they happen, the
// drain-then-destroy stop, and listen errors as one-line CliErrors.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloseInfo } from '../src/index.js';
import { CliError } from '../src/cli/cli-error.js';
import type { FollowItem } from '../src/cli/follow.js';
import { LISTEN_BACKLOG, ProxyServer } from '../src/cli/proxy-server.js';
import { closeServer, connect, echoServer, listen, readAll } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { assertReplayMatches, recordConnections } from './helpers/replay.js';

test('items follow each connection as it happens, and the close matches the replayed log', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const items: FollowItem[] = [];
  const closes: CloseInfo[] = [];
  const proxy = await ProxyServer.start(
    { listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: upstreamPort } },
    { onItem: (i) => items.push(i), onClose: (i) => closes.push(i) },
  );
  const recorded = recordConnections(proxy.supervisor);
  try {
    assert.is(proxy.address, `127.0.0.1:${proxy.port}`);
    const client = await connect(proxy.port);
    const from = `127.0.0.1:${client.localPort}`;
    const got = readAll(client);
    client.end('ping');
    assert.is((await got).toString(), 'ping');
    await until(() => closes.length === 1, 'the close');
    client.destroy();
    assert.equal(items[0]!.kind, 'open');
    assert.equal(items[items.length - 1]!.kind, 'closed');
    const steps = items.filter((i) => i.kind === 'step');
    for (let k = 1; k < steps.length; k++) assert.equal(steps[k]!.before, steps[k - 1]!.after, 'each step starts where the last ended');
    assert.ok(steps.some((s) => s.label === 'END client' && s.after.client === 'draining.readEnded'));
    const closed = items[items.length - 1]!;
    assert.ok(closed.kind === 'closed');
    assert.equal([closed.client, closed.term, closed.reasons], [from, closes[0]!.code, closes[0]!.reasons]);
    assert.equal(closes[0]!.bytes, { clientToServer: 4, serverToClient: 4 });
    assertReplayMatches(proxy.supervisor, recorded);
    assert.equal(await proxy.stop(1000), { inFlight: 0, aborted: 0 });
  } finally {
    await proxy.stop(0);
    await closeServer(upstream);
  }
});

test('stop: refuses new connections, lets the one in flight finish, destroys the idle one at the deadline', async () => {
  // `go` starts a 3-chunk response; anything else gets silence.
  const sockets = new Set<net.Socket>();
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', (d: Buffer) => {
      s.resume();
      if (d.toString() !== 'go') return;
      let n = 0;
      const t = setInterval(() => {
        s.write('chunk');
        if (++n === 3) {
          clearInterval(t);
          s.end();
        }
      }, 30);
    });
  });
  const upstreamPort = await listen(upstream);
  const closes: CloseInfo[] = [];
  const proxy = await ProxyServer.start({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: upstreamPort } }, { onClose: (i) => closes.push(i) });
  const recorded = recordConnections(proxy.supervisor);
  try {
    const busy = await connect(proxy.port);
    const idle = await connect(proxy.port);
    for (const c of [busy, idle]) {
      c.on('error', () => {});
      c.on('end', () => c.end());
    }
    const response = readAll(busy);
    busy.write('go');
    idle.write('wait');
    await until(() => proxy.supervisor.stats.active === 2 && busy.bytesRead > 0, 'both connections up, the response flowing');
    const stopping = proxy.stop(400);
    assert.is(proxy.stop(5), stopping, 'stop is idempotent');
    const late = net.connect(proxy.port, '127.0.0.1');
    const lateCode = await new Promise<string>((resolve) => {
      late.once('connect', () => resolve('connected'));
      late.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    late.destroy();
    assert.is(lateCode, 'ECONNREFUSED');
    assert.is((await response).toString(), 'chunkchunkchunk');
    assert.equal(await stopping, { inFlight: 2, aborted: 1 });
    assert.equal(closes.map((c) => [c.code, c.reasons.client, c.reasons.server]), [
      ['SO', 'peer_fin', 'fin'],
      ['AO', 'aborted', 'aborted'],
    ]);
    assertReplayMatches(proxy.supervisor, recorded);
  } finally {
    await proxy.stop(0);
    for (const s of sockets) s.destroy();
    await closeServer(upstream);
  }
});

test('an address in use is a CliError naming it; no host means every interface', async () => {
  const holder = net.createServer();
  const port = await listen(holder);
  try {
    for (const [listenOn, where] of [[{ host: '127.0.0.1', port }, `127.0.0.1:${port}`], [{ port }, `port ${port}`]] as const) {
      try {
        await ProxyServer.start({ listen: listenOn, target: { host: '127.0.0.1', port: 9 } });
        assert.unreachable('listening on a port in use');
      } catch (err) {
        assert.instance(err, CliError);
        assert.is((err as CliError).message, `cannot listen on ${where}: the address is already in use`);
      }
    }
  } finally {
    await closeServer(holder);
  }
  const any = await ProxyServer.start({ listen: { port: 0 }, target: { host: '127.0.0.1', port: 9 } });
  try {
    assert.match(any.address, /^(\[::\]|0\.0\.0\.0):\d+$/);
    const client = await connect(any.port); // reachable on loopback too
    client.destroy();
  } finally {
    await any.stop(0);
  }
});


// Linux only: `ss` reports a listening socket's accept-queue limit as its Send-Q.
const linuxTest = process.platform === 'linux' ? test : test.skip;
linuxTest('the listening socket asks for a 4096-deep accept queue, not Node\'s 511 (the kernel caps it at somaxconn)', async () => {
  const proxy = await ProxyServer.start({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: 9 } });
  try {
    const { execFileSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const line = execFileSync('ss', ['-Hltn', `sport = :${proxy.port}`], { encoding: 'utf8' }).trim();
    const sendQ = Number(line.split(/\s+/)[2]);
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    assert.is(sendQ, Math.min(LISTEN_BACKLOG, somaxconn), line);
    assert.ok(sendQ > 511, `backlog ${sendQ} above Node's default`);
  } finally {
    await proxy.stop(100);
  }
});

test.run();
