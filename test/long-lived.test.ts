import type net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTableRuntime, type CloseReason, type Connection, type EffectType, type RuntimeFactory, type Side } from '../src/index.js';
import { assertCleanEnd, region, startLoopback, type Loopback } from './helpers/loopback.js';
import { lastActivityAt, timerEvents } from './helpers/replay.js';
import type { Endpoint } from './helpers/sockets.js';
import { turns, until } from './helpers/wait.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const SAMPLE = 1_000;

/** An echoing upstream: a WebSocket-like peer that answers whatever it is sent. */
const echo = (socket: net.Socket) => socket.pipe(socket);

/** Sends `text` and waits (real I/O) until its echo is back. */
async function exchange(client: net.Socket, got: Endpoint, text: string): Promise<void> {
  const before = got.received;
  client.write(text);
  await until(() => got.received === before + text.length, `echo of ${JSON.stringify(text)}`);
  assert.is(got.data().subarray(before).toString(), text);
}

/**
 * Counts the per-side socket-timeout reactions (`refreshTimeout`) the machine asks of the
 * binding, through the public `runtime` option: the default runtime with a host that counts.
 */
function countRefreshes(): { runtime: RuntimeFactory; counts: Record<Side, number> } {
  const counts: Record<Side, number> = { client: 0, server: 0 };
  const runtime: RuntimeFactory = (settings, clock, host) =>
    createTableRuntime(settings, clock, {
      effect(type: EffectType, side: Side) {
        if (type === 'refreshTimeout') counts[side]++;
        host.effect(type, side);
      },
      beforeTimer: () => host.beforeTimer(),
      record: (event) => host.record(event),
      done: (output) => host.done(output),
    });
  return { runtime, counts };
}

/** Advances the clock in 1-minute steps, letting I/O run every few steps. */
async function idleFor(rig: Loopback, ms: number, check?: (step: number) => void): Promise<void> {
  for (let step = 1; step * MINUTE <= ms; step++) {
    rig.clock.advance(MINUTE);
    if (step % 30 === 0) await turns(1);
    check?.(step);
  }
}

/** The client ends its side once the proxy ended it, as a well-behaved peer would. */
function endOnEnd(client: net.Socket): void {
  client.on('end', () => client.end());
}

/**
 * The proxy closed both sides for the `delay` timer: the client got FIN, the connection is
 * disposed with `reason` on both sides, that timer fired once, at `at`, and nothing is left.
 */
async function assertClosedBy(rig: Loopback, got: Endpoint, conn: Connection, delay: string, reason: CloseReason, at: number): Promise<void> {
  await until(() => got.gotEnd, 'the proxy FIN at the client');
  await until(() => conn.disposed, 'connection disposed');
  assert.equal(conn.reasons, { client: reason, server: reason });
  const fired = timerEvents(rig.supervisor.log, conn.id, delay);
  assert.is(fired.length, 1);
  assert.is(fired[0]!.t, at);
  await assertCleanEnd(rig);
}

/** The client sends FIN: the echo ends too, the connection closes normally and nothing is left. */
async function endsNormally(rig: Loopback, got: Endpoint, conn: Connection): Promise<void> {
  got.socket.end();
  await until(() => got.gotEnd, 'echo end');
  await until(() => conn.disposed, 'connection disposed');
  assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
  await assertCleanEnd(rig);
}

async function opened(rig: Loopback) {
  const { c: got, conn } = await rig.connect();
  const client = got.socket;
  await until(() => region(conn, 'server') === 'open', 'upstream connected');
  await exchange(client, got, 'hello');
  // Inactivity counts from here, the last byte (the checkpoint that sees it comes later).
  const lastByte = rig.clock.now();
  rig.clock.advance(SAMPLE); // the sampler turns the bytes into an ACTIVITY checkpoint
  return { client, got, conn, lastByte };
}

