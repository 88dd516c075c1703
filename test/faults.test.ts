import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UpstreamError, type Connection, type SocketLike } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { assertCleanRun, region, startLoopback, type Loopback } from './helpers/loopback.js';
import { RESET_CODES, closedPort, payload, sha256, type Endpoint } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { turns, until } from './helpers/wait.js';

/** Both proxy sockets destroyed, nothing of ours left on them, no timer left, nothing thrown, and the log replays. */
function assertReleased(rig: Loopback, conn: Connection, guard: { errors: unknown[] }): void {
  assert.ok(conn.disposed, 'connection disposed');
  assert.ok(conn.client.destroyed, 'proxy client socket destroyed');
  assert.is(boundListenerCount(conn.client), 0, 'client listeners removed');
  if (conn.server !== null) {
    assert.ok(conn.server.destroyed, 'proxy upstream socket destroyed');
    assert.is(boundListenerCount(conn.server), 0, 'upstream listeners removed');
  }
  assert.is(conn.pendingTimers, 0, 'connection timers');
  assert.is(rig.clock.pending, 0, 'clock timers');
  assert.is(rig.supervisor.stats.active, 0, 'supervisor empty');
  assertCleanRun(rig, guard);
}

/** The test client cooperates: it ends its side once the proxy ends its own. */
function endOnEnd(ep: Endpoint): void {
  ep.socket.on('end', () => ep.socket.end());
}

test('(a) upstream refuses: server connect_refused, client peer_closed and closed, nothing thrown', async () => {
  const guard = guardUncaught();
  const dead = await closedPort();
  const rig = await startLoopback({ dial: () => () => net.connect(dead, '127.0.0.1') });
  try {
    const { c, conn } = await rig.connect();
    endOnEnd(c);
    c.socket.write('lost on the way');
    await until(() => conn.disposed && c.closed, 'refused connection disposed');
    const info = await conn.whenClosed();
    assert.is(info.reasons.server, 'connect_refused');
    assert.is(info.errors.server, 'ECONNREFUSED');
    assert.is(info.reasons.client, 'peer_closed');
    assert.ok(c.gotEnd, 'the client was sent FIN');
    assert.is(c.errors.length, 0, `client errors: ${c.errors.join(',')}`);
    assertReleased(rig, conn, guard);
  } finally {
    guard.dispose();
    await rig.close();
  }
});

/** A duplex that claims to be connecting forever and swallows writes. */
class NeverConnects extends Duplex {
  connecting = true;
  override _read(): void {}
  override _write(_chunk: unknown, _enc: BufferEncoding, _cb: (err?: Error | null) => void): void {}
}

const neverConnecting: [string, () => SocketLike][] = [
  [
    'net.Socket that is never connected',
    () => {
      const s = new net.Socket();
      (s as { connecting: boolean }).connecting = true;
      return s;
    },
  ],
  ['Duplex with connecting = true', () => new NeverConnects() as unknown as SocketLike],
];

for (const [label, make] of neverConnecting) {
  test(`(b) upstream never answers (${label}): connect_timeout on the clock, both sides closed`, async () => {
    const guard = guardUncaught();
    const made: SocketLike[] = [];
    const rig = await startLoopback({
      supervisor: { connectTimeout: 1000 },
      dial: () => () => {
        const s = make();
        made.push(s);
        return s;
      },
    });
    try {
      const { c, conn } = await rig.connect();
      endOnEnd(c);
      c.socket.write('hello?');
      await turns(5);
      assert.is(region(conn, 'server'), 'connecting');
      assert.is(region(conn, 'client'), 'open');
      rig.clock.advance(999);
      assert.is(region(conn, 'server'), 'connecting', 'not before connectTimeout');
      rig.clock.advance(2);
      assert.is(conn.reasons.server, 'connect_timeout');
      assert.ok(made[0]!.destroyed, 'the upstream socket was destroyed');
      await until(() => conn.disposed && c.closed, 'timed-out connection disposed');
      const info = await conn.whenClosed();
      assert.is(info.reasons.server, 'connect_timeout');
      assert.is(info.reasons.client, 'peer_closed');
      assert.ok(c.gotEnd, 'client got FIN');
      assertReleased(rig, conn, guard);
    } finally {
      guard.dispose();
      await rig.close();
    }
  });
}

