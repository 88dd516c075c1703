/**
 * `signal` options over real loopback sockets: `forward(…, { signal })` aborts its
 * connection, `new Supervisor({ signal })` shuts down gracefully, `shutdown({ signal })`
 * turns a graceful shutdown forced. Each listener is gone once its work is done.
 */
import { getEventListeners, once } from 'node:events';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventLog, InvalidOptionError, Supervisor, SupervisorClosedError, forward, type Connection } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { assertCleanEnd, region, startLoopback, type Loopback } from './helpers/loopback.js';
import { eventsOf } from './helpers/replay.js';
import { closeServer, connect, echoServer, endpoint, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/** A front server that `forward()`s each client to an echo upstream with `signal`. */
async function standalone(signal: AbortSignal) {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const log = new EventLog();
  const connections: Connection[] = [];
  const front = net.createServer({ allowHalfOpen: true }, (client) => {
    connections.push(forward(client, () => net.connect(echoPort, '127.0.0.1'), { signal, log }));
  });
  const port = await listen(front);
  return {
    log,
    connections,
    port,
    async close() {
      for (const c of connections) c.abort();
      await closeServer(front);
      await closeServer(echo);
    },
  };
}

function refusedSignal(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, InvalidOptionError);
    assert.is((err as InvalidOptionError).option, 'signal');
    assert.match((err as Error).message, 'signal must be an AbortSignal');
    return;
  }
  assert.unreachable('expected an InvalidOptionError for signal');
}

test('forward(…, { signal }): aborting destroys both sides of a live connection, and the listener goes with it', async () => {
  const controller = new AbortController();
  const rig = await standalone(controller.signal);
  try {
    const client = await connect(rig.port);
    client.on('error', () => {});
    const got = endpoint(client);
    client.write('ping');
    await until(() => got.received === 4, 'the echo');
    const [conn] = rig.connections;
    assert.is(listeners(controller.signal), 1, 'one listener while the connection lives');
    controller.abort();
    const info = await conn!.whenClosed();
    assert.equal(info.reasons, { client: 'aborted', server: 'aborted' });
    assert.is(info.code[0], 'A', 'the termination code says aborted');
    await until(() => client.destroyed || got.gotEnd, 'the client cut off');
    assert.is(listeners(controller.signal), 0, 'no listener left');
    assert.is(boundListenerCount(conn!.client) + boundListenerCount(conn!.server!), 0);
  } finally {
    await rig.close();
  }
});

test('forward(…, { signal }): a connection that ends by itself removes its listener; a later abort touches nothing', async () => {
  const controller = new AbortController();
  const rig = await standalone(controller.signal);
  try {
    for (let i = 0; i < 3; i++) {
      const client = await connect(rig.port);
      const got = endpoint(client);
      client.end('bye');
      await until(() => got.gotEnd, 'the echo and its FIN');
      client.end();
    }
    await until(() => rig.connections.length === 3 && rig.connections.every((c) => c.disposed), 'all three disposed');
    for (const c of rig.connections) assert.equal(c.reasons, { client: 'fin', server: 'peer_fin' });
    assert.is(listeners(controller.signal), 0, 'every connection removed its listener');
    const before = rig.log.records().length;
    controller.abort();
    assert.is(rig.log.records().length, before, 'nothing was aborted');
  } finally {
    await rig.close();
  }
});

test('forward(…, { signal }) with an aborted signal aborts the connection at once', async () => {
  const signal = AbortSignal.abort();
  const rig = await standalone(signal);
  try {
    const client = net.connect({ port: rig.port, host: '127.0.0.1' });
    client.on('error', () => {});
    await once(client, 'close');
    const [conn] = rig.connections;
    const info = await conn!.whenClosed();
    assert.equal(info.reasons, { client: 'aborted', server: 'aborted' });
    assert.equal(eventsOf(rig.log, conn!.id)[0]!.event, { type: 'ABORT' }, 'the first event is the abort');
    assert.is(listeners(signal), 0);
  } finally {
    await rig.close();
  }
});

test('a signal option that is not an AbortSignal is refused, naming it, before any socket is touched', async () => {
  const client = new net.Socket();
  const upstream = new net.Socket();
  try {
    for (const bad of [{}, 'abort', new AbortController(), { aborted: false }]) {
      refusedSignal(() => forward(client, upstream, { signal: bad as AbortSignal }));
      refusedSignal(() => new Supervisor({ signal: bad as AbortSignal }));
      refusedSignal(() => new Supervisor().shutdown({ signal: bad as AbortSignal }));
    }
    assert.is(boundListenerCount(client) + boundListenerCount(upstream), 0);
    assert.not.ok(client.destroyed || upstream.destroyed);
  } finally {
    client.destroy();
    upstream.destroy();
  }
});

/** A rig whose upstream echoes and answers the proxy's FIN with its own. */
const cooperative = (signal?: AbortSignal) =>
  startLoopback({
    supervisor: { signal },
    upstream: (socket) => {
      socket.on('data', (d: Buffer) => socket.write(d));
      socket.on('end', () => socket.end());
    },
  });

