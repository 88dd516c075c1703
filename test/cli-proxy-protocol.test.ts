// forward --accept-proxy on its own (no third-party peer): bad and late headers are refused by
// the real binary, recorded in the event log, and never dial the target.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLines, ensureBuilt, startForward } from './helpers/cli-harness.js';
import { closeServer, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

/** Connects, sends `bytes`, resolves with how long the proxy took to close it, and what came back. */
async function closedAfter(port: number, bytes: Buffer): Promise<{ ms: number; reply: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const start = Date.now();
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString()));
  socket.on('error', () => {});
  if (bytes.length > 0) socket.write(bytes);
  await once(socket, 'close');
  return { ms: Date.now() - start, reply };
}

test('forward --accept-proxy 300ms: garbage is refused at once (hA), silence at the timeout (wA), a good header served; refusals are in the event log, the target dialled once', async () => {
  const echo = echoServer();
  let dials = 0;
  echo.on('connection', () => dials++);
  const echoPort = await listen(echo);
  const dir = mkdtempSync(join(tmpdir(), 'pl-cli-proxy-'));
  const logFile = join(dir, 'events.jsonl');
  const { child, port } = await startForward(['--target', `127.0.0.1:${echoPort}`, '--accept-proxy', '300ms', '--log', logFile]);
  try {
    const garbage = await closedAfter(port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    assert.ok(garbage.ms < 250, `closed before the timeout: ${garbage.ms} ms`);
    const silent = await closedAfter(port, Buffer.alloc(0));
    assert.ok(silent.ms >= 250 && silent.ms < 5000, `closed at the timeout: ${silent.ms} ms`);
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.end('PROXY TCP4 192.0.2.10 192.0.2.1 5000 443\r\nhi');
    await once(socket, 'close');
    assert.is(reply, 'hi');
    // The two refusals have their access-log lines too (conn=-); the served client its close line.
    const closes = () => accessLines(child).filter((l) => l.conn !== '-');
    await until(() => closes().length === 1, () => `one close line; stderr: ${child.stderr}`);
    assert.is(closes()[0]!.from, '192.0.2.10:5000');
    assert.equal(accessLines(child).filter((l) => l.conn === '-').map((l) => [l.term, l.client_close, l.limit]), [
      ['hA', 'proxy_header_invalid', 'accept_proxy'],
      ['wA', 'proxy_header_timeout', 'accept_proxy'],
    ]);
    assert.is(dials, 1, 'only the served client dialled the target');
    child.kill('SIGTERM');
    await child.done();
    const refused = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.kind === 'refused');
    assert.equal(refused.map((r) => [r.reason, r.limit, r.error, r.code]), [
      ['proxy_header_invalid', 'accept_proxy', 'PROXY_HEADER_MISSING', 'hA'],
      ['proxy_header_timeout', 'accept_proxy', 'PROXY_HEADER_MISSING', 'wA'],
    ]);
  } finally {
    await child.dispose();
    await closeServer(echo);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