type Phase = 'open' | 'client half-closed' | 'server half-closed' | 'draining';
const PHASES: Phase[] = ['open', 'client half-closed', 'server half-closed', 'draining'];

for (const phase of PHASES) {
  for (const resetSide of ['client', 'server'] as const) {
    test(`(c) RST from the ${resetSide} while ${phase}: both sides closed, reset recorded, nothing thrown`, async () => {
      const guard = guardUncaught();
      const rig = await startLoopback();
      try {
        const { c, u, conn } = await rig.open();
        const otherSide = resetSide === 'client' ? 'server' : 'client';
        const target = resetSide === 'client' ? c : u;
        const other = resetSide === 'client' ? u : c;
        // Make sure bytes flow both ways first.
        c.socket.write('ping');
        u.socket.write('pong');
        await until(() => u.received === 4 && c.received === 4, 'bytes both ways');
        assert.is(region(conn, 'server'), 'open');

        if (phase === 'client half-closed') {
          c.socket.end();
          await until(() => u.gotEnd && region(conn, 'server') === 'draining.writeEnded', 'client FIN forwarded');
          assert.is(region(conn, 'client'), 'draining.readEnded');
        } else if (phase === 'server half-closed') {
          u.socket.end();
          await until(() => c.gotEnd && region(conn, 'client') === 'draining.writeEnded', 'upstream FIN forwarded');
          assert.is(region(conn, 'server'), 'draining.readEnded');
        } else if (phase === 'draining') {
          // The reset side stops reading while the other sends a lot: the proxy holds a
          // pending write towards it, so after shutdown() that side stays flushing.
          const proxySide = resetSide === 'client' ? conn.client : conn.server!;
          target.socket.pause();
          other.socket.write(payload(8 * 1024 * 1024));
          await until(() => proxySide.writableLength > 0 && conn.pauses > 0, 'proxy buffering towards the paused side');
          conn.shutdown();
          await turns(5);
          assert.is(region(conn, resetSide), 'draining.flushing');
        }

        const before = { ...conn.reasons };
        target.socket.resetAndDestroy();
        // A side whose reads have ended only notices a reset when written to: keep a trickle
        // of bytes flowing towards it from its peer until the proxy sees the reset.
        await until(() => {
          if (conn.context.errors[resetSide] === null && !other.socket.writableEnded && !other.socket.destroyed) other.socket.write('x');
          return conn.context.errors[resetSide] !== null;
        }, 'proxy to notice the reset');
        assert.ok(
          RESET_CODES.includes(conn.context.errors[resetSide]!),
          `reset side error code ${String(conn.context.errors[resetSide])}`,
        );
        // The other endpoint is ended by the proxy; it cooperates and ends its own side.
        await until(() => other.gotEnd, 'the other side to be sent FIN');
        other.socket.end();
        await until(() => conn.disposed && other.closed && target.closed, 'connection disposed');

        const info = await conn.whenClosed();
        if (phase === 'open') {
          assert.is(info.reasons[resetSide], 'reset');
          assert.is(info.reasons[otherSide], 'peer_closed');
        } else {
          // The first cause wins: the reason recorded before the reset stays.
          assert.ok(before[resetSide] !== null && before[otherSide] !== null);
          assert.equal(info.reasons, before);
        }
        assert.ok(info.reasons[otherSide] !== null, 'other side reason recorded');
        assert.is(info.errors[resetSide], conn.context.errors[resetSide]);
        assertReleased(rig, conn, guard);
      } finally {
        guard.dispose();
        await rig.close();
      }
    });
  }
}