test("timeoutBehavior 'reset': a connection idle for 24 h stays open, TIMEOUT every minute, and still carries data", async () => {
  const { runtime, counts: refreshes } = countRefreshes();
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { socketTimeout: MINUTE, timeoutBehavior: 'reset', activitySampleInterval: SAMPLE, runtime },
    upstream: echo,
  });
  try {
    const { client, got, conn, lastByte: quietSince } = await opened(rig);

    await idleFor(rig, DAY, (step) => {
      if (step % 60 === 0) {
        assert.is(region(conn, 'client'), 'open', `client open after ${step} min`);
        assert.is(region(conn, 'server'), 'open', `server open after ${step} min`);
      }
    });
    await turns(1);
    assert.not.ok(conn.disposed);
    assert.not.ok(got.gotEnd, 'the client was not ended');
    assert.is(region(conn, 'client'), 'open');
    assert.is(region(conn, 'server'), 'open');
    assert.equal(conn.reasons, { client: null, server: null });

    const expected = Math.floor((rig.clock.now() - quietSince) / MINUTE);
    assert.ok(expected >= 1438 && expected <= 1440, `about 1440 timeouts in a day, got ${expected}`);
    const fired = timerEvents(rig.supervisor.log, conn.id, 'socketTimeout');
    assert.is(fired.length, expected, 'socket-timeout timer events in the log');
    assert.is(refreshes.client, expected, 'TIMEOUT handled on the client side each time');
    assert.is(refreshes.server, expected, 'TIMEOUT handled on the server side each time');
    fired.forEach((r, i) => assert.is(r.t, quietSince + (i + 1) * MINUTE, `timeout ${i} on time`));

    // Still a working connection both ways after a simulated day.
    await exchange(client, got, 'still here after a day');
    await endsNormally(rig, got, conn);
  } finally {
    await rig.close();
  }
});

test("timeoutBehavior 'close': closes with reason timeout after the first minute of silence", async () => {
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { socketTimeout: MINUTE, timeoutBehavior: 'close', activitySampleInterval: SAMPLE },
    upstream: echo,
  });
  try {
    const { client, got, conn, lastByte: quietSince } = await opened(rig);
    endOnEnd(client);
    rig.clock.advance(quietSince + MINUTE - 1 - rig.clock.now());
    await turns(1);
    assert.is(region(conn, 'client'), 'open', 'open 1 ms before the timeout');
    assert.is(region(conn, 'server'), 'open');
    assert.equal(conn.reasons, { client: null, server: null });

    rig.clock.advance(1);
    assert.equal(conn.reasons, { client: 'timeout', server: 'timeout' });
    assert.ok(region(conn, 'client').startsWith('draining'), 'client being closed');
    assert.ok(region(conn, 'server').startsWith('draining'), 'server being closed');
    await assertClosedBy(rig, got, conn, 'socketTimeout', 'timeout', quietSince + MINUTE);
  } finally {
    await rig.close();
  }
});

test("timeoutBehavior 'ignore': stays open a whole day, one TIMEOUT after the first minute, the next only after activity", async () => {
  const { runtime, counts: refreshes } = countRefreshes();
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { socketTimeout: MINUTE, timeoutBehavior: 'ignore', activitySampleInterval: SAMPLE, runtime },
    upstream: echo,
  });
  try {
    const { client, got, conn, lastByte: quietSince } = await opened(rig);
    await idleFor(rig, DAY);
    await turns(1);
    assert.is(region(conn, 'client'), 'open');
    assert.is(region(conn, 'server'), 'open');
    assert.not.ok(got.gotEnd);
    let fired = timerEvents(rig.supervisor.log, conn.id, 'socketTimeout');
    assert.is(fired.length, 1, 'a single timeout in a silent day');
    assert.is(fired[0]!.t, quietSince + MINUTE);
    assert.equal(refreshes, { client: 0, server: 0 }, 'ignore does not re-arm anything');

    // Activity re-arms the timeout: one more after another minute of silence, then none.
    await exchange(client, got, 'wake up');
    const activeAt = rig.clock.now();
    rig.clock.advance(SAMPLE);
    assert.ok(lastActivityAt(rig.supervisor.log, conn.id) > activeAt, 'a new checkpoint for the new bytes');
    await idleFor(rig, 10 * MINUTE);
    fired = timerEvents(rig.supervisor.log, conn.id, 'socketTimeout');
    assert.is(fired.length, 2, 'exactly one more timeout after the activity');
    assert.is(fired[1]!.t, activeAt + MINUTE);
    assert.is(region(conn, 'client'), 'open');
    assert.is(region(conn, 'server'), 'open');
    assert.equal(conn.reasons, { client: null, server: null });

    await endsNormally(rig, got, conn);
  } finally {
    await rig.close();
  }
});

