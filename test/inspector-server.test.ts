import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { startInspectorServer } from '../src/inspect/inspector-server.js';
import { startLoopback } from './helpers/loopback.js';
import { Viewer, loadWs } from './helpers/relay-viewer.js';
import { assertReplayMatches } from './helpers/replay.js';
import { closeServer, connect, connectError, payload, readAll, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

test('inspection events of a proxied connection reach a viewer of the local relay', async () => {
  const WebSocket = await loadWs();
  const inspector = await startInspectorServer();
  assert.match(inspector.url, /^http:\/\/localhost:\d+$/);
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

test.run();
