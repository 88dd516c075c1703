import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SupervisorClosedError, type Connection } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { assertCleanRun, region, startLoopback, type Loopback } from './helpers/loopback.js';
import { endpoint, payload, sha256, type Endpoint } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { until } from './helpers/wait.js';

const MB = 1024 * 1024;

/** Records what activeConnections$ emits and whether it completed. */
function watchActive(rig: Loopback): { values: number[]; completed: () => boolean; stop(): void } {
  const values: number[] = [];
  let completed = false;
  const sub = rig.supervisor.activeConnections$.subscribe({
    next: (n) => values.push(n),
    complete: () => {
      completed = true;
    },
  });
  return { values, completed: () => completed, stop: () => sub.unsubscribe() };
}

/** Tracks a promise's settlement without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => boolean } {
  let settled = false;
  void p.then(() => (settled = true));
  return { settled: () => settled };
}

function assertReleased(conn: Connection): void {
  assert.ok(conn.disposed);
  assert.ok(conn.client.destroyed && conn.server!.destroyed, 'both proxy sockets destroyed');
  assert.is(boundListenerCount(conn.client) + boundListenerCount(conn.server!), 0);
  assert.is(conn.pendingTimers, 0);
}

interface Stream {
  conn: Connection;
  from: Endpoint;
  to: Endpoint;
  direction: 'clientToServer' | 'serverToClient';
  sent: Buffer;
  acceptedAtShutdown: number;
}

test('activeConnections$: a subscriber that comes late gets the live count first, then each change; counts moved while nobody watched are not replayed', async () => {
  const rig = await startLoopback();
  try {
    const a = await rig.open();
    const b = await rig.open();
    const early = watchActive(rig);
    assert.equal(early.values, [2], 'the count at subscription, first');
    early.stop();
    // Nobody watches while these open and close.
    const c = await rig.open();
    c.conn.abort();
    await until(() => rig.supervisor.stats.active === 2, 'the third connection disposed');
    const late = watchActive(rig);
    assert.equal(late.values, [2]);
    a.conn.abort();
    await until(() => rig.supervisor.stats.active === 1, 'the first connection disposed');
    assert.equal(late.values, [2, 1], 'a close while watched is told at once');
    late.stop();
    b.conn.abort();
    await until(() => rig.supervisor.stats.active === 0, 'every connection disposed');
    const last = watchActive(rig);
    assert.equal(last.values, [0], 'a count that fell while nobody watched');
    last.stop();
  } finally {
    await rig.close();
  }
});

test('shutdown with data in flight: new connections refused, buffered bytes delivered, reasons shutdown, streams complete', async () => {
  const guard = guardUncaught();
  const rig = await startLoopback({ keepChunks: true });
  const active = watchActive(rig);
  try {
    const streams: Stream[] = [];
    for (let i = 0; i < 4; i++) {
      const { c, u, conn } = await rig.open();
      const toClient = i % 2 === 0;
      const from = toClient ? u : c;
      const to = toClient ? c : u;
      // The receiver is slow to start: the proxy holds bytes for it when shutdown begins.
      to.socket.pause();
      // Enough to overflow loopback's kernel buffers (autotuned up to several MB) into the proxy.
      const sent = payload(16 * MB);
      from.socket.write(sent);
      for (const ep of [c, u]) ep.socket.on('end', () => ep.socket.end());
      streams.push({ conn, from, to, sent, direction: toClient ? 'serverToClient' : 'clientToServer', acceptedAtShutdown: 0 });
    }
    for (const s of streams) {
      const towardsReceiver = s.direction === 'serverToClient' ? s.conn.client : s.conn.server!;
      await until(() => towardsReceiver.writableLength > 0 && s.conn.pauses > 0, 'data in flight in the proxy');
    }
    assert.is(rig.supervisor.stats.active, 4);

    for (const s of streams) s.acceptedAtShutdown = s.conn[s.direction];
    const done = rig.supervisor.shutdown({ timeout: 10_000 });
    const doneState = track(done);
    assert.ok(rig.supervisor.closing);
    assert.is(rig.supervisor.shutdown({ timeout: 1 }), done, 'a second call returns the same promise');
    for (const s of streams) {
      assert.is(region(s.conn, 'client'), 'draining.flushing');
      assert.is(region(s.conn, 'server'), 'draining.flushing');
    }

    // A new client is turned away: forward() throws and its socket is destroyed.
    const late = endpoint(net.connect(rig.proxyPort, '127.0.0.1'));
    await until(() => rig.refused.length === 1 && late.closed, 'late client turned away');
    assert.instance(rig.refused[0]!.error, SupervisorClosedError);
    assert.is((rig.refused[0]!.error as SupervisorClosedError).code, 'PL_ERR_SUPERVISOR_CLOSED');
    assert.ok(rig.refused[0]!.client.destroyed, 'refused client socket destroyed');
    assert.is(rig.supervisor.stats.total, 4, 'the refused client was never counted');

    for (const s of streams) s.to.socket.resume();
    await until(() => doneState.settled(), 'shutdown to resolve');
    await until(() => streams.every((s) => s.from.closed && s.to.closed), 'test sockets closed');

    for (const s of streams) {
      const info = await s.conn.whenClosed();
      assert.equal(info.reasons, { client: 'shutdown', server: 'shutdown' }, `reasons of ${s.conn.id}`);
      const got = Buffer.concat(s.to.chunks!);
      assert.ok(got.length >= s.acceptedAtShutdown, `everything accepted before shutdown delivered (${got.length} < ${s.acceptedAtShutdown})`);
      assert.is(got.length, info.bytes[s.direction] - info.discarded, 'delivered = read - discarded');
      assert.is(sha256(got), sha256(s.sent.subarray(0, got.length)), 'delivered bytes intact and in order');
      assertReleased(s.conn);
    }
    assert.is(rig.supervisor.stats.active, 0);
    assert.is(rig.supervisor.connections.size, 0);
    assert.is(rig.clock.pending, 0, 'the deadline timer was cleared');
    assert.ok(active.completed(), 'activeConnections$ completed');
    assert.ok(active.values.every((n) => n >= 0), `counts never negative: ${active.values.join(',')}`);
    assert.is(active.values[active.values.length - 1], 0);
    assert.is(Math.max(...active.values), 4);
    assert.is(rig.closes.length, 4);
    assertCleanRun(rig, guard);
  } finally {
    active.stop();
    guard.dispose();
    await rig.close();
  }
});

for (const variant of [
  { name: 'deadline before grace period', gracePeriod: 60_000, timeout: 1000, firesAt: 1000, reason: 'aborted' },
  // grace_expired does not hide a proxy decision (docs/close-reasons.md): the side stays 'shutdown'.
  { name: 'grace period before deadline', gracePeriod: 500, timeout: 1000, firesAt: 500, reason: 'shutdown' },
] as const) {
  test(`shutdown, uncooperative client (paused, big pending write), ${variant.name}: destroyed then, reason ${variant.reason}`, async () => {
    const guard = guardUncaught();
    const rig = await startLoopback({ supervisor: { gracePeriod: variant.gracePeriod } });
    const active = watchActive(rig);
    try {
      // A cooperative connection alongside, which drains and closes on its own.
      const good = await rig.open();
      for (const ep of [good.c, good.u]) ep.socket.on('end', () => ep.socket.end());
      const bad = await rig.open();
      bad.c.socket.pause();
      bad.u.socket.write(payload(8 * MB));
      bad.u.socket.on('end', () => bad.u.socket.end());
      await until(() => bad.conn.client.writableLength > 0 && bad.conn.pauses > 0, 'pending write to the client');

      const done = rig.supervisor.shutdown({ timeout: variant.timeout });
      const doneState = track(done);
      await until(() => good.conn.disposed, 'the cooperative connection closes by itself');
      assert.equal(good.conn.reasons, { client: 'shutdown', server: 'shutdown' });
      assert.not.ok(bad.conn.disposed);
      assert.is(region(bad.conn, 'client'), 'draining.flushing');

      rig.clock.advance(variant.firesAt - 1);
      await until(() => bad.u.gotEnd, 'the upstream was sent FIN');
      assert.not.ok(bad.conn.client.destroyed, 'not destroyed before its time');
      assert.not.ok(doneState.settled());
      rig.clock.advance(1);
      assert.ok(bad.conn.client.destroyed, 'client destroyed at that moment');
      assert.is(region(bad.conn, 'client'), 'closed');
      assert.is(bad.conn.reasons.client, variant.reason);
      // What cut the client off, as the log tells it.
      const cut = rig.supervisor.log
        .records()
        .filter((r) => r.conn === bad.conn.id && r.kind === 'event' && r.t === variant.firesAt)
        .map((r) => (r.kind === 'event' ? r.event.type : ''));
      assert.ok(
        cut.includes(variant.firesAt === variant.timeout ? 'ABORT' : 'xstate.after.gracePeriod.connection.client.draining.flushing'),
        `events at ${variant.firesAt}: ${cut.join(', ')}`,
      );
      await until(() => doneState.settled(), 'shutdown resolves once the connection is disposed');
      const info = await bad.conn.whenClosed();
      assert.is(info.reasons.client, variant.reason);
      assert.ok(info.reasons.server === 'shutdown' || info.reasons.server === 'aborted', `server reason ${String(info.reasons.server)}`);
      assertReleased(bad.conn);
      assertReleased(good.conn);
      assert.is(rig.clock.pending, 0);
      assert.ok(active.completed());
      assert.ok(active.values.every((n) => n >= 0));
      assertCleanRun(rig, guard);
    } finally {
      active.stop();
      guard.dispose();
      await rig.close();
    }
  });
}

test('abort() destroys every connection at once, reasons aborted on both sides', async () => {
  const guard = guardUncaught();
  const rig = await startLoopback();
  const active = watchActive(rig);
  try {
    const pairs: Awaited<ReturnType<Loopback['open']>>[] = [];
    for (let i = 0; i < 5; i++) {
      const pair = await rig.open();
      for (const ep of [pair.c, pair.u]) ep.socket.on('end', () => ep.socket.end());
      pair.c.socket.write(payload(256 * 1024));
      pair.u.socket.write(payload(256 * 1024));
      pairs.push(pair);
    }
    await until(() => pairs.every((p) => p.conn.clientToServer > 0 && p.conn.serverToClient > 0), 'streams flowing');
    rig.supervisor.abort();
    for (const { conn } of pairs) {
      assert.ok(conn.client.destroyed && conn.server!.destroyed, 'destroyed synchronously');
      assert.equal(conn.reasons, { client: 'aborted', server: 'aborted' });
    }
    await until(() => pairs.every((p) => p.conn.disposed && p.c.closed && p.u.closed), 'all disposed');
    for (const { conn } of pairs) {
      assert.equal((await conn.whenClosed()).reasons, { client: 'aborted', server: 'aborted' });
      assertReleased(conn);
    }
    assert.equal(rig.supervisor.stats, { active: 0, total: 5, closed: 5, refused: 0 });
    assert.is(rig.clock.pending, 0);
    assert.not.ok(active.completed(), 'abort() alone does not close the supervisor');
    assert.ok(active.values.every((n) => n >= 0));
    assert.is(active.values[active.values.length - 1], 0);
    assertCleanRun(rig, guard);
  } finally {
    active.stop();
    guard.dispose();
    await rig.close();
  }
});

test.run();
