// `forward --inspect`, through the built binary: a viewer on the relay's WebSocket (as the
// relay's browser page is) receives the inspection events of the proxied connections.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, Child, ROOT, accessLines, ensureBuilt, runCli, startForward } from './helpers/cli-harness.js';
import { closeServer, connect, connectError, echoServer, listen, readAll } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { Viewer, loadWs } from './helpers/relay-viewer.js';

ensureBuilt();

/** Sends `size` bytes through the proxy, checks the echo, and waits for the access-log line of connection `id`. */
async function roundTrip(child: Child, port: number, id: number, size: number): Promise<void> {
  const client = await connect(port);
  const data = Buffer.alloc(size, 0x61 + id);
  const got = readAll(client);
  client.end(data);
  assert.ok((await got).equals(data), `connection ${id} echoed`);
  client.destroy();
  await until(() => accessLines(child).some((l) => l.conn === String(id)), `connection ${id} closed`);
}

async function inspectorUrl(child: Child): Promise<{ url: string; port: number }> {
  const m = await child.waitFor('stdout', /^inspector on (http:\/\/localhost:(\d+))$/);
  return { url: m[1]!, port: Number(m[2]) };
}

test('forward --inspect relays the lifecycle of a proxied connection, as an actor, to a viewer', async () => {
  const WebSocket = await loadWs();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--inspect']);
  let viewer: Viewer | undefined;
  try {
    const inspector = await inspectorUrl(child);
    assert.is.not(inspector.port, 0, 'a free port was picked');
    // The address printed serves the relay's page (what a browser opens).
    const page = await (await fetch(inspector.url)).text();
    assert.match(page, /Stately Inspector/);
    viewer = new Viewer(WebSocket, `ws://127.0.0.1:${inspector.port}`);
    await viewer.open();

    await roundTrip(child, port, 1, 5);
    await until(() => viewer!.sessions().length === 1 && viewer!.final(viewer!.sessions()[0]!) !== undefined, 'final snapshot relayed');
    const [session] = viewer.sessions();
    const messages = viewer.of(session!);
    assert.is(messages.find((m) => m.type === '@xstate.actor')!.name, 'connection', "the connection machine's id");
    const events = messages.filter((m) => m.type === '@xstate.event').map((m) => m.event!);
    const types = events.map((e) => e.type);
    for (const type of ['CONNECTED', 'END', 'CLOSE']) assert.ok(types.includes(type), `${type} relayed`);
    assert.equal(events.filter((e) => e.type === 'END').map((e) => e.side).sort(), ['client', 'server'], 'each side FIN once');
    const final = viewer.final(session!)!;
    assert.equal((final.snapshot!.value as { client: string; server: string }).client, 'closed');
    assert.equal((final.snapshot!.value as { client: string; server: string }).server, 'closed');
    assert.equal(final.snapshot!.context!.bytes, { clientToServer: 5, serverToClient: 5 });
    // Every message the relay passed on is about that one connection.
    assert.equal([...new Set(viewer.messages.map((m) => m.sessionId))], [session]);

    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0);
    assert.match(child.stderr, /^stopped: 0 finished, 0 destroyed$/m, 'a clean stop, nothing in flight');
    // The process is gone, and with it the relay and the proxy's socket.
    assert.is(await connectError(inspector.port), 'ECONNREFUSED');
    assert.is(await connectError(port), 'ECONNREFUSED');
    await until(() => viewer!.closed, 'the relay dropped the viewer');
  } finally {
    await viewer?.close();
    await child.dispose();
    await closeServer(upstream);
  }
});

test('forward --inspect PORT --inspect-every 2 inspects connections 1 and 3, not 2', async () => {
  const WebSocket = await loadWs();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  // A port known to be free a moment ago, to check that the given port is the one used.
  const probe = net.createServer();
  const wanted = await listen(probe);
  await closeServer(probe);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--inspect', String(wanted), '--inspect-every', '2']);
  let viewer: Viewer | undefined;
  try {
    const inspector = await inspectorUrl(child);
    assert.is(inspector.port, wanted);
    viewer = new Viewer(WebSocket, `ws://127.0.0.1:${inspector.port}`);
    await viewer.open();
    // Sizes tell the connections apart in the relayed snapshots; one at a time, so ids are 1, 2, 3.
    const sizes = [11, 22, 33];
    for (const [i, size] of sizes.entries()) await roundTrip(child, port, i + 1, size);
    // Connection 3's final snapshot comes after anything connection 2 could have sent: one ordered stream.
    const done = () => viewer!.sessions().filter((s) => viewer!.final(s) !== undefined);
    await until(() => done().some((s) => viewer!.final(s)!.snapshot!.context!.bytes!.clientToServer === 33), 'connection 3 relayed');
    const sent = viewer.sessions().map((s) => viewer!.final(s)?.snapshot!.context!.bytes!.clientToServer);
    assert.equal(sent, [11, 33], 'two actors: the first connection and the third');
    assert.is(accessLines(child).length, 3, 'all three were proxied');

    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0);
    assert.is(await connectError(inspector.port), 'ECONNREFUSED');
  } finally {
    await viewer?.close();
    await child.dispose();
    await closeServer(upstream);
  }
});

test('forward --inspect on a port in use is one line and exit 2, and the proxy never listens', async () => {
  const blocker = net.createServer();
  const taken = await listen(blocker);
  try {
    const run = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--inspect', String(taken)]);
    assert.is(run.code, 2);
    assert.is(run.stderr.trim(), `proxy-lifecycle: --inspect: port ${taken} is already in use`);
    assert.is(run.stdout, '');
  } finally {
    await closeServer(blocker);
  }
});

test('forward --inspect flag errors name the flag, exit 2', async () => {
  const base = ['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9'];
  const every = await runCli([...base, '--inspect', '--inspect-every', '0']);
  assert.is(every.code, 2);
  assert.is(every.stderr.trim(), 'proxy-lifecycle: --inspect-every must be a whole number from 1 (every connection) to 2147483647, got "0"');
  const host = await runCli([...base, '--inspect=localhost:4242']);
  assert.is(host.code, 2);
  assert.match(host.stderr.trim(), /^proxy-lifecycle: --inspect takes a PORT only, got "localhost:4242"/);
  const alone = await runCli([...base, '--inspect-every', '2']);
  assert.is(alone.code, 2);
  assert.is(alone.stderr.trim(), 'proxy-lifecycle: --inspect-every needs --inspect');
});

test('forward --inspect without @statelyai/inspect installed says so in one line, exit 2', async () => {
  // The binary alone, beside only its required dependencies: the optional peer is missing.
  const dir = mkdtempSync(join(tmpdir(), 'pl-noinspect-'));
  try {
    copyFileSync(CLI, join(dir, 'cli.js'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    mkdirSync(join(dir, 'node_modules'));
    const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(dependencies)) symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    const child = new Child(process.execPath, [join(dir, 'cli.js'), 'forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--inspect']);
    const exit = await child.done();
    assert.is(exit.code, 2, child.stderr);
    assert.is(child.stderr.trim(), 'proxy-lifecycle: --inspect: the optional peer dependency @statelyai/inspect is not installed (npm i -D @statelyai/inspect)');
    assert.is(child.stdout, '', 'the proxy never started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
