/**
 * Regression (issue: `--idle-timeout 300` closed about 617 ms after the last byte, 2000 at
 * 3017): inactivity timers count from the last byte in either direction, not from the sampling
 * tick that noticed it. Real loopback sockets, a ManualClock, and a sampling interval much
 * longer than the timers, so a tick-based timer would be visibly late.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SupervisorOptions } from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { timerEvents } from './helpers/replay.js';
import { turns, until } from './helpers/wait.js';

const SAMPLE = 1_000;

/** Echoes what it reads; answers FIN with FIN. */
function echo(socket: import('node:net').Socket): void {
  socket.on('data', (chunk: Buffer) => socket.write(chunk));
  socket.on('end', () => socket.end());
}

async function openRig(supervisor: SupervisorOptions) {
  const rig = await startLoopback({ supervisor: { activitySampleInterval: SAMPLE, ...supervisor }, upstream: echo });
  const { c: got, conn } = await rig.connect();
  const client = got.socket;
  client.on('end', () => client.end());
  return { rig, client, got, conn };
}

// [idleTimeout, when the last byte moves]: before the first tick, between ticks, just before one.
const CASES: [number, number][] = [
  [300, 1],
  [300, 150],
  [300, 299],
  [2_000, 1_001],
  [2_000, 1_500],
  [2_000, 1_999],
];

for (const [idle, at] of CASES) {
  test(`idleTimeout ${idle} fires ${idle} ms after the last byte (a byte at ${at} ms, ticks every ${SAMPLE} ms)`, async () => {
    const { rig, client, got, conn } = await openRig({ idleTimeout: idle });
    try {
      rig.clock.advance(at - rig.clock.now());
      await turns(1);
      client.write('x');
      await until(() => got.received === 1, 'the echo');
      const deadline = rig.clock.now() + idle;
      rig.clock.advance(deadline - 1 - rig.clock.now());
      await turns(1);
      assert.equal(conn.reasons, { client: null, server: null }, '1 ms before the deadline: open');
      rig.clock.advance(1);
      assert.equal(conn.reasons, { client: 'idle_timeout', server: 'idle_timeout' }, 'at the deadline: closed');
      const fired = timerEvents(rig.supervisor.log, conn.id, 'idleTimeout');
      assert.is(fired.at(-1)!.t, deadline, 'the idle timer fired exactly idleTimeout after the last byte');
      await until(() => conn.disposed, 'disposed');
    } finally {
      await rig.close();
    }
  });
}

test('bytes in one direction only (upstream to client) count as activity too', async () => {
  const IDLE = 5_000;
  let upstreamSocket: import('node:net').Socket | null = null;
  const rig = await startLoopback({
    supervisor: { activitySampleInterval: SAMPLE, idleTimeout: IDLE },
    upstream: (s) => {
      upstreamSocket = s;
      s.on('end', () => s.end());
    },
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    client.on('end', () => client.end());
    await until(() => upstreamSocket !== null, 'the upstream accepted');
    rig.clock.advance(3_700);
    await turns(1);
    upstreamSocket!.write('server push');
    await until(() => got.received === 11, 'the push at the client');
    const lastByte = rig.clock.now();
    rig.clock.advance(lastByte + IDLE - 1 - rig.clock.now());
    await turns(1);
    assert.equal(conn.reasons, { client: null, server: null });
    rig.clock.advance(1);
    assert.equal(conn.reasons, { client: 'idle_timeout', server: 'idle_timeout' });
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'idleTimeout').at(-1)!.t, lastByte + IDLE);
    await until(() => conn.disposed, 'disposed');
  } finally {
    await rig.close();
  }
});

test('a connection that never sends a byte times out idleTimeout after it opened, not a tick later', async () => {
  const { rig, conn } = await openRig({ idleTimeout: 300 });
  try {
    await turns(1);
    rig.clock.advance(299);
    assert.equal(conn.reasons, { client: null, server: null });
    rig.clock.advance(1);
    assert.equal(conn.reasons, { client: 'idle_timeout', server: 'idle_timeout' });
    await until(() => conn.disposed, 'disposed');
  } finally {
    await rig.close();
  }
});

for (const logCapacity of [0, 1_000]) {
  test(`a connection chatting once a second stays open past idleTimeout and socketTimeout, and closes idleTimeout after its last byte (log ring ${logCapacity}: ${logCapacity === 0 ? 'ticks leave the machine alone' : 'each tick checkpoints it'})`, async () => {
    const IDLE = 2_500;
    const { rig, client, got, conn } = await openRig({ idleTimeout: IDLE, socketTimeout: IDLE, logCapacity });
    const checkpoint = conn.checkpoint.bind(conn);
    let checkpoints = 0;
    conn.checkpoint = () => {
      checkpoints++;
      return checkpoint();
    };
    try {
      for (let i = 1; i <= 10; i++) {
        rig.clock.advance(SAMPLE);
        await turns(1);
        client.write('x');
        await until(() => got.received === i, `echo ${i}`);
      }
      assert.equal(conn.reasons, { client: null, server: null }, '10 s of a byte a second: open');
      // A tick steps the machine only where a log keeps the sample; the timers check for themselves.
      if (logCapacity === 0) assert.ok(checkpoints < 10, `fewer checkpoints than ticks, as timers fall due: ${checkpoints}`);
      else assert.ok(checkpoints >= 10, `a checkpoint each tick: ${checkpoints}`);
      const lastByte = rig.clock.now();
      rig.clock.advance(lastByte + IDLE - 1 - rig.clock.now());
      await turns(1);
      assert.equal(conn.reasons, { client: null, server: null }, '1 ms before idleTimeout after the last byte: open');
      rig.clock.advance(1);
      assert.ok(conn.reasons.client === 'idle_timeout' || conn.reasons.client === 'timeout', `closed at the deadline: ${JSON.stringify(conn.reasons)}`);
      await until(() => conn.disposed, 'disposed');
    } finally {
      await rig.close();
    }
  });
}

test.run();
