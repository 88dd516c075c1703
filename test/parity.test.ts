import type net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Connection } from '../src/index.js';
import { payload } from './helpers/sockets.js';
import { assertCleanEnd, region, startLoopback, type Loopback } from './helpers/loopback.js';
import { lastActivityAt, timerEvents } from './helpers/replay.js';
import type { Endpoint } from './helpers/sockets.js';
import { turns, until } from './helpers/wait.js';

const PARITY = 60_000;
const INACTIVITY = 20_000;
const GRACE = 5_000;
const SAMPLE = 1_000;

interface HalfOpen {
  rig: Loopback;
  conn: Connection;
  got: Endpoint;
  /** The upstream's socket: it never FINs, and writes only when a test says so. */
  upstream: () => net.Socket;
}

/** Client sends a request and FIN; the upstream stays open (no FIN back). */
async function halfOpen(): Promise<HalfOpen> {
  let upstreamSocket: net.Socket | null = null;
  const rig = await startLoopback({
    supervisor: { parityTimeout: PARITY, parityInactivity: INACTIVITY, gracePeriod: GRACE, activitySampleInterval: SAMPLE },
    upstream: (socket) => {
      upstreamSocket = socket;
      socket.resume();
    },
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    client.end('request');
    await until(() => region(conn, 'server') === 'draining.writeEnded', 'the FIN forwarded to the upstream');
    assert.is(region(conn, 'client'), 'draining.readEnded');
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(rig.clock.now(), 0);
    return { rig, conn, got, upstream: () => upstreamSocket! };
  } catch (err) {
    await rig.close();
    throw err;
  }
}

function assertHalfOpen(conn: Connection, when: string): void {
  assert.not.ok(conn.disposed, `disposed ${when}`);
  assert.is(region(conn, 'client'), 'draining.readEnded', `client region ${when}`);
  assert.is(region(conn, 'server'), 'draining.writeEnded', `server region ${when}`);
}

/**
 * Lets the proxy finish the parity close with no further clock movement: the client's FIN
 * arrives, and the server side, whose FIN went out long ago, is closed at once.
 */
async function finishClose(h: HalfOpen): Promise<void> {
  await until(() => h.got.gotEnd, 'the proxy FIN at the client');
  await until(() => h.conn.disposed, 'connection disposed');
  // The proxy's decision is why both sides ended: it overrides the earlier fin / peer_fin.
  assert.equal(h.conn.reasons, { client: 'parity_timeout', server: 'parity_timeout' });
  assert.is(timerEvents(h.rig.supervisor.log, h.conn.id, 'gracePeriod').length, 0, 'not a grace expiry');
}

test('a half-closed connection whose upstream stays silent is closed at parityTimeout', async () => {
  const h = await halfOpen();
  const { rig, conn } = h;
  try {
    // Inactive from the first checkpoint on; parity must still wait for parityTimeout.
    for (let t = 0; t < PARITY - 1_000; t += 1_000) {
      rig.clock.advance(1_000);
      if (t % 10_000 === 0) await turns(1);
    }
    rig.clock.advance(999);
    await turns(1);
    assertHalfOpen(conn, '1 ms before parityTimeout');
    assert.ok(timerEvents(rig.supervisor.log, conn.id, 'parityInactivity').length === 1, 'inactive well before');
    assert.not.ok(h.got.gotEnd);

    rig.clock.advance(1);
    const fired = timerEvents(rig.supervisor.log, conn.id, 'parityTimeout');
    assert.is(fired.length, 1, 'parity timer fired');
    assert.is(fired[0]!.t, PARITY);
    assert.is(region(conn, 'client'), 'draining.flushing', 'client side ended, flushing');
    assert.is(region(conn, 'server'), 'closed', 'server side (FIN long sent) closed at once');
    assert.ok(conn.server!.destroyed, 'upstream socket destroyed');

    await finishClose(h);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('upstream data every few seconds keeps it open past parityTimeout; it closes after parityInactivity of quiet', async () => {
  const h = await halfOpen();
  const { rig, conn, got } = h;
  try {
    let sent = 0;
    let lastByteAt = 0;
    while (rig.clock.now() < PARITY + 30_000) {
      const chunk = payload(4096);
      h.upstream().write(chunk);
      sent += chunk.length;
      await until(() => got.received === sent, `upstream data at ${rig.clock.now()}`);
      lastByteAt = rig.clock.now();
      rig.clock.advance(5_000);
      assertHalfOpen(conn, `at ${rig.clock.now()} while active`);
    }
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'parityTimeout').length, 1, 'parityTimeout passed while active');
    assert.ok(rig.clock.now() > PARITY);

    // Now quiet: closes exactly parityInactivity after the last byte (not after the
    // checkpoint that saw it, which came with the next clock step).
    const quietSince = lastByteAt;
    assert.ok(lastActivityAt(rig.supervisor.log, conn.id) > quietSince, 'the last checkpoint came after the last byte');
    rig.clock.advance(quietSince + INACTIVITY - 1 - rig.clock.now());
    await turns(1);
    assertHalfOpen(conn, '1 ms before parityInactivity of quiet');
    rig.clock.advance(1);
    assert.is(region(conn, 'client'), 'draining.flushing', 'client side ended, flushing');
    assert.is(region(conn, 'server'), 'closed', 'server side closed at once');
    const quiet = timerEvents(rig.supervisor.log, conn.id, 'parityInactivity');
    assert.is(quiet[quiet.length - 1]!.t, quietSince + INACTIVITY);

    await finishClose(h);
    assert.is(got.received, sent, 'every upstream byte reached the client');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test.run();
