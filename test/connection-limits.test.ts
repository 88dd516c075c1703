// Concurrent-connection limits as an admission policy: global and per client address,
// refused before any upstream connect, counted from admission to the client socket's close.
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionLimits, InvalidOptionError, Supervisor, type Refusal } from '../src/index.js';
import { closeServer, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

/** A supervisor behind `limits` on loopback, forwarding to an echo upstream that counts its accepts. */
async function limitedProxy(limits: ConnectionLimits) {
  const upstream = echoServer();
  const counts = { upstreamAccepts: 0 };
  upstream.on('connection', () => counts.upstreamAccepts++);
  const upstreamPort = await listen(upstream);
  const supervisor = new Supervisor({ admit: limits.hook });
  const refusals: Refusal[] = [];
  supervisor.on('refused', (r) => refusals.push(r));
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (supervisor.admit(client)) supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1'));
  });
  const port = await listen(server);
  return {
    port,
    counts,
    refusals,
    supervisor,
    async close() {
      await supervisor.shutdown({ timeout: 100 });
      await closeServer(server);
      await closeServer(upstream);
    },
  };
}

/** A client from `localAddress` that has had one echo (so it is admitted and forwarded), or was closed unserved. */
async function client(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; served: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write('x');
  const served = await new Promise<boolean>((resolve) => {
    socket.once('data', () => resolve(true));
    // Refused: the proxy closes it (a FIN, half-open allowed here, or a reset).
    socket.once('end', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
  return { socket, served };
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => (s.destroyed ? Promise.resolve() : (s.destroy(), once(s, 'close')))));
}

test('maxConnections: over the limit a client is closed at once with no upstream connect; a slot frees when a connection closes', async () => {
  const limits = new ConnectionLimits({ maxConnections: 2 });
  const p = await limitedProxy(limits);
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await client(p.port);
      assert.ok(c.served);
      held.push(c.socket);
    }
    const third = await client(p.port);
    assert.not.ok(third.served, 'refused: closed without an echo');
    assert.is(p.counts.upstreamAccepts, 2, 'no upstream connect for it');
    assert.equal(p.refusals.map((r) => r.limit), ['max_connections']);
    assert.is(limits.active, 2);
    await closeAll([held.shift()!]);
    await until(() => limits.active === 1, 'the slot freed by the close');
    const fourth = await client(p.port);
    assert.ok(fourth.served);
    held.push(fourth.socket);
    assert.is(p.supervisor.stats.refused, 1);
  } finally {
    await closeAll(held);
    await p.close();
  }
});

test('maxConnectionsPerIp: each client address has its own count; the table holds only addresses with live connections', async () => {
  const limits = new ConnectionLimits({ maxConnectionsPerIp: 2 });
  const p = await limitedProxy(limits);
  const held: net.Socket[] = [];
  try {
    for (const from of ['127.0.0.2', '127.0.0.2', '127.0.0.3']) {
      const c = await client(p.port, from);
      assert.ok(c.served, `${from} admitted`);
      held.push(c.socket);
    }
    const over = await client(p.port, '127.0.0.2');
    assert.not.ok(over.served, 'a third from 127.0.0.2 is refused');
    assert.equal(p.refusals, [{ t: p.refusals[0]!.t, client: p.refusals[0]!.client, reason: 'rejected', limit: 'max_connections_per_ip', error: null, code: 'XA' }]);
    assert.match(p.refusals[0]!.client!, /127\.0\.0\.2:\d+$/);
    const other = await client(p.port, '127.0.0.4');
    assert.ok(other.served, 'another address is not affected');
    held.push(other.socket);
    assert.is(limits.connectionsFrom('127.0.0.2'), 2);
    assert.is(limits.connectionsFrom('::ffff:127.0.0.2'), 2, 'an IPv4-mapped address is its IPv4 address');
    assert.is(limits.addresses, 3);
    // Many distinct addresses come and go: the table does not keep them.
    for (let i = 10; i < 60; i++) {
      const c = await client(p.port, `127.0.0.${i}`);
      assert.ok(c.served);
      await closeAll([c.socket]);
    }
    await closeAll(held);
    await until(() => limits.addresses === 0 && limits.active === 0, 'every entry gone with its last connection');
  } finally {
    await closeAll(held);
    await p.close();
  }
});

test('an IPv4-mapped and a plain IPv4 address share one count; limits are validated', () => {
  const limits = new ConnectionLimits({ maxConnectionsPerIp: 1 });
  const a = new net.Socket();
  const b = new net.Socket();
  assert.is(limits.admit(a, '::ffff:10.1.2.3'), true);
  assert.is(limits.admit(b, '10.1.2.3'), 'max_connections_per_ip');
  a.emit('close', false);
  assert.is(limits.admit(b, '10.1.2.3'), true, 'free again once the first closed');
  assert.is(a.listenerCount('close'), 0, 'the release listener is gone');
  b.emit('close', false);
  assert.is(limits.active, 0);
  for (const [option, value] of [['maxConnections', 0], ['maxConnectionsPerIp', -1], ['maxConnections', 1.5]] as const) {
    try {
      new ConnectionLimits({ [option]: value });
      assert.unreachable(`${option} ${value} accepted`);
    } catch (err) {
      assert.ok(err instanceof InvalidOptionError);
      assert.is(err.option, option);
    }
  }
});

test.run();
