import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InspectionEvent } from 'xstate';
import { InvalidOptionError, ManualClock, Supervisor } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { closeServer, connect, echoServer, listen, payload, readAll, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { assertReplayMatches, recordConnections } from './helpers/replay.js';

test('inspected connections run as XState actors: events and snapshots reach the observer, the rest stays lean', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const clock = new ManualClock();
  const seen: InspectionEvent[] = [];
  const supervisor = new Supervisor({
    clock,
    inspect: { observer: (e) => seen.push(e), select: (id) => id % 2 === 1 },
  });
  const recorded = recordConnections(supervisor);
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => supervisor.forward(c, () => net.connect(upstreamPort, '127.0.0.1')));
  const port = await listen(proxy);
  for (let i = 0; i < 2; i++) {
    const client = await connect(port);
    const data = payload(64 * 1024);
    const got = readAll(client);
    client.end(data);
    assert.is(sha256(await got), sha256(data));
    await until(() => supervisor.stats.closed === i + 1, `connection ${i + 1} disposed`);
    client.destroy();
  }
  const actors = new Set(seen.map((e) => e.actorRef));
  assert.is(actors.size, 1, 'only the selected connection (id 1) was an actor');
  const types = seen.filter((e) => e.type === '@xstate.event').map((e) => (e as { event: { type: string } }).event.type);
  for (const type of ['CONNECTED', 'END', 'FINISHED', 'CLOSE']) assert.ok(types.includes(type), `observer saw ${type}`);
  assert.ok(seen.some((e) => e.type === '@xstate.snapshot'), 'observer saw snapshots');
  assert.equal(recorded.map((c) => c.reasons), [
    { client: 'fin', server: 'peer_fin' },
    { client: 'fin', server: 'peer_fin' },
  ], 'the actor and the table runtime end the same way');
  assert.is(clock.pending, 0);
  for (const c of recorded) {
    assert.is(c.pendingTimers, 0);
    assert.is(boundListenerCount(c.client), 0);
  }
  assertReplayMatches(supervisor, recorded);
  await closeServer(proxy);
  await closeServer(upstream);
});

test('timer events of an inspected connection are in the log, so replay matches it too', async () => {
  // An idle peer that reads and answers a FIN with its own, as real peers do (a socket nobody
  // reads from keeps no libuv handle active, and the test would drain the event loop).
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {}).on('end', () => s.end()).resume();
  });
  const upstreamPort = await listen(upstream);
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, socketTimeout: 1000, timeoutBehavior: 'close', inspect: { observer: { next() {} } } });
  const recorded = recordConnections(supervisor);
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => supervisor.forward(c, () => net.connect(upstreamPort, '127.0.0.1')));
  const port = await listen(proxy);
  const client = await connect(port);
  client.on('error', () => {});
  await until(() => recorded[0]?.server?.connecting === false, 'upstream connected');
  clock.advance(1000);
  assert.equal(recorded[0]!.reasons, { client: 'timeout', server: 'timeout' });
  // The upstream answers our FIN and closes; the client never does, but its FIN is out and
  // its other side is gone: it closes then, without waiting for the grace period.
  await until(() => supervisor.stats.active === 0, 'closed once the upstream closed');
  assert.is(clock.now(), 1000, 'no timer was needed');
  assert.equal(recorded[0]!.reasons, { client: 'timeout', server: 'timeout' }, 'grace expiry does not hide the decision');
  const timers = supervisor.log.records().filter((r) => r.kind === 'event' && r.event.type.startsWith('xstate.after.'));
  assert.equal(
    timers.map((r) => (r as { event: { type: string } }).event.type.split('.').slice(2, 3)[0]),
    ['socketTimeout'],
    'the upstream answered our FIN and closed; the silent client closed with it',
  );
  assertReplayMatches(supervisor, recorded);
  client.destroy();
  await closeServer(proxy);
  await closeServer(upstream);
});

test('a malformed inspect option is rejected by name', () => {
  assert.throws(() => new Supervisor({ inspect: {} as never }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'inspect');
});

test.run();
