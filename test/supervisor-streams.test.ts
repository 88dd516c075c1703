import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AggregateSample, ConnectionSample, LogRecord } from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { payload } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { until } from './helpers/wait.js';

const INTERVAL = 100;

test('bytes$, connectionBytes$, events$ and the connection/close events agree with the connections', async () => {
  const guard = guardUncaught();
  const rig = await startLoopback({ supervisor: { activitySampleInterval: INTERVAL } });
  const { supervisor, clock } = rig;
  const aggregate: AggregateSample[] = [];
  const perConnection: ConnectionSample[] = [];
  const events: LogRecord[] = [];
  const badStats: string[] = [];
  const completed = { bytes: false, connectionBytes: false, events: false };
  const checkStats = () => {
    const s = supervisor.stats;
    if (s.active < 0 || s.total < 0 || s.closed < 0 || s.closed > s.total || s.active !== s.total - s.closed) badStats.push(JSON.stringify(s));
  };
  const subs = [
    supervisor.bytes$.subscribe({
      next: (s) => {
        aggregate.push(s);
        checkStats();
      },
      complete: () => (completed.bytes = true),
    }),
    supervisor.connectionBytes$.subscribe({
      next: (s) => perConnection.push(s),
      complete: () => (completed.connectionBytes = true),
    }),
    supervisor.events$.subscribe({
      next: (r) => {
        events.push(r);
        checkStats();
      },
      complete: () => (completed.events = true),
    }),
  ];
  const opened = new Map<string, number>();
  const closed = new Map<string, number>();
  supervisor.on('connection', (c) => {
    opened.set(c.id, (opened.get(c.id) ?? 0) + 1);
    checkStats();
  });
  supervisor.on('close', (info) => {
    closed.set(info.id, (closed.get(info.id) ?? 0) + 1);
    checkStats();
  });

  try {
    const pairs = [await rig.open(), await rig.open(), await rig.open()];
    const expected = pairs.map(() => ({ c2s: 0, s2c: 0 }));
    const ticks: { t: number; movedIds: string[] }[] = [];
    // Rounds of traffic; in some only some connections move bytes.
    const rounds = [
      [0, 1, 2],
      [0, 1, 2],
      [0],
      [],
      [2],
      [1, 2],
    ];
    for (const [r, movers] of rounds.entries()) {
      for (const k of movers) {
        const { c, u } = pairs[k]!;
        const up = 1000 + 3331 * (r + 1) * (k + 1);
        const down = 2000 + 7919 * (r + 1) * (k + 1);
        c.socket.write(payload(up));
        u.socket.write(payload(down));
        expected[k]!.c2s += up;
        expected[k]!.s2c += down;
      }
      await until(
        () => pairs.every((p, k) => p.u.received === expected[k]!.c2s && p.c.received === expected[k]!.s2c),
        `round ${r} delivered`,
      );
      const before = perConnection.length;
      clock.advance(INTERVAL);
      ticks.push({ t: clock.now(), movedIds: perConnection.slice(before).map((s) => s.id) });
      assert.equal(
        ticks[r]!.movedIds.sort(),
        movers.map((k) => pairs[k]!.conn.id).sort(),
        `round ${r}: per-connection samples only for connections whose counts moved`,
      );
    }
    assert.is(aggregate.length, rounds.length, 'one aggregate sample per tick');
    const last = aggregate[aggregate.length - 1]!;
    assert.is(last.active, 3);

    // Close them one by one, ticking in between: the aggregate keeps retired bytes.
    for (const [k, { c, u, conn }] of pairs.entries()) {
      u.socket.on('end', () => u.socket.end());
      c.socket.end();
      await until(() => conn.disposed && c.closed && u.closed, `connection ${k} closed`);
      clock.advance(INTERVAL);
    }
    assert.is(supervisor.stats.active, 0);
    assert.is(clock.pending, 0, 'the sampler stops once no connection is left');

    const totals = rig.closes.reduce(
      (acc, info) => ({ c2s: acc.c2s + info.bytes.clientToServer, s2c: acc.s2c + info.bytes.serverToClient }),
      { c2s: 0, s2c: 0 },
    );
    assert.equal(totals, expected.reduce((a, e) => ({ c2s: a.c2s + e.c2s, s2c: a.s2c + e.s2c }), { c2s: 0, s2c: 0 }));

    // bytes$: monotonic, active never negative, ends at the sum of CloseInfo bytes.
    for (let i = 1; i < aggregate.length; i++) {
      const [a, b] = [aggregate[i - 1]!, aggregate[i]!];
      assert.ok(b.t > a.t, 'sample times increase');
      assert.ok(b.clientToServer >= a.clientToServer && b.serverToClient >= a.serverToClient, `monotonic at sample ${i}`);
    }
    assert.ok(aggregate.every((s) => s.active >= 0));
    const final = aggregate[aggregate.length - 1]!;
    assert.equal({ c2s: final.clientToServer, s2c: final.serverToClient }, totals, 'last sample = sum of CloseInfo bytes');
    assert.ok(aggregate.length > rounds.length, 'samples continued while connections closed');

    // connectionBytes$: per connection, monotonic, strictly moving, last = its CloseInfo bytes.
    for (const info of rig.closes) {
      const mine = perConnection.filter((s) => s.id === info.id);
      assert.ok(mine.length > 0, `samples for connection ${info.id}`);
      for (let i = 1; i < mine.length; i++) {
        const [a, b] = [mine[i - 1]!, mine[i]!];
        assert.ok(b.clientToServer >= a.clientToServer && b.serverToClient >= a.serverToClient, 'per-connection monotonic');
        assert.ok(b.clientToServer + b.serverToClient > a.clientToServer + a.serverToClient, 'only emitted when moved');
      }
      const lastMine = mine[mine.length - 1]!;
      assert.equal(
        { clientToServer: lastMine.clientToServer, serverToClient: lastMine.serverToClient },
        info.bytes,
        `last sample of connection ${info.id}`,
      );
    }

    // events$ saw exactly the log's records, in order (the same objects).
    const records = supervisor.log.records();
    assert.is(events.length, records.length);
    assert.ok(events.every((r, i) => r === records[i]), 'events$ emits the log records themselves');
    assert.is(events.filter((r) => r.kind === 'open').length, 3);
    assert.is(events.filter((r) => r.kind === 'disposed').length, 3);

    // 'connection' and 'close' exactly once per id; stats never inconsistent.
    const ids = pairs.map((p) => p.conn.id);
    assert.equal([...opened.keys()].sort(), ids.sort());
    assert.equal([...closed.keys()].sort(), ids.sort());
    assert.ok([...opened.values(), ...closed.values()].every((n) => n === 1));
    assert.equal(badStats, []);
    assert.equal(supervisor.stats, { active: 0, total: 3, closed: 3, refused: 0 });

    // Shutting down an empty supervisor completes the streams.
    assert.not.ok(completed.bytes || completed.connectionBytes);
    await supervisor.shutdown();
    assert.ok(completed.bytes && completed.connectionBytes, 'bytes$ and connectionBytes$ complete on shutdown');
    assert.equal(guard.errors, []);
    assertReplayMatches(supervisor, rig.recorded);
  } finally {
    for (const s of subs) s.unsubscribe();
    guard.dispose();
    await rig.close();
  }
});

test.run();
