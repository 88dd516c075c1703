/**
 * `firstByteTimeout` over real loopback sockets (the supervisor on a ManualClock, sampling
 * ticks far apart): a silent client is closed and sees FIN, not a hang; a client that sent
 * one byte between two ticks is kept past the timeout; a server-first banner does not count.
 */
import type net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertCleanEnd, startLoopback } from './helpers/loopback.js';
import { timerEvents } from './helpers/replay.js';
import { turns, until } from './helpers/wait.js';

const SAMPLE = 10_000;
const FIRST = 300;

async function openRig(upstream?: (socket: net.Socket) => void) {
  const rig = await startLoopback({ supervisor: { activitySampleInterval: SAMPLE, firstByteTimeout: FIRST }, upstream });
  const { c, conn } = await rig.connect();
  return { rig, c, conn };
}

test('a client silent for firstByteTimeout is closed: it sees FIN, the code is fO, the log replays', async () => {
  const { rig, c, conn } = await openRig((s) => s.on('end', () => s.end()));
  try {
    await rig.upstreamOf(conn);
    rig.clock.advance(FIRST - 1);
    await turns(2);
    assert.equal(conn.reasons, { client: null, server: null }, '1 ms early: open');
    assert.not.ok(c.gotEnd);
    rig.clock.advance(1);
    await until(() => c.gotEnd, 'the client to see the proxy end it');
    c.socket.end();
    await until(() => rig.closes.length === 1, 'the close');
    const info = rig.closes[0]!;
    assert.equal(info.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
    assert.is(info.code, 'fO');
    assert.is(info.bytes.clientToServer, 0);
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'firstByteTimeout')[0]!.t, FIRST, 'fired at firstByteTimeout after the connection opened');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('one byte sent between sampling ticks keeps the client past firstByteTimeout', async () => {
  const { rig, c, conn } = await openRig((s) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => s.end());
  });
  try {
    await rig.upstreamOf(conn);
    rig.clock.advance(100);
    c.socket.write('x');
    await until(() => c.received === 1, 'the echo of the byte');
    assert.is(conn.context.bytes.clientToServer, 0, 'no tick has sampled the byte yet');
    rig.clock.advance(FIRST * 10 - rig.clock.now()); // well past the timeout, still before the first tick
    await turns(2);
    assert.equal(conn.reasons, { client: null, server: null }, 'kept open');
    assert.not.ok(c.gotEnd);
    assert.is(conn.context.bytes.clientToServer, 1, 'the checkpoint before the timer saw the byte');
    assert.equal(timerEvents(rig.supervisor.log, conn.id, 'firstByteTimeout'), [], 'the timer never fired');
    c.socket.end();
    await until(() => rig.closes.length === 1, 'the close');
    assert.is(rig.closes[0]!.code, 'CO');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('a server-first banner does not count as the client speaking: why firstByteTimeout is off by default', async () => {
  const { rig, c, conn } = await openRig((s) => {
    s.write('220 smtp ready\r\n');
    s.on('end', () => s.end());
  });
  try {
    await until(() => c.received === 16, 'the banner at the client');
    rig.clock.advance(FIRST);
    await until(() => c.gotEnd, 'the client to be ended');
    c.socket.end();
    await until(() => rig.closes.length === 1, 'the close');
    assert.equal(rig.closes[0]!.reasons.client, 'first_byte_timeout');
    assert.is(rig.closes[0]!.bytes.serverToClient, 16);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test.run();