test('idleTimeout closes a silent connection with reason idle_timeout; sampled activity in between postpones it', async () => {
  const IDLE = 30_000;
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { idleTimeout: IDLE, activitySampleInterval: SAMPLE },
    upstream: echo,
  });
  try {
    const { client, got, conn } = await opened(rig);
    endOnEnd(client);
    const firstQuiet = lastActivityAt(rig.supervisor.log, conn.id);
    rig.clock.advance(20_000);
    // Activity 20 s in: the sampler sees it at its next tick and the idle timer restarts,
    // counting from that byte, not from the tick.
    await exchange(client, got, 'keepalive');
    const secondQuiet = rig.clock.now();
    rig.clock.advance(SAMPLE);
    assert.ok(lastActivityAt(rig.supervisor.log, conn.id) > secondQuiet, 'the checkpoint came with the next tick');
    assert.ok(secondQuiet > firstQuiet);
    rig.clock.advance(firstQuiet + IDLE + 5_000 - rig.clock.now());
    await turns(1);
    assert.is(region(conn, 'client'), 'open', 'still open past the first deadline');
    assert.is(region(conn, 'server'), 'open');
    assert.equal(conn.reasons, { client: null, server: null });

    rig.clock.advance(secondQuiet + IDLE - 1 - rig.clock.now());
    assert.is(region(conn, 'client'), 'open', 'open 1 ms before the postponed deadline');
    rig.clock.advance(1);
    assert.equal(conn.reasons, { client: 'idle_timeout', server: 'idle_timeout' });
    await assertClosedBy(rig, got, conn, 'idleTimeout', 'idle_timeout', secondQuiet + IDLE);
  } finally {
    await rig.close();
  }
});

test('maxLifetime closes a connection that is busy the whole time, with reason max_lifetime', async () => {
  const LIFETIME = 10_000;
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { maxLifetime: LIFETIME, idleTimeout: 5_000, activitySampleInterval: SAMPLE },
    upstream: echo,
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    endOnEnd(client);
    await until(() => region(conn, 'server') === 'open', 'upstream connected');
    const start = conn.startedAt;
    // Busy every simulated second: bytes both ways, so the idle timeout never fires.
    while (rig.clock.now() < start + LIFETIME - SAMPLE) {
      await exchange(client, got, `t=${rig.clock.now()}`);
      rig.clock.advance(SAMPLE);
      assert.is(region(conn, 'client'), 'open', `open at ${rig.clock.now()}`);
    }
    await exchange(client, got, 'last words');
    rig.clock.advance(start + LIFETIME - 1 - rig.clock.now());
    assert.is(region(conn, 'client'), 'open', 'open 1 ms before max lifetime');
    assert.is(region(conn, 'server'), 'open');
    rig.clock.advance(1);
    assert.equal(conn.reasons, { client: 'max_lifetime', server: 'max_lifetime' });
    await assertClosedBy(rig, got, conn, 'maxLifetime', 'max_lifetime', start + LIFETIME);
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'idleTimeout').length, 0, 'not an idle close');
  } finally {
    await rig.close();
  }
});

test.run();
