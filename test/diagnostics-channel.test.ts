/**
 * `diagnostics_channel` events, as an APM tool subscribes to them: one `open` and one
 * `close` message per connection, from a supervisor and from `forward()`, over real
 * loopback sockets; nothing is published once nobody listens.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, forward, type Connection, type ConnectionCloseMessage, type ConnectionOpenMessage } from '../src/index.js';
import { closeServer, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

const OPEN = 'proxy-lifecycle:connection:open';
const CLOSE = 'proxy-lifecycle:connection:close';

/** Subscribes to both channels, as an APM tool would, and writes down what it sees. */
function subscribe() {
  const seen: string[] = [];
  const opened: ConnectionOpenMessage[] = [];
  const closed: ConnectionCloseMessage[] = [];
  const onOpen = (message: unknown) => {
    const m = message as ConnectionOpenMessage;
    opened.push(m);
    seen.push(`open ${m.connection.id} disposed=${m.connection.disposed}`);
  };
  const onClose = (message: unknown) => {
    const m = message as ConnectionCloseMessage;
    closed.push(m);
    seen.push(`close ${m.connection.id} disposed=${m.connection.disposed}`);
  };
  diagnosticsChannel.subscribe(OPEN, onOpen);
  diagnosticsChannel.subscribe(CLOSE, onClose);
  return {
    seen,
    opened,
    closed,
    unsubscribe() {
      diagnosticsChannel.unsubscribe(OPEN, onOpen);
      diagnosticsChannel.unsubscribe(CLOSE, onClose);
    },
  };
}

/** An echo upstream and a front server that hands each client to `take`. */
async function loopback(take: (client: net.Socket, upstreamPort: number) => void) {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const front = net.createServer({ allowHalfOpen: true }, (client) => take(client, echoPort));
  const port = await listen(front);
  return {
    port,
    async close() {
      await closeServer(front);
      await closeServer(echo);
    },
  };
}

test('a supervisor publishes open and close for each connection, with the connection and its close info', async () => {
  const watch = subscribe();
  const supervisor = new Supervisor();
  const taken: Connection[] = [];
  const rig = await loopback((client, upstreamPort) => taken.push(supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1'))));
  try {
    assert.is(await roundTrip(rig.port, 'one'), 'one');
    assert.is(await roundTrip(rig.port, 'two'), 'two');
    await until(() => watch.closed.length === 2, 'two close messages');
    const p = `${supervisor.instance}-${supervisor.boot}-`;
    assert.equal(watch.seen, [`open ${p}1 disposed=false`, `close ${p}1 disposed=true`, `open ${p}2 disposed=false`, `close ${p}2 disposed=true`]);
    assert.ok(watch.opened.every((m, i) => m.connection === taken[i]), 'the very connection objects');
    for (const [i, m] of watch.closed.entries()) {
      assert.ok(m.connection === taken[i]);
      assert.equal(m.info, await taken[i]!.whenClosed(), 'info is what connection.whenClosed() resolves with');
      assert.equal(m.info.reasons, { client: 'fin', server: 'peer_fin' });
      assert.equal(m.info.bytes, { clientToServer: 3, serverToClient: 3 });
    }
  } finally {
    watch.unsubscribe();
    await supervisor.shutdown();
    await rig.close();
  }
});

test('forward() publishes too; a connection refused at once (client already gone) still opens before it closes', async () => {
  const watch = subscribe();
  const taken: Connection[] = [];
  const rig = await loopback((client, upstreamPort) => taken.push(forward(client, () => net.connect(upstreamPort, '127.0.0.1'))));
  try {
    assert.is(await roundTrip(rig.port, 'standalone'), 'standalone');
    await until(() => watch.closed.length === 1, 'the close message');
    assert.ok(watch.opened[0]!.connection === taken[0]);
    assert.is(watch.closed[0]!.info.bytes.clientToServer, 'standalone'.length);

    const gone = new net.Socket();
    gone.destroy();
    const conn = forward(gone, () => new net.Socket());
    assert.ok(conn.disposed, 'disposed while being created');
    assert.equal(watch.seen.slice(-2), [`open ${conn.id} disposed=false`, `close ${conn.id} disposed=true`]);
  } finally {
    watch.unsubscribe();
    await rig.close();
  }
});

test('the library subscribes nothing itself, so with no tool listening the channels cost one check per connection', async () => {
  const watch = subscribe();
  watch.unsubscribe();
  assert.not.ok(diagnosticsChannel.channel(OPEN).hasSubscribers);
  assert.not.ok(diagnosticsChannel.channel(CLOSE).hasSubscribers);
  const supervisor = new Supervisor();
  const rig = await loopback((client, upstreamPort) => supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1')));
  try {
    assert.is(await roundTrip(rig.port, 'quiet'), 'quiet');
    await until(() => supervisor.stats.closed === 1, 'the connection closed');
    assert.equal(watch.seen, []);
  } finally {
    await supervisor.shutdown();
    await rig.close();
  }
});

test.run();
