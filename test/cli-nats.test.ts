// `forward --log nats://HOST:PORT/STREAM` and `replay nats://…`, through the built binary
// against a real nats-server: the fleet log written, read back with its filters, and a proxy
// that keeps serving while NATS is down and says so once.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuilt, runCli, startForward } from './helpers/cli-harness.js';
import { peerTest as peerTest_, startNats } from './helpers/peers.js';
import { closedPort, closeServer, connect, echoServer, listen, readAll } from './helpers/sockets.js';

ensureBuilt();
const peerTest = peerTest_('cli-nats', 'nats-server', ['--version']);

/** A half-closed echo of `hello` through the proxy on `port`. */
async function echoHello(port: number): Promise<void> {
  const a = await connect(port);
  const got = readAll(a);
  a.end('hello');
  assert.is((await got).toString(), 'hello');
  a.destroy();
}

peerTest('forward --log nats://… publishes the event log; replay nats://… reads it back, by instance and connection', async () => {
  const nats = await startNats();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const tmp = mkdtempSync(join(tmpdir(), 'pl-cli-nats-'));
  try {
    const url = `nats://${nats.url}/FLEET`;
    const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', `${url}?instance=edge-1`]);
    await echoHello(port);
    // The URL's instance names the proxy: its connection ids and its subjects.
    const [, first] = (await child.waitFor('stderr', /^conn=(edge-1-\w+-1) /))!;
    await echoHello(port);
    const [, second] = (await child.waitFor('stderr', /^conn=(edge-1-\w+-2) /))!;
    child.kill('SIGTERM');
    assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);

    const all = await runCli(['replay', url]);
    assert.is(all.code, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`^connection ${first} from 127\\.0\\.0\\.1:\\d+`, 'm'));
    assert.match(all.stdout, new RegExp(`^connection ${second} from `, 'm'));
    assert.is(all.stdout.match(/closed after \d+ ms: term CO/g)?.length, 2, all.stdout);

    const one = await runCli(['replay', url, '--instance', 'edge-1', '--connection', second!]);
    assert.is(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`^connection ${second} `, 'm'));
    assert.not.match(one.stdout, new RegExp(`^connection ${first} `, 'm'));

    const other = await runCli(['replay', url, '--instance', 'edge-2']);
    assert.is(other.code, 0, other.stderr);
    assert.match(other.stdout, /holds no connections/);

    const later = await runCli(['replay', url, '--since', new Date(Date.now() + 60_000).toISOString()]);
    assert.match(later.stdout, /holds no connections/, 'nothing stored from a minute ahead on');
    const recent = await runCli(['replay', url, '--since', '1h']);
    assert.match(recent.stdout, new RegExp(`^connection ${second} `, 'm'), 'a duration back from now');

    const html = join(tmp, 'fleet.html');
    const page = await runCli(['replay', url, '--html', html]);
    assert.is(page.code, 0, page.stderr);
    assert.match(page.stdout, /wrote .*fleet\.html \(2 connections\)/);
    assert.ok(existsSync(html) && readFileSync(html, 'utf8').includes('<html'));
  } finally {
    await closeServer(upstream);
    await nats.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});

peerTest('forward keeps proxying while NATS is down, says so once, and delivers the log once NATS is back', async () => {
  const nats = await startNats();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  try {
    const url = `nats://${nats.url}/OUTAGE`;
    const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', url]);
    await echoHello(port);
    await child.waitFor('stderr', /^conn=\S+-1 /);
    await nats.kill();
    // Served while NATS is down; its records are what the sink fails to ship, if it has not noticed yet.
    await echoHello(port);
    await child.waitFor('stderr', /^conn=\S+-2 /);
    await child.waitFor('stderr', /sink_failed|--log nats:.*NATS/, 30_000);
    await echoHello(port);
    await child.waitFor('stderr', /^conn=\S+-3 /);
    await nats.restart();
    await child.waitFor('stderr', /NATS acknowledges records again after \d+ ms; 0 records dropped/, 20_000);
    child.kill('SIGTERM');
    assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
    assert.is(child.stderrLines().filter((l) => l.includes('records wait in memory')).length, 1, `the outage said once: ${child.stderr}`);

    const all = await runCli(['replay', url]);
    assert.is(all.code, 0, all.stderr);
    assert.is(all.stdout.match(/closed after \d+ ms: term CO/g)?.length, 3, 'the connections served during the outage are in the log');
  } finally {
    await closeServer(upstream);
    await nats.stop();
  }
});

test('bad nats:// values and filters are one line, exit 2', async () => {
  const noStream = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--log', 'nats://127.0.0.1:4222/a.b']);
  assert.is(noStream.code, 2);
  assert.match(noStream.stderr.trim(), /^proxy-lifecycle: --log: stream "a\.b": expected nats:\/\/HOST:PORT\/STREAM/);
  const twoNames = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--instance', 'a', '--log', 'nats://127.0.0.1:4222/S?instance=b']);
  assert.is(twoNames.code, 2);
  assert.is(twoNames.stderr.trim(), 'proxy-lifecycle: --log: ?instance=b and --instance a differ; give the name once');
  const fileFilter = await runCli(['replay', 'some.jsonl', '--instance', 'edge-1']);
  assert.is(fileFilter.code, 2);
  assert.is(fileFilter.stderr.trim(), 'proxy-lifecycle: --instance reads a nats:// stream, not a file');
  const port = await closedPort();
  const down = await runCli(['replay', `nats://127.0.0.1:${port}/X`]);
  assert.is(down.code, 2);
  assert.match(down.stderr.trim(), new RegExp(`^proxy-lifecycle: cannot read nats://127\\.0\\.0\\.1:${port}/X: `));
  const badSince = await runCli(['replay', `nats://127.0.0.1:${port}/X`, '--since', 'yesterday']);
  assert.is(badSince.code, 2);
  assert.match(badSince.stderr, /--since must be an ISO 8601 time/);
});

test.run();
