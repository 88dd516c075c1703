import type net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertCleanEnd, region, startLoopback } from './helpers/loopback.js';
import { timerEvents } from './helpers/replay.js';
import { payload, sha256 } from './helpers/sockets.js';
import { turns, until } from './helpers/wait.js';

const MB = 1024 * 1024;
const GRACE = 5_000;

/**
 * The client-facing sockets get a write buffer larger than the whole response. With Node's
 * default (16 KiB) the proxy pauses the upstream as soon as the client stops reading, so the
 * upstream's FIN is never read and no side starts draining: backpressure, not the grace
 * period, holds the connection. A large buffer lets the proxy read everything, FIN
 * included, and end the client side with megabytes still unflushed.
 */
const BIG_BUFFER: net.ServerOpts = { allowHalfOpen: true, highWaterMark: 256 * MB };

/** A rig with the big client-side buffer whose upstream sends `response` and FIN at once (and reads on). */
const responding = (response: Buffer, keepChunks = false) =>
  startLoopback({
    keepChunks,
    front: BIG_BUFFER,
    supervisor: { gracePeriod: GRACE },
    upstream: (socket) => {
      socket.resume();
      socket.end(response);
    },
  });

test('a client that stops reading while its side drains is destroyed at gracePeriod, reason grace_expired', async () => {
  const response = payload(64 * MB);
  const rig = await responding(response);
  try {
    const { c, conn } = await rig.connect();
    const client = c.socket;
    client.pause(); // never reads
    await until(() => region(conn, 'client') === 'draining.flushing', 'the upstream FIN read and the client side ended', 30_000);
    assert.is(region(conn, 'server'), 'draining.readEnded');
    assert.equal(conn.reasons, { client: 'peer_fin', server: 'fin' });
    assert.is(conn.serverToClient, response.length, 'the proxy read the whole response');
    const flushingAt = rig.clock.now();

    // Real time passes: the writes cannot flush, the side stays flushing.
    await new Promise((r) => setTimeout(r, 50));
    await turns(1);
    assert.ok(conn.client.writableLength > 0, 'writes still pending towards the client');
    assert.not.ok(conn.client.writableFinished);
    assert.is(region(conn, 'client'), 'draining.flushing');

    rig.clock.advance(GRACE - 1);
    assert.is(region(conn, 'client'), 'draining.flushing', 'not destroyed before the grace period');
    assert.not.ok(conn.client.destroyed);
    rig.clock.advance(1);
    assert.is(region(conn, 'client'), 'closed');
    assert.ok(conn.client.destroyed, 'client socket destroyed');
    assert.is(conn.reasons.client, 'grace_expired');

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'grace_expired', server: 'fin' });
    const fired = timerEvents(rig.supervisor.log, conn.id, 'gracePeriod');
    assert.is(fired.length, 1, 'one grace timer fired');
    assert.is(fired[0]!.t, flushingAt + GRACE);
    assert.match(fired[0]!.event.type, /client\.draining\.flushing$/);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('writes pending when a side starts draining are flushed within the grace period; nothing expires', async () => {
  const response = payload(16 * MB);
  const rig = await responding(response, true);
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    client.pause(); // not reading yet: the proxy ends the client side with writes pending
    await until(() => region(conn, 'client') === 'draining.flushing', 'the upstream FIN read and the client side ended', 30_000);
    assert.ok(conn.client.writableLength > 0, 'writes pending when the client side was ended');
    rig.clock.advance(GRACE - 1); // most of the grace period goes by

    client.resume(); // now the client reads, normally
    await until(() => got.gotEnd, 'the whole response and FIN at the client', 30_000);
    assert.is(got.received, response.length);
    assert.is(sha256(got.data()), sha256(response), 'sha256 of the response');
    // Our writes and FIN flushed: the side waits, half-open, for the client's own FIN.
    await until(() => region(conn, 'client') === 'draining.writeEnded', 'client side flushed');
    client.end();

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'peer_fin', server: 'fin' });
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'gracePeriod').length, 0, 'no grace timer fired');
    rig.clock.advance(10 * GRACE); // nothing is left to expire
    assert.equal(conn.reasons, { client: 'peer_fin', server: 'fin' });
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test.run();
