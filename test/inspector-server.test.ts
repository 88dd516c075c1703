import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { startInspectorServer } from '../src/inspect/inspector-server.js';
import { connectErrorAt, otherLocalAddresses } from './helpers/exposure.js';
import { startLoopback } from './helpers/loopback.js';
import { Viewer, loadWs } from './helpers/relay-viewer.js';
import { assertReplayMatches } from './helpers/replay.js';
import { closeServer, connect, connectError, payload, readAll, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

test('inspection events of a proxied connection reach a viewer of the local relay', async () => {
  const WebSocket = await loadWs();
  const inspector = await startInspectorServer();
  assert.is(inspector.url, `http://127.0.0.1:${inspector.port}`, 'bound to loopback by default');
  assert.is(inspector.wsUrl, `ws://127.0.0.1:${inspector.port}`);

  // A viewer, as the relay's browser page is: it gets what inspectors send to the relay.
  const viewer = new Viewer(WebSocket, inspector.wsUrl);
  const messages = viewer.messages;
  await viewer.open();

  const rig = await startLoopback({
    supervisor: { clock: systemClock, inspect: { observer: inspector.observer } },
    upstream: (socket) => socket.pipe(socket),
  });
  const { supervisor, recorded, proxyPort: port } = rig;
  try {
    const client = await connect(port);
    const data = payload(16 * 1024);
    const got = readAll(client);
    client.end(data);
    assert.is(sha256(await got), sha256(data));
    await until(() => supervisor.stats.closed === 1, 'connection disposed');
    client.destroy();

    const eventTypes = () => messages.filter((m) => m.type === '@xstate.event').map((m) => m.event!.type);
    await until(() => ['CONNECTED', 'END', 'FINISHED', 'CLOSE'].every((t) => eventTypes().includes(t)), 'lifecycle events relayed');
    await until(() => messages.some((m) => m.type === '@xstate.snapshot' && m.snapshot?.status === 'done'), 'final snapshot relayed');

    const actor = messages.find((m) => m.type === '@xstate.actor');
    assert.ok(actor, 'the connection was registered as an actor');
    // Every relayed message is about that one actor, the connection.
    assert.equal([...new Set(messages.map((m) => m.sessionId))], [actor!.sessionId]);
    const ends = messages.filter((m) => m.type === '@xstate.event' && m.event!.type === 'END').map((m) => m.event!.side);
    assert.equal(ends.sort(), ['client', 'server'], 'each side FIN once');
    const closes = messages.filter((m) => m.type === '@xstate.event' && m.event!.type === 'CLOSE').map((m) => m.event!.side);
    // Both sockets close in one loop turn: the first 'close' ends the machine (the other side
    // had flushed, so it closes with it), and Node decides which of the two that is.
    assert.ok(closes.length === 1 || closes.sort().join() === 'client,server', `CLOSE events ${JSON.stringify(closes)}`);
    const final = messages.filter((m) => m.type === '@xstate.snapshot').at(-1)!;
    assert.equal((final.snapshot!.value as { client: string; server: string }).client, 'closed');
    assert.equal((final.snapshot!.value as { client: string; server: string }).server, 'closed');

    assert.equal(recorded[0]!.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(boundListenerCount(recorded[0]!.client), 0);
    assertReplayMatches(supervisor, recorded);
  } finally {
    await viewer.close();
    await inspector.close();
    await rig.close();
  }
  // The relay no longer listens once closed.
  assert.is(await connectError(inspector.port), 'ECONNREFUSED');
});

test('a port in use is an error, not a crash', async () => {
  const blocker = net.createServer();
  blocker.listen(0);
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    let error: unknown;
    await startInspectorServer({ port }).catch((e: unknown) => (error = e));
    assert.ok(error instanceof Error, 'rejected');
    assert.is((error as NodeJS.ErrnoException).code, 'EADDRINUSE');
  } finally {
    await closeServer(blocker);
  }
});

test('the relay listens only on the host it is given: 127.0.0.1 by default', async () => {
  const loopback = await startInspectorServer();
  const given = await startInspectorServer({ host: '127.0.0.2' });
  // The control: on every interface, the same probes connect, so a refusal is the binding's doing.
  const wide = await startInspectorServer({ host: '0.0.0.0' });
  try {
    assert.is(loopback.host, '127.0.0.1');
    assert.is(await connectErrorAt('127.0.0.1', loopback.port), null);
    for (const other of otherLocalAddresses('127.0.0.1')) assert.is(await connectErrorAt(other, loopback.port), 'ECONNREFUSED', `${other} refused`);

    assert.is(given.url, `http://127.0.0.2:${given.port}`);
    assert.is(given.wsUrl, `ws://127.0.0.2:${given.port}`);
    assert.is(await connectErrorAt('127.0.0.2', given.port), null);
    for (const other of otherLocalAddresses('127.0.0.2')) assert.is(await connectErrorAt(other, given.port), 'ECONNREFUSED', `${other} refused`);

    assert.is(wide.url, `http://0.0.0.0:${wide.port}`);
    for (const other of ['127.0.0.1', ...otherLocalAddresses('127.0.0.1')]) assert.is(await connectErrorAt(other, wide.port), null, `${other} reaches 0.0.0.0`);
  } finally {
    await Promise.all([loopback.close(), given.close(), wide.close()]);
  }
});

test('on the host it is given, the relay passes the inspection events on to a viewer, end to end', async () => {
  const WebSocket = await loadWs();
  const inspector = await startInspectorServer({ host: '127.0.0.2' });
  const viewer = new Viewer(WebSocket, inspector.wsUrl);
  await viewer.open();
  const rig = await startLoopback({
    supervisor: { clock: systemClock, inspect: { observer: inspector.observer } },
    upstream: (socket) => socket.pipe(socket),
  });
  const port = rig.proxyPort;
  try {
    const client = await connect(port);
    const got = readAll(client);
    client.end('to 127.0.0.2');
    assert.is((await got).toString(), 'to 127.0.0.2');
    client.destroy();
    await until(() => viewer.sessions().length === 1 && viewer.final(viewer.sessions()[0]!) !== undefined, 'final snapshot relayed');
    assert.equal(viewer.final(viewer.sessions()[0]!)!.snapshot!.context!.bytes, { clientToServer: 12, serverToClient: 12 });
  } finally {
    await viewer.close();
    await inspector.close();
    await rig.close();
  }
});

test('an address the machine does not have is an error with its code', async () => {
  let error: unknown;
  await startInspectorServer({ host: '192.0.2.123' }).catch((e: unknown) => (error = e));
  assert.is((error as NodeJS.ErrnoException).code, 'EADDRNOTAVAIL');
});

test('close() drops a viewer still connected', async () => {
  const WebSocket = await loadWs();
  const inspector = await startInspectorServer();
  const viewer = new Viewer(WebSocket, inspector.wsUrl);
  await viewer.open();
  await inspector.close();
  await until(() => viewer.closed, 'viewer dropped');
  await inspector.close();
});

const linuxTest = process.platform === 'linux' ? test : test.skip;

linuxTest('open: true opens the page with the platform opener (xdg-open), a missing one is no error', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'pl-open-'));
  const saved = process.env.PATH;
  try {
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$@" > "${join(bin, 'opened')}"\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    process.env.PATH = `${bin}:${saved}`;
    const inspector = await startInspectorServer({ open: true });
    try {
      await until(() => {
        try {
          return readFileSync(join(bin, 'opened'), 'utf8') === `${inspector.url}\n`;
        } catch {
          return false;
        }
      }, 'xdg-open ran with the URL');
    } finally {
      await inspector.close();
    }
    process.env.PATH = bin.replace(/$/, '-none');
    const without = await startInspectorServer({ open: true });
    await without.close();
  } finally {
    process.env.PATH = saved;
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