const badFactories: [string, () => unknown][] = [
  ['throws', () => {
    throw new Error('no upstream today');
  }],
  ['returns a rejected promise', () => Promise.reject(new Error('no upstream today'))],
  ['returns a non-socket', () => 42],
  ['returns null', () => null],
  ['resolves to a non-socket', () => Promise.resolve({ write: 1 })],
];

for (const [label, factory] of badFactories) {
  test(`(d) upstream factory ${label}: server connect_error, client peer_closed and closed`, async () => {
    const guard = guardUncaught();
    const warned: { message: string; fields?: Record<string, unknown> }[] = [];
    const logger = { warn: (message: string, fields?: Record<string, unknown>) => void warned.push({ message, fields }) };
    const rig = await startLoopback({ dial: () => factory as never, supervisor: { logger } });
    try {
      const { c, conn } = await rig.connect();
      endOnEnd(c);
      c.socket.write('anyone there?');
      // Bounded: the machine needs no timer here, only the client's FIN to be read.
      await until(() => conn.disposed && c.closed, 'failed connection disposed', 2000);
      const info = await conn.whenClosed();
      assert.is(info.reasons.server, 'connect_error');
      assert.is(info.errors.server, 'PL_ERR_UPSTREAM');
      // The logger gets one UpstreamError with the stable code (and the factory's error as cause).
      assert.is(warned.length, 1, 'one warning');
      const error = warned[0]!.fields?.error;
      assert.instance(error, UpstreamError);
      assert.is((error as UpstreamError).code, 'PL_ERR_UPSTREAM');
      assert.is(warned[0]!.fields?.id, conn.id);
      assert.is(info.reasons.client, 'peer_closed');
      assert.ok(c.gotEnd, 'client got FIN');
      assert.is(conn.server, null);
      assertReleased(rig, conn, guard);
    } finally {
      guard.dispose();
      await rig.close();
    }
  });
}

test('(e) async upstream factory resolving later: client bytes (and FIN) sent before it resolves are not lost', async () => {
  const guard = guardUncaught();
  let resolveUpstream!: () => void;
  const rig = await startLoopback({
    keepChunks: true,
    dial: (port) => () =>
      new Promise<SocketLike>((resolve) => {
        resolveUpstream = () => resolve(net.connect(port, '127.0.0.1'));
      }),
  });
  try {
    const { c, conn } = await rig.connect();
    // Small enough for the kernel buffers to hold while the proxy is not reading.
    const data = payload(128 * 1024);
    c.socket.write(data);
    c.socket.end();
    await until(() => c.socket.writableFinished, 'client wrote everything');
    await new Promise((r) => setTimeout(r, 30)); // let the proxy's loop run; nothing should move
    assert.is(conn.clientToServer, 0, 'the proxy holds the client back meanwhile');
    assert.is(conn.server, null, 'upstream not there yet');
    assert.is(region(conn, 'server'), 'connecting');
    resolveUpstream();
    // The upstream reads everything, answers and ends.
    const u = await rig.upstreamOf(conn);
    u.socket.on('end', () => u.socket.end('thanks'));
    await until(() => conn.disposed && c.closed, 'connection done');
    const got = Buffer.concat(u.chunks!);
    assert.is(got.length, data.length, 'every early byte reached the upstream');
    assert.is(sha256(got), sha256(data));
    assert.is(sha256(Buffer.concat(c.chunks!)), sha256(Buffer.from('thanks')));
    const info = await conn.whenClosed();
    assert.is(info.bytes.clientToServer, data.length);
    assert.is(info.discarded, 0);
    assert.is(info.reasons.client, 'fin');
    assert.is(info.reasons.server, 'peer_fin');
    assertReleased(rig, conn, guard);
  } finally {
    guard.dispose();
    await rig.close();
  }
});

test.run();
