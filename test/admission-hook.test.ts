// The supervisor's admission hook: a policy decides on each client before a connection or an
// upstream exists; a refused client is closed at once, counted and reported.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidOptionError, Supervisor, replay, type Refusal } from '../src/index.js';
import { closeServer, echoServer, listen, roundTrip } from './helpers/sockets.js';

test('a refused client is closed at once, never reaches the upstream, and is counted and reported with the limit', async () => {
  const upstream = echoServer();
  let upstreamAccepts = 0;
  upstream.on('connection', () => upstreamAccepts++);
  const upstreamPort = await listen(upstream);
  let seen = 0;
  // Refuse every other client: a stand-in for an allow list or a rate limit.
  const supervisor = new Supervisor({ admit: () => (++seen % 2 === 0 ? 'every_other' : true) });
  const refusals: Refusal[] = [];
  supervisor.on('refused', (r) => refusals.push(r));
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (supervisor.admit(client)) supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1'));
  });
  const port = await listen(server);
  try {
    const results: string[] = [];
    for (let i = 0; i < 6; i++) results.push(await roundTrip(port, `hi ${i}`));
    assert.equal(results, ['hi 0', 'closed', 'hi 2', 'closed', 'hi 4', 'closed']);
    assert.is(upstreamAccepts, 3, 'no upstream connect for a refused client');
    assert.equal(supervisor.stats, { active: 0, total: 3, closed: 3, refused: 3 });
    assert.is(refusals.length, 3);
    for (const r of refusals) {
      assert.is(r.limit, 'every_other');
      assert.is(r.reason, 'rejected');
      assert.is(r.code, 'XA');
      assert.match(r.client ?? '', /^(::ffff:)?127\.0\.0\.1:\d+$/);
    }
    // Each refusal is also a record of the event log, which replay steps over.
    const logged = supervisor.log.records().filter((r) => r.kind === 'refused');
    assert.equal(logged, refusals.map((r) => ({ t: r.t, kind: 'refused', client: r.client, reason: 'rejected', limit: 'every_other', code: 'XA' })));
    assert.is(replay(supervisor.log.records()).connections.size, 3, 'the three served connections replay; the refusals have none');
  } finally {
    await supervisor.shutdown();
    await closeServer(server);
    await closeServer(upstream);
  }
});

test('after shutdown began, admit() refuses and closes the client; a bad hook is an InvalidOptionError naming admit', async () => {
  const supervisor = new Supervisor();
  await supervisor.shutdown();
  const socket = new net.Socket();
  assert.is(supervisor.admit(socket), false);
  assert.ok(socket.destroyed);
  try {
    new Supervisor({ admit: 'yes' as unknown as () => true });
    assert.unreachable('accepted');
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError);
    assert.is(err.option, 'admit');
  }
});

test.run();
