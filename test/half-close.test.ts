import { once } from 'node:events';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventLog, ManualClock, forward, replay, type Connection } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { assertCleanEnd, region, startLoopback } from './helpers/loopback.js';
import { assertForwardReplayMatches, eventsOf } from './helpers/replay.js';
import { closeServer, echoServer, endpoint, listen, payload, sha256 } from './helpers/sockets.js';
import { turns, until } from './helpers/wait.js';

const MB = 1024 * 1024;

/** The order in which a connection's END events were logged, e.g. ['client', 'server']. */
function endOrder(conn: Connection, log: EventLog): string[] {
  return eventsOf(log, conn.id)
    .map((r) => r.event)
    .filter((e): e is { type: 'END'; side: 'client' | 'server' } => e.type === 'END')
    .map((e) => e.side);
}

test('client sends 20 MB then FIN; the upstream echoes all of it and FINs after: every byte arrives', async () => {
  const rig = await startLoopback({
    keepChunks: true,
    upstream: (socket) => socket.pipe(socket), // echoes, and ends only after the peer's FIN
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    const sent = payload(20 * MB);
    client.end(sent);
    await until(() => got.gotEnd, 'echo of 20 MB and the upstream FIN', 30_000);
    assert.is(got.received, sent.length, 'byte count of the echo');
    assert.is(sha256(got.data()), sha256(sent), 'sha256 of the echo');

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
    assert.equal(endOrder(conn, rig.supervisor.log), ['client', 'server'], 'client FIN first, upstream FIN after');
    assert.is(conn.clientToServer, sent.length);
    assert.is(conn.serverToClient, sent.length);
    assert.is(conn.discarded, 0);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('upstream sends 20 MB and FINs first; the client keeps sending after it and those bytes still arrive', async () => {
  const fromUpstream = payload(20 * MB);
  const received: Buffer[] = [];
  let upstreamSawEnd = false;
  const rig = await startLoopback({
    keepChunks: true,
    upstream: (socket) => {
      socket.on('data', (c: Buffer) => received.push(c));
      socket.on('end', () => {
        upstreamSawEnd = true;
      });
      socket.end(fromUpstream); // half-close the other way: keep reading after our FIN
    },
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    const before = payload(1 * MB);
    client.write(before);
    await until(() => got.gotEnd, 'the upstream 20 MB and its FIN', 30_000);
    assert.is(sha256(got.data()), sha256(fromUpstream), 'sha256 upstream -> client');

    // Half-open: the upstream has FINed, and the client keeps sending, over several turns.
    const after: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      const chunk = payload(512 * 1024);
      after.push(chunk);
      client.write(chunk);
      await turns(1);
    }
    client.end();
    await until(() => upstreamSawEnd, 'the client FIN at the upstream', 30_000);

    const sent = Buffer.concat([before, ...after]);
    const atUpstream = Buffer.concat(received);
    assert.is(atUpstream.length, sent.length, 'byte count client -> upstream');
    assert.is(sha256(atUpstream), sha256(sent), 'sha256 client -> upstream, bytes after the upstream FIN included');

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'peer_fin', server: 'fin' });
    assert.equal(endOrder(conn, rig.supervisor.log), ['server', 'client'], 'upstream FIN first');
    assert.is(conn.discarded, 0, 'nothing the client sent after the upstream FIN was dropped');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('a client-facing net.Server without allowHalfOpen still half-closes: the reply sent after the FIN arrives', async () => {
  const request = payload(2 * MB);
  const reply = payload(1 * MB);
  let acceptedHalfOpen: boolean | undefined;
  const rig = await startLoopback({
    keepChunks: true,
    front: {}, // Node's default: allowHalfOpen false on the accepted sockets
    upstream: (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      // Answers only once the request is complete, i.e. after the client's FIN.
      socket.on('end', () => {
        socket.write(sha256(Buffer.concat(chunks)));
        socket.end(reply);
      });
    },
  });
  rig.front.prependListener('connection', (s: net.Socket) => {
    acceptedHalfOpen = s.allowHalfOpen;
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    client.end(request);
    await until(() => got.gotEnd, 'the reply after the FIN', 30_000);
    assert.is(acceptedHalfOpen, false, 'premise: the accepted socket did not allow half-open');
    const expected = Buffer.concat([Buffer.from(sha256(request)), reply]);
    assert.is(got.received, expected.length, 'reply length');
    assert.is(sha256(got.data()), sha256(expected), 'the upstream saw the whole request and its reply arrived in full');

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(conn.discarded, 0);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('allowHalfOpen: false ends both sides at the client FIN; a late upstream reply goes nowhere', async () => {
  const request = payload(64 * 1024);
  const received: Buffer[] = [];
  let upstreamSawEnd = false;
  const rig = await startLoopback({
    supervisor: { allowHalfOpen: false },
    upstream: (socket) => {
      socket.on('data', (c: Buffer) => received.push(c));
      socket.on('end', () => {
        upstreamSawEnd = true;
        socket.end('late'); // too late: the proxy already ended the client
      });
    },
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    await until(() => region(conn, 'server') === 'open', 'upstream connected');
    client.end(request);
    await until(() => got.gotEnd, 'the proxy FIN to the client');
    await until(() => upstreamSawEnd, 'the proxy FIN to the upstream');
    assert.is(sha256(Buffer.concat(received)), sha256(request), 'the request arrived in full before the FIN');

    await until(() => conn.disposed, 'connection disposed');
    assert.is(got.received, 0, 'the client got nothing after its FIN');
    // Read and dropped, or not read at all: once the client is gone, the upstream (its FIN out)
    // closes at once, and Node decides whether its last read came first.
    assert.ok(conn.discarded === 0 || conn.discarded === 4, `the late reply went nowhere (discarded ${conn.discarded})`);
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
    // The client FIN put both sides into flushing at once (no half-open readEnded state).
    const { connections } = replay(rig.supervisor.log.records(), { timeline: true });
    const step = connections.get(conn.id)!.timeline!.find((s) => s.event === 'END client');
    assert.ok(step, 'END client logged');
    assert.is(step!.client, 'draining.flushing');
    assert.is(step!.server, 'draining.flushing');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

for (const upstreamState of ['still connecting', 'already connected'] as const) {
  test(`forward() without a supervisor, upstream given as a socket ${upstreamState}: half-close end to end`, async () => {
    const clock = new ManualClock();
    const log = new EventLog();
    const upstream = echoServer();
    const upstreamPort = await listen(upstream);
    const conns: Connection[] = [];
    const sockets: net.Socket[] = [];
    const front = net.createServer({ allowHalfOpen: true }, async (client) => {
      sockets.push(client);
      const up = net.connect(upstreamPort, '127.0.0.1');
      sockets.push(up);
      if (upstreamState === 'already connected') await once(up, 'connect');
      conns.push(forward(client, up, { clock, log }));
    });
    const port = await listen(front);
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    sockets.push(client);
    try {
      await once(client, 'connect');
      const got = endpoint(client, true);
      const sent = payload(4 * MB);
      client.write(sent.subarray(0, 2 * MB));
      await turns(1);
      client.end(sent.subarray(2 * MB));
      await until(() => got.gotEnd, 'echo and FIN', 30_000);
      assert.is(sha256(got.data()), sha256(sent));

      await until(() => conns.length === 1, 'forward() called');
      const conn = conns[0]!;
      const info = await conn.whenClosed();
      assert.equal(info.reasons, { client: 'fin', server: 'peer_fin' });
      assert.equal(info.bytes, { clientToServer: sent.length, serverToClient: sent.length });
      assert.ok(conn.disposed);
      assert.is(conn.pendingTimers, 0);
      assert.is(clock.pending, 0, 'no timer left on the clock');
      assert.is(boundListenerCount(conn.client), 0, 'no handler left on the client socket');
      assert.is(boundListenerCount(conn.server!), 0, 'no handler left on the upstream socket');
      const connected = eventsOf(log, conn.id).filter((r) => r.event.type === 'CONNECTED');
      assert.is(connected.length, 1, 'CONNECTED once');
      assertForwardReplayMatches(log, conn);
    } finally {
      for (const s of sockets) s.destroy();
      await closeServer(front);
      await closeServer(upstream);
    }
  });
}

test.run();
