/** A supervisor without a clock runs every timer on its own TimerWheel, which holds no timer once its connections are gone. */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, TimerWheel, type Connection } from '../src/index.js';
import { closeServer, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

test('one wheel per supervisor carries its connections\' timers, and is empty with no real timer once they close', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const supervisor = new Supervisor({ activitySampleInterval: 20 });
  const other = new Supervisor();
  const connections: Connection[] = [];
  supervisor.on('connection', (c) => connections.push(c));
  const front = net.createServer({ allowHalfOpen: true }, (client) => supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1')));
  const frontPort = await listen(front);
  try {
    // A connection held open: its timers (connect, sampling) are on the wheel meanwhile.
    const held = net.connect({ port: frontPort, host: '127.0.0.1', allowHalfOpen: true });
    held.on('error', () => {});
    await until(() => connections.length === 1 && connections[0]!.server !== null, 'the held connection');
    const wheel = connections[0]!.clock;
    assert.ok(wheel instanceof TimerWheel, 'the default clock is a TimerWheel');
    assert.ok(wheel.armed, 'its one real timer is armed while a connection is live');
    assert.ok(wheel.pending >= 1);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => roundTrip(frontPort, `ping ${i}`)));
    assert.equal(replies, Array.from({ length: 20 }, (_, i) => `ping ${i}`));
    assert.ok(connections.every((c) => c.clock === wheel), 'every connection shares the supervisor\'s wheel');
    held.end();
    await until(() => supervisor.stats.active === 0 && supervisor.stats.closed === 21, () => `all closed (${JSON.stringify(supervisor.stats)})`);
    assert.is(wheel.pending, 0, 'no timer left on the wheel');
    assert.not.ok(wheel.armed, 'no real timer armed by an idle supervisor');
    // Another supervisor has a wheel of its own: its timers are not this one's.
    let otherWheel: unknown;
    other.on('connection', (c) => (otherWheel = c.clock));
    const otherFront = net.createServer({ allowHalfOpen: true }, (client) => other.forward(client, () => net.connect(upstreamPort, '127.0.0.1')));
    const otherPort = await listen(otherFront);
    assert.is(await roundTrip(otherPort, 'x'), 'x');
    assert.ok(otherWheel instanceof TimerWheel && otherWheel !== wheel);
    await closeServer(otherFront);
  } finally {
    await supervisor.shutdown({ timeout: 1000 });
    await other.shutdown({ timeout: 1000 });
    await closeServer(front);
    await closeServer(upstream);
  }
});

test.run();
