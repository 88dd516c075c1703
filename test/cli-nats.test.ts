// `forward --log nats://HOST:PORT/STREAM` and `replay nats://…`, through the built binary
// against a real nats-server: the fleet log written, read back with its filters, and a proxy
// that keeps serving while NATS is down and says so once.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuilt, runCli, startForward, type Child } from './helpers/cli-harness.js';
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

peerTest('forward --log nats://…?message-bytes=0 stores one record per message; by default a connection\'s records share messages', async () => {
  const nats = await startNats();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  try {
    const counts: Record<string, { messages: number; records: number }> = {};
    for (const [stream, query] of [['ONE', '?message-bytes=0'], ['SHARED', '']] as const) {
      const url = `nats://${nats.url}/${stream}`;
      const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', `${url}${query}`]);
      for (let i = 0; i < 3; i++) await echoHello(port);
      child.kill('SIGTERM');
      assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
      const { connect: natsConnect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await natsConnect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      const messages = (await jsm.streams.info(stream)).state.messages;
      let records = 0;
      for (let seq = 1; seq <= messages; seq++) records += (await jsm.streams.getMessage(stream, { seq }))!.string().split('\n').length;
      await nc.close();
      counts[stream] = { messages, records };
    }
    assert.ok(counts.ONE!.records >= 3 * 8, `three connections' records: ${JSON.stringify(counts)}`);
    assert.is(counts.ONE!.messages, counts.ONE!.records, 'one record per message');
    assert.ok(counts.SHARED!.messages < counts.SHARED!.records, `shared: ${JSON.stringify(counts.SHARED)}`);
  } finally {
    await closeServer(upstream);
    await nats.stop();
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

/** A password with characters a URL must percent-encode, and its encoded form: neither may be printed. */
const PASSWORD = 'p@ss:w0rd/42';
const ENCODED = encodeURIComponent(PASSWORD);
const leaks = (text: string) => [PASSWORD, ENCODED, 's3cr3t-token'].filter((s) => text.includes(s));

peerTest('nats://USER:PASS@ credentials authenticate, and no line, error or metric ever shows them: outage, recovery, reopen, status, replay', async () => {
  const nats = await startNats(['--user', 'alice', '--pass', PASSWORD]);
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  let forward: Child | undefined;
  try {
    const url = `nats://alice:${ENCODED}@${nats.url}/CREDS`;
    const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', url, '--metrics', '127.0.0.1:0']);
    forward = child;
    const [, metricsUrl] = (await child.waitFor('stdout', /^metrics on (http:\/\/\S+)$/))!;
    await echoHello(port);
    await child.waitFor('stderr', /^conn=\S+-1 /);
    await nats.kill();
    await echoHello(port);
    await child.waitFor('stderr', /^conn=\S+-2 /);
    // The outage is said, naming the log by its URL without credentials.
    await child.waitFor('stderr', new RegExp(`^--log nats://${nats.url.replace('.', '\\.')}/CREDS: .*records wait in memory`), 30_000);
    const during = await (await fetch(metricsUrl!)).text();
    await nats.restart();
    await child.waitFor('stderr', /NATS acknowledges records again after \d+ ms; 0 records dropped/, 20_000);
    const after = await (await fetch(metricsUrl!)).text();
    assert.match(after, /proxy_lifecycle_log_sink_records_total\{sink="event_log",state="acked"\} [1-9]/);
    child.kill('SIGHUP');
    await child.waitFor('stderr', /^SIGHUP: reopened /);
    child.kill('SIGUSR2');
    await child.waitFor('stderr', /^status: /);
    child.kill('SIGTERM');
    assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
    const printed = [child.stdout, child.stderr, during, after].join('\n');
    assert.equal(leaks(printed), [], printed);

    // The same credentials read the stream back; replay's errors do not show them either.
    const all = await runCli(['replay', url]);
    assert.is(all.code, 0, all.stderr);
    assert.is(all.stdout.match(/closed after \d+ ms: term CO/g)?.length, 2, all.stdout);
    const noStream = await runCli(['replay', `nats://alice:${ENCODED}@${nats.url}/NONE`]);
    assert.is(noStream.code, 2);
    assert.equal(leaks(noStream.stdout + noStream.stderr), [], noStream.stderr);
    const wrong = await runCli(['replay', `nats://alice:${ENCODED}x@${nats.url}/CREDS`]);
    assert.is(wrong.code, 2);
    assert.match(wrong.stderr, new RegExp(`^proxy-lifecycle: cannot read nats://${nats.url.replace('.', '\\.')}/CREDS: `));
    assert.equal(leaks(wrong.stdout + wrong.stderr), [], wrong.stderr);
  } finally {
    await forward?.dispose();
    await closeServer(upstream);
    await nats.stop();
  }
});

test('forward --workers 2 with credentials and NATS unreachable: every worker says the outage, and the exit says what was lost, without the secret', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const nowhere = await closedPort();
  let child: Child | undefined;
  try {
    const url = `nats://alice:${ENCODED}@127.0.0.1:${nowhere}/GONE`;
    const shown = `nats://127\\.0\\.0\\.1:${nowhere}/GONE`;
    const started = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--workers', '2', '--shutdown-timeout', '1000', '--log', url]);
    child = started.child;
    for (const w of [1, 2]) await child.waitFor('stderr', new RegExp(`^worker ${w}: --log ${shown}: .*records wait in memory`), 15_000);
    for (let i = 0; i < 4; i++) await echoHello(started.port);
    child.kill('SIGTERM');
    const exit = await child.done(30_000);
    assert.is(exit.code, 1, child.stderr);
    assert.match(child.stderr, new RegExp(`^proxy-lifecycle: writing ${shown}: JetStream sink: \\d+ records lost`, 'm'));
    assert.equal(leaks(child.stdout + child.stderr), [], child.stderr);
    // A token alone (nats://TOKEN@…) is a secret too.
    const token = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--log', `nats://s3cr3t-token@127.0.0.1:${nowhere}/GONE`, '--json']);
    child = token.child;
    await child.waitFor('stderr', /"event":"sink_failed"/, 15_000);
    child.kill('SIGTERM');
    await child.done(30_000);
    assert.equal(leaks(child.stdout + child.stderr), [], child.stderr);
  } finally {
    await child?.dispose();
    await closeServer(upstream);
  }
});

test('bad nats:// values and filters are one line, exit 2', async () => {
  const noStream = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--log', 'nats://127.0.0.1:4222/a.b']);
  assert.is(noStream.code, 2);
  assert.match(noStream.stderr.trim(), /^proxy-lifecycle: --log: stream "a\.b": expected nats:\/\/HOST:PORT\/STREAM/);
  const twoNames = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--instance', 'a', '--log', 'nats://127.0.0.1:4222/S?instance=b']);
  assert.is(twoNames.code, 2);
  assert.is(twoNames.stderr.trim(), 'proxy-lifecycle: --log: ?instance=b and --instance a differ; give the name once');
  for (const bad of [`nats://alice:${ENCODED}@127.0.0.1:99999/S`, `nats://alice:${ENCODED}@/S`]) {
    const r = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--log', bad]);
    assert.is(r.code, 2);
    assert.match(r.stderr.trim(), /^proxy-lifecycle: --log: "nats:\/\/[^"]*" is not a URL/);
    assert.equal(leaks(r.stderr), [], r.stderr);
  }
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
