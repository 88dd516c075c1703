import type net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertCleanEnd, region, startLoopback } from './helpers/loopback.js';
import { timerEvents } from './helpers/replay.js';
import { payload, sha256 } from './helpers/sockets.js';
import { turns, until } from './helpers/wait.js';

const GRACE = 1_000;
const STEP = 5 * GRACE; // simulated time between two response chunks: well past the grace period
const CHUNKS = 200;

test('a response streamed long after the request FIN arrives in full; the grace period never cuts it', async () => {
  let upstreamSocket: net.Socket | null = null;
  const request: Buffer[] = [];
  let requestComplete = false;
  const rig = await startLoopback({
    keepChunks: true,
    supervisor: { gracePeriod: GRACE, activitySampleInterval: 1000 },
    upstream: (socket) => {
      upstreamSocket = socket;
      socket.on('data', (c: Buffer) => request.push(c));
      socket.on('end', () => {
        requestComplete = true;
      });
    },
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    const req = Buffer.from('GET /stream HTTP/1.0\r\n\r\n');
    client.end(req); // the request, and FIN right away
    await until(() => requestComplete, 'request and FIN at the upstream');
    assert.equal(Buffer.concat(request), req);

    // Our FIN to the upstream flushed, so no side is flushing: nothing is bounded by grace now.
    await until(() => region(conn, 'server') === 'draining.writeEnded', 'upstream write side ended and flushed');
    assert.is(region(conn, 'client'), 'draining.readEnded');
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });

    const sent: Buffer[] = [];
    let total = 0;
    for (let i = 0; i < CHUNKS; i++) {
      const chunk = payload(1024 + ((i * 7919) % 16384));
      sent.push(chunk);
      total += chunk.length;
      upstreamSocket!.write(chunk);
      await turns(1);
      await until(() => got.received === total, `chunk ${i} at the client`);
      rig.clock.advance(STEP);
      assert.not.ok(conn.disposed, `connection cut after chunk ${i}`);
      assert.is(region(conn, 'client'), 'draining.readEnded', `client region after chunk ${i}`);
      assert.is(region(conn, 'server'), 'draining.writeEnded', `server region after chunk ${i}`);
      assert.not.ok(got.gotEnd, `client ended early at chunk ${i}`);
    }
    assert.ok(rig.clock.now() >= CHUNKS * STEP, 'simulated time went well past the grace period many times over');
    assert.is(timerEvents(rig.supervisor.log, conn.id, 'gracePeriod').length, 0, 'no grace timer fired');

    upstreamSocket!.end();
    await until(() => got.gotEnd, 'the response end at the client');
    const expected = Buffer.concat(sent);
    assert.is(got.received, expected.length);
    assert.is(sha256(got.data()), sha256(expected), 'sha256 of the streamed response');

    await until(() => conn.disposed, 'connection disposed');
    assert.equal(conn.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(conn.serverToClient, expected.length);
    assert.is(conn.clientToServer, req.length);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test.run();
