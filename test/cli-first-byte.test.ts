// `forward --first-byte-timeout`, through the real binary on loopback sockets (real clock).
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseForwardArgs } from '../src/cli/forward-args.js';
import { accessLines, connLine, counterOf, ensureBuilt, runCli, startForward, type Child } from './helpers/cli-harness.js';
import { closeServer, connect, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const FIRST = 300;

/** What a test client saw: bytes, FIN, close. */
function watch(client: net.Socket) {
  const seen = { data: '', ended: false, closed: false };
  client.on('data', (d: Buffer) => (seen.data += d.toString()));
  client.on('end', () => {
    seen.ended = true;
    client.end();
  });
  client.on('close', () => (seen.closed = true));
  client.on('error', () => {});
  return seen;
}

async function stop(child: Child): Promise<void> {
  child.kill('SIGTERM');
  assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
}

test('--first-byte-timeout: a silent client is closed (first_byte_timeout, fO); one that sent a byte is kept', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--first-byte-timeout', `${FIRST}ms`]);
  try {
    const silent = await connect(port);
    const started = Date.now();
    const s = watch(silent);
    await until(() => s.closed, 'the proxy to close the silent client (EOF, not a hang)', 10_000);
    const waited = Date.now() - started;
    assert.ok(s.ended, 'the client saw FIN first, not only a reset');
    assert.ok(waited >= FIRST - 20, `closed after ${waited} ms, not before the timeout`);
    await child.waitFor('stderr', connLine(1));
    const [line] = accessLines(child);
    assert.equal([line!.client_close, line!.server_close, line!.term, line!.c2s_bytes], ['first_byte_timeout', 'first_byte_timeout', 'fO', '0']);

    const talker = await connect(port);
    const t = watch(talker);
    talker.write('x');
    await until(() => t.data === 'x', 'the echo');
    await new Promise((resolve) => setTimeout(resolve, FIRST * 3));
    assert.not.ok(t.ended || t.closed, `a client that sent a byte is kept past ${FIRST} ms`);
    talker.end();
    await until(() => t.closed, 'the talker to close');
    await child.waitFor('stderr', connLine(2));
    const second = accessLines(child).find((l) => counterOf(l.conn!) === 2)!;
    assert.equal([second.client_close, second.term, second.c2s_bytes], ['fin', 'CO', '1']);
    await stop(child);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('--first-byte-timeout takes a DURATION and names itself in errors; forward --help lists it', async () => {
  const config = parseForwardArgs(['--listen', '0', '--target', '127.0.0.1:1', '--first-byte-timeout', '1.5s']);
  assert.is(config !== 'help' && config.options.firstByteTimeout, 1_500);
  const bad = await runCli(['forward', '--listen', '0', '--target', '127.0.0.1:1', '--first-byte-timeout', 'soon']);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^proxy-lifecycle: --first-byte-timeout must be a duration such as 250ms.*got "soon"\n$/);
  const help = await runCli(['forward', '--help']);
  assert.match(help.stdout, /--first-byte-timeout DURATION/);
  assert.match(help.stdout, /server-first protocols/);
});

test.run();
