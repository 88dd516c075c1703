/**
 * Regression (issue: the client of an SSE-like stream sends its request and FIN, reads a while
 * and resets; the proxy then read and discarded the upstream's stream at loopback speed for the
 * whole grace period, and logged `gD` with `fin / grace_expired`). Through the real binary: the
 * upstream socket is closed without waiting for the grace period, little is read for nowhere,
 * and the termination code names the client's reset.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLines, ensureBuilt, startForward } from './helpers/cli-harness.js';
import { closeServer, listen, payload } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

/** An upstream that, once asked, streams without end until its socket goes; it reports when that happens. */
async function endlessStream(): Promise<{ port: number; closed(): boolean; sent(): number; close(): Promise<void> }> {
  let closed = false;
  let sent = 0;
  const chunk = payload(16 * 1024);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => (closed = true));
    s.once('data', () => {
      const pump = () => {
        while (!s.destroyed && s.writable) {
          sent += chunk.length;
          if (!s.write(chunk)) break;
        }
      };
      s.on('drain', pump);
      pump();
    });
  });
  const port = await listen(server);
  return {
    port,
    closed: () => closed,
    sent: () => sent,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

test('a client that resets mid-stream gets the upstream closed at once, not after the grace period, and the code names the reset', async () => {
  const upstream = await endlessStream();
  // A grace period far longer than the test may take: only the fix closes the upstream in time.
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstream.port}`, '--grace-period', '10m', '--shutdown-timeout', '1s']);
  try {
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    let received = 0;
    client.on('data', (d: Buffer) => (received += d.length));
    await new Promise((r) => client.once('connect', r));
    client.end('GET /events\r\n\r\n');
    await until(() => received >= 4 * 1024 * 1024, 'the stream flowing to the client');
    client.resetAndDestroy();
    // Bounded in wall time only so that a regression fails instead of hanging for 10 minutes.
    await until(() => upstream.closed(), 'the proxy to close the upstream', 10_000);
    const sentAtClose = upstream.sent();
    await until(() => accessLines(child).length === 1, 'the access-log line');
    const [line] = accessLines(child);
    assert.is(line!.term, 'cH', `termination code (${JSON.stringify(line)})`);
    assert.is(line!.client_close, 'fin');
    assert.is(line!.server_close, 'peer_fin');
    assert.ok(['ECONNRESET', 'EPIPE'].includes(line!.client_error ?? ''), `the client's reset is recorded: ${line!.client_error}`);
    const discarded = Number(line!.discarded_bytes ?? 0);
    assert.ok(discarded <= 256 * 1024, `little read for nowhere: ${discarded} bytes`);
    // The upstream could not push more than the socket buffers hold after the reset.
    assert.ok(Number(line!.s2c_bytes) <= sentAtClose);
  } finally {
    await upstream.close();
    child.kill('SIGTERM');
    await child.done();
  }
});

test.run();