/** A rig whose upstream never answers the proxy's FIN: a graceful shutdown waits on it. */
const stubborn = () => startLoopback({ supervisor: { gracePeriod: 60_000 }, upstream: (socket) => socket.resume() });

async function openOne(rig: Loopback): Promise<{ client: net.Socket; conn: Connection }> {
  const { c, conn } = await rig.connect();
  const client = c.socket;
  await until(() => region(conn, 'server') === 'open', 'upstream connected');
  return { client, conn };
}

test('new Supervisor({ signal }): aborting shuts it down gracefully, as shutdown() does; the listener is then removed', async () => {
  const controller = new AbortController();
  const rig = await cooperative(controller.signal);
  try {
    const { client, conn } = await openOne(rig);
    client.on('end', () => client.end());
    assert.is(listeners(controller.signal), 1);
    assert.not.ok(rig.supervisor.closing);
    controller.abort();
    assert.ok(rig.supervisor.closing, 'shutting down at once');
    assert.throws(() => rig.supervisor.forward(new net.Socket(), new net.Socket()), (e: unknown) => e instanceof SupervisorClosedError);
    const info = await conn.whenClosed();
    assert.equal(info.reasons, { client: 'shutdown', server: 'shutdown' }, 'ended gracefully, not destroyed');
    await rig.supervisor.shutdown();
    assert.is(listeners(controller.signal), 0, 'listener removed once shutdown completed');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('new Supervisor({ signal }) with an aborted signal starts out shut down', async () => {
  const signal = AbortSignal.abort();
  const supervisor = new Supervisor({ signal });
  assert.ok(supervisor.closing);
  const client = new net.Socket();
  assert.throws(() => supervisor.forward(client, new net.Socket()), (e: unknown) => e instanceof SupervisorClosedError);
  assert.ok(client.destroyed, 'the refused client is destroyed');
  await supervisor.shutdown();
  assert.is(listeners(signal), 0);
});

test('shutdown({ signal }): aborting a graceful shutdown destroys what is left at once, long before its timeout', async () => {
  const controller = new AbortController();
  const rig = await stubborn();
  try {
    const { conn } = await openOne(rig);
    let settled = false;
    const done = rig.supervisor.shutdown({ timeout: 60_000, signal: controller.signal }).then(() => (settled = true));
    await until(() => conn.server!.writableFinished, 'the FIN sent upstream, unanswered');
    assert.is(region(conn, 'server'), 'draining.flushing', 'waiting for the upstream to close');
    assert.is(listeners(controller.signal), 1);
    rig.clock.advance(1_000);
    assert.not.ok(conn.disposed, 'still waiting for the upstream');
    controller.abort();
    assert.ok(conn.server!.destroyed && conn.client.destroyed, 'both sockets destroyed at the abort');
    await done;
    assert.ok(settled);
    assert.is(rig.clock.now(), 1_000, 'no clock time needed: the deadline did not fire');
    const aborts = eventsOf(rig.supervisor.log, conn.id).filter((r) => r.event.type === 'ABORT');
    assert.equal(aborts.map((r) => r.t), [1_000], 'one ABORT, at the moment the signal aborted');
    assert.is(conn.reasons.server, 'aborted', 'the side still open was aborted');
    assert.is(listeners(controller.signal), 0);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test('shutdown({ signal }): a shutdown that completes removes its listener; a signal given to a later call can force it', async () => {
  const first = new AbortController();
  const rig = await cooperative();
  try {
    const { client } = await openOne(rig);
    client.on('end', () => client.end());
    await rig.supervisor.shutdown({ signal: first.signal });
    assert.is(listeners(first.signal), 0, 'removed once complete');
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }

  const later = new AbortController();
  const rig2 = await stubborn();
  try {
    const { conn } = await openOne(rig2);
    const done = rig2.supervisor.shutdown({ timeout: 60_000 });
    await until(() => conn.server!.writableFinished, 'the FIN sent upstream, unanswered');
    assert.is(rig2.supervisor.shutdown({ signal: later.signal }), done, 'the same promise');
    later.abort();
    await done;
    assert.is(conn.reasons.server, 'aborted');
    await assertCleanEnd(rig2);
  } finally {
    await rig2.close();
  }
});

test('shutdown({ signal }) with an aborted signal is forced from the start: no graceful end first', async () => {
  const rig = await stubborn();
  try {
    const { conn } = await openOne(rig);
    const signal = AbortSignal.abort();
    await rig.supervisor.shutdown({ signal });
    const types = eventsOf(rig.supervisor.log, conn.id).map((r) => r.event.type);
    assert.ok(types.includes('ABORT'), 'aborted');
    assert.not.ok(types.includes('SHUTDOWN'), 'never ended gracefully');
    assert.equal(conn.reasons, { client: 'aborted', server: 'aborted' });
    assert.is(listeners(signal), 0);
    await assertCleanEnd(rig);
  } finally {
    await rig.close();
  }
});

test.run();
