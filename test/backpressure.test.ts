import { createHash, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boundListenerCount } from '../src/internal.js';
import { assertCleanRun, startLoopback } from './helpers/loopback.js';
import { guardUncaught } from './helpers/uncaught.js';
import { until } from './helpers/wait.js';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;
const CHUNK = MB;
/** The slow reader takes this many bytes, then pauses for a timer tick. */
const READ_BURST = 256 * 1024;
/** Proxy-held bytes must stay far below the transfer: a few hundred KB is expected. */
const BOUND = 4 * MB;

test('200 MB to a slow reader: the proxy buffers a bounded amount, pauses the upstream, and delivers every byte', async () => {
  const guard = guardUncaught();
  const rig = await startLoopback();
  try {
    const { c, u, conn } = await rig.open();
    const proxyClient = conn.client;
    const proxyServer = conn.server!;
    let maxBuffered = 0;
    let samples = 0;
    const sample = () => {
      const buffered = proxyClient.writableLength + proxyServer.readableLength;
      if (buffered > maxBuffered) maxBuffered = buffered;
      samples++;
    };

    // Slow reader: a burst of bytes, then a pause until the next timer tick.
    let sinceBreak = 0;
    c.socket.on('data', (chunk: Buffer) => {
      sample();
      sinceBreak += chunk.length;
      if (sinceBreak >= READ_BURST) {
        sinceBreak = 0;
        c.socket.pause();
        setTimeout(() => c.socket.resume(), 1);
      }
    });
    c.socket.on('end', () => c.socket.end());

    // The upstream writes 200 MB of distinct chunks, honouring its own backpressure.
    const block = randomBytes(CHUNK);
    const sent = createHash('sha256');
    const writer = (async () => {
      for (let i = 0; i < TOTAL / CHUNK; i++) {
        const chunk = Buffer.allocUnsafe(CHUNK);
        block.copy(chunk);
        chunk.writeUInt32LE(i, 0);
        chunk.writeUInt32LE(i, CHUNK / 2);
        sent.update(chunk);
        sample();
        if (!u.socket.write(chunk)) await new Promise((r) => u.socket.once('drain', r));
      }
      u.socket.end();
    })();

    await writer;
    await until(() => c.received === TOTAL && c.gotEnd, 'all 200 MB at the client', 60_000);
    await until(() => conn.disposed && c.closed && u.closed, 'connection disposed');
    const info = await conn.whenClosed();

    assert.is(c.received, TOTAL);
    assert.is(c.hash.digest('hex'), sent.digest('hex'), 'bytes arrive intact and in order');
    assert.is(info.bytes.serverToClient, TOTAL);
    assert.is(info.discarded, 0);
    assert.ok(info.pauses.server > 0, `the upstream was paused for backpressure (pauses=${JSON.stringify(info.pauses)})`);
    assert.is(info.pauses.client, 0, 'the client, which sent nothing, was never paused');
    assert.ok(samples > 100, `enough samples (${samples})`);
    assert.ok(maxBuffered > 0, 'the proxy did buffer at times');
    assert.ok(maxBuffered < BOUND, `proxy buffered at most ${maxBuffered} bytes`);
    assert.is(info.reasons.server, 'fin');
    assert.is(info.reasons.client, 'peer_fin');
    assert.is(boundListenerCount(proxyClient), 0);
    assert.is(boundListenerCount(proxyServer), 0);
    assertCleanRun(rig, guard);
  } finally {
    guard.dispose();
    await rig.close();
  }
});

test.run();
