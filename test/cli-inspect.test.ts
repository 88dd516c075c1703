// `forward --inspect`, through the built binary: a viewer on the relay's WebSocket (as the
// relay's browser page is) receives the inspection events of the proxied connections.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, Child, ROOT, accessLines, counterOf, ensureBuilt, runCli, startForward } from './helpers/cli-harness.js';
import { connectErrorAt, otherLocalAddresses } from './helpers/exposure.js';
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
  await until(() => accessLines(child).some((l) => counterOf(l.conn!) === id), `connection ${id} closed`);
}

async function inspectorUrl(child: Child, host = '127.0.0.1'): Promise<{ url: string; port: number }> {
  const m = await child.waitFor('stdout', new RegExp(`^inspector on (http://${host.replaceAll('.', '\\.')}:(\\d+))$`));
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
    for (const other of otherLocalAddresses('127.0.0.1')) assert.is(await connectErrorAt(other, inspector.port), 'ECONNREFUSED', `loopback only: ${other} refused`);
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
    assert.is(run.stderr.trim(), `proxy-lifecycle: --inspect: cannot listen on 127.0.0.1:${taken}: the address is already in use`);
    assert.is(run.stdout, '');
  } finally {
    await closeServer(blocker);
  }
});

test('forward --inspect flag errors name the flag, exit 2', async () => {
  const base = ['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9'];
  const errors: [string[], string][] = [
    [['--inspect', '--inspect-every', '0'], '--inspect-every must be a whole number from 1 (every connection) to 2147483647, got "0"'],
    [['--inspect-every', '2'], '--inspect-every needs --inspect'],
    [['--inspect=localhost:70000'], '--inspect: port must be a whole number from 0 to 65535, got "70000"'],
    [['--inspect=no_such!host:4242'], '--inspect takes [HOST:]PORT or nothing, got "no_such!host:4242"'],
    [['--inspect=::1:4242'], '--inspect takes [HOST:]PORT or nothing, got "::1:4242"'],
    [['--inspect', '192.0.2.123:0'], '--inspect: cannot listen on 192.0.2.123:0: the address is not available on this machine'],
  ];
  for (const [args, message] of errors) {
    const run = await runCli([...base, ...args]);
    assert.is(run.code, 2, args.join(' '));
    assert.is(run.stderr.trim(), `proxy-lifecycle: ${message}`);
    assert.is(run.stdout, '', 'the proxy never listened');
  }
});

test('forward --inspect 127.0.0.2:PORT listens there only, and a viewer there gets the events', async () => {
  const WebSocket = await loadWs();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--inspect', '127.0.0.2:0']);
  let viewer: Viewer | undefined;
  try {
    const inspector = await inspectorUrl(child, '127.0.0.2');
    for (const other of otherLocalAddresses('127.0.0.2')) assert.is(await connectErrorAt(other, inspector.port), 'ECONNREFUSED', `${other} refused`);
    assert.match(await (await fetch(inspector.url)).text(), /Stately Inspector/);
    viewer = new Viewer(WebSocket, `ws://127.0.0.2:${inspector.port}`);
    await viewer.open();
    await roundTrip(child, port, 1, 7);
    await until(() => viewer!.sessions().length === 1 && viewer!.final(viewer!.sessions()[0]!) !== undefined, 'final snapshot relayed');
    assert.equal(viewer.final(viewer.sessions()[0]!)!.snapshot!.context!.bytes, { clientToServer: 7, serverToClient: 7 });
    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0);
  } finally {
    await viewer?.close();
    await child.dispose();
    await closeServer(upstream);
  }
});

/** Runs `forward --inspect` from the binary alone, beside its required dependencies and `extra` packages only. */
async function withoutPeers(extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pl-noinspect-'));
  try {
    copyFileSync(CLI, join(dir, 'cli.js'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    mkdirSync(join(dir, 'node_modules', '@statelyai'), { recursive: true });
    const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of [...Object.keys(dependencies), ...extra]) {
      // A scoped package (@nats-io/…) needs its scope's folder first.
      mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    }
    const child = new Child(process.execPath, [join(dir, 'cli.js'), 'forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--inspect']);
    const exit = await child.done();
    return { code: exit.code, stdout: child.stdout, stderr: child.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('forward --inspect without its optional peers installed says which in one line, exit 2', async () => {
  const none = await withoutPeers([]);
  assert.is(none.code, 2, none.stderr);
  assert.is(none.stderr.trim(), 'proxy-lifecycle: --inspect: the optional peer dependencies @statelyai/inspect and ws are not installed (npm i -D @statelyai/inspect ws)');
  assert.is(none.stdout, '', 'the proxy never started');
  // As pnpm lays it out: @statelyai/inspect reaches its own ws, the binary does not.
  const noWs = await withoutPeers(['@statelyai/inspect']);
  assert.is(noWs.code, 2, noWs.stderr);
  assert.is(noWs.stderr.trim(), 'proxy-lifecycle: --inspect: the optional peer dependency ws is not installed (npm i -D ws)');
  assert.is(noWs.stdout, '');
});

test.run();
