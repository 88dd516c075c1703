import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InspectionEvent } from 'xstate';
import { InvalidOptionError, Supervisor } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { startLoopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { connect, payload, readAll, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

test('inspected connections run as XState actors: events and snapshots reach the observer, the rest stays lean', async () => {
  const seen: InspectionEvent[] = [];
  const rig = await startLoopback({
    supervisor: { inspect: { observer: (e) => seen.push(e), select: (id) => Number(id.slice(id.lastIndexOf('-') + 1)) % 2 === 1 } },
    upstream: (socket) => socket.pipe(socket),
  });
  const { clock, supervisor, recorded, proxyPort: port } = rig;
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
  await rig.close();
});

test('timer events of an inspected connection are in the log, so replay matches it too', async () => {
  // An idle peer that reads and answers a FIN with its own, as real peers do (a socket nobody
  // reads from keeps no libuv handle active, and the test would drain the event loop).
  const rig = await startLoopback({
    supervisor: { socketTimeout: 1000, timeoutBehavior: 'close', inspect: { observer: { next() {} } } },
    upstream: (s) => s.on('end', () => s.end()).resume(),
  });
  const { clock, supervisor, recorded, proxyPort: port } = rig;
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
  await rig.close();
});

test('a malformed inspect option is rejected by name', () => {
  assert.throws(() => new Supervisor({ inspect: {} as never }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'inspect');
});

test.run();
