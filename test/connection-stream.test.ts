// The flow between connections and their supervisor: each connection publishes its sampled
// activity and its final state on the supervisor's one stream; sampling and disposal are
// subscribers of it. Over real loopback sockets, on a manual clock for the sampling ticks.
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, Supervisor, type AggregateSample, type CloseInfo, type Connection, type ConnectionSample } from '../src/index.js';
import { kConnectionStream, type ConnectionMessage } from '../src/binding/connection-stream.js';

const INTERVAL = 100;

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A loopback proxy through `supervisor` to an upstream that echoes, or only reads (`sink`). */
async function rig(supervisor: Supervisor, upstreamMode: 'echo' | 'sink') {
  const upstreams: net.Socket[] = [];
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    upstreams.push(socket);
    if (upstreamMode === 'echo') socket.pipe(socket);
    else socket.resume();
  });
  const target = await listen(upstream);
  const taken: Connection[] = [];
  supervisor.on('connection', (c) => taken.push(c));
  const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
    supervisor.forward(client, () => net.connect(target, '127.0.0.1'));
  });
  const port = await listen(proxy);
  const clients: net.Socket[] = [];
  return {
    taken,
    upstreams,
    async open(): Promise<{ client: net.Socket; connection: Connection; received: () => number }> {
      const before = taken.length;
      const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      client.on('error', () => {});
      let received = 0;
      client.on('data', (chunk: Buffer) => (received += chunk.length));
      clients.push(client);
      await once(client, 'connect');
      await waitFor(() => taken.length > before && upstreams.length > before, 'the connection to be taken on');
      return { client, connection: taken[before]!, received: () => received };
    },
    async close(): Promise<void> {
      for (const s of [...clients, ...upstreams]) s.destroy();
      await Promise.all([new Promise((r) => proxy.close(r)), new Promise((r) => upstream.close(r))]);
    },
  };
}

/** A copy of a message (the activity message is one object, reused), and the closes seen so far. */
interface Seen {
  id: string;
  type: ConnectionMessage['type'];
  t?: number;
  c2s: number;
  s2c: number;
  addedC2S: number;
  addedS2C: number;
  closesSoFar: number;
}

function record(supervisor: Supervisor): { seen: Seen[]; closes: CloseInfo[] } {
  const seen: Seen[] = [];
  const closes: CloseInfo[] = [];
  supervisor.on('close', (info) => closes.push(info));
  supervisor[kConnectionStream].messages$.subscribe((m) => {
    const bytes = m.type === 'activity' ? m : m.info.bytes;
    seen.push({
      id: m.connection.id,
      type: m.type,
      t: m.type === 'activity' ? m.t : undefined,
      c2s: bytes.clientToServer,
      s2c: bytes.serverToClient,
      addedC2S: m.addedClientToServer,
      addedS2C: m.addedServerToClient,
      closesSoFar: closes.filter((c) => c.id === m.connection.id).length,
    });
  });
  return { seen, closes };
}

test('each connection publishes its final state once on the supervisor stream, and disposal (the close event) is its subscriber', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, activitySampleInterval: INTERVAL });
  const { seen, closes } = record(supervisor);
  const r = await rig(supervisor, 'echo');
  try {
    const a = await r.open();
    const b = await r.open();
    const c = await r.open();
    a.client.write('hello');
    await waitFor(() => a.received() === 5, 'the echo');
    // Three endings: a clean half-close echo, a client reset, an upstream reset.
    a.client.end();
    b.client.resetAndDestroy();
    r.upstreams[2]!.resetAndDestroy();
    await waitFor(() => closes.length === 3, 'three closes');
    const finals = seen.filter((m) => m.type === 'final');
    const ids = [a, b, c].map((p) => p.connection.id).sort();
    assert.equal(finals.map((m) => m.id).sort(), ids, 'one final message per connection, no more');
    assert.equal(closes.map((i) => i.id).sort(), ids);
    // Subscribed after the supervisor: the close event is already out when this sees the message.
    assert.ok(finals.every((m) => m.closesSoFar === 1), 'close is emitted while the final message is delivered');
    for (const info of closes) {
      const final = finals.find((m) => m.id === info.id)!;
      assert.equal({ clientToServer: final.c2s, serverToClient: final.s2c }, info.bytes, 'the final message carries the close info');
    }
    assert.equal(supervisor.stats, { active: 0, total: 3, closed: 3, refused: 0 });
  } finally {
    await r.close();
  }
});

test('sampling is a subscriber too: connectionBytes$ is what the stream carried, and bytes$ adds it all up', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, activitySampleInterval: INTERVAL });
  const { seen, closes } = record(supervisor);
  const perConnection: ConnectionSample[] = [];
  const aggregate: AggregateSample[] = [];
  supervisor.connectionBytes$.subscribe((s) => perConnection.push(s));
  supervisor.bytes$.subscribe((s) => aggregate.push(s));
  const r = await rig(supervisor, 'echo');
  try {
    const pairs = [await r.open(), await r.open()];
    const streamedAtTick: number[] = [];
    const sum = () => seen.reduce((n, m) => n + m.addedC2S + m.addedS2C, 0);
    for (const [round, sizes] of [[300, 0], [0, 0], [1200, 700]].entries()) {
      for (const [k, size] of sizes!.entries()) if (size > 0) pairs[k]!.client.write(Buffer.alloc(size, round));
      const expected = pairs.map((_, k) => [[300, 0], [0, 0], [1200, 700]].slice(0, round + 1).reduce((n, s) => n + s[k]!, 0));
      await waitFor(() => pairs.every((p, k) => p.received() === expected[k]), `round ${round} echoed`);
      clock.advance(INTERVAL);
      streamedAtTick.push(sum());
    }
    pairs[0]!.client.end();
    await waitFor(() => closes.length === 1, 'the first connection closed');
    clock.advance(INTERVAL);
    streamedAtTick.push(sum());

    const activity = seen.filter((m) => m.type === 'activity');
    assert.equal(
      perConnection.map((s) => ({ t: s.t, id: s.id, c2s: s.clientToServer, s2c: s.serverToClient })),
      activity.map((m) => ({ t: m.t, id: m.id, c2s: m.c2s, s2c: m.s2c })),
      'one per-connection sample per activity message, with its counts',
    );
    // Round 0 moved one connection, round 1 none, round 2 both; after the close, only the live one (idle).
    assert.equal(activity.map((m) => m.t), [INTERVAL, 3 * INTERVAL, 3 * INTERVAL]);
    assert.equal(aggregate.map((s) => s.clientToServer + s.serverToClient), streamedAtTick, 'bytes$ is the sum of what the stream carried');
    const total = pairs.reduce((n, p) => n + p.connection.clientToServer + p.connection.serverToClient, 0);
    assert.is(streamedAtTick[streamedAtTick.length - 1], total, 'closed and live bytes, each counted once');
    assert.is(aggregate[aggregate.length - 1]!.active, 1);
  } finally {
    await r.close();
  }
});

test('bytes a lifecycle checkpoint saw between two ticks are still sampled at the next tick', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, activitySampleInterval: INTERVAL });
  const perConnection: ConnectionSample[] = [];
  supervisor.connectionBytes$.subscribe((s) => perConnection.push(s));
  // The upstream only reads: after the client's FIN the connection stays half-open, live.
  const r = await rig(supervisor, 'sink');
  try {
    const { client, connection } = await r.open();
    client.end(Buffer.alloc(1000));
    // The client's END checkpoints the machine with the 1000 bytes before any tick.
    await waitFor(() => connection.context.readEnded.client && connection.context.bytes.clientToServer === 1000, 'the END checkpoint');
    clock.advance(INTERVAL);
    assert.equal(perConnection, [{ t: INTERVAL, id: connection.id, clientToServer: 1000, serverToClient: 0 }]);
    assert.not.ok(connection.disposed, 'still half-open');
  } finally {
    await r.close();
  }
});

test('with its stream stopped, a supervisor neither samples nor disposes: no other path is left', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, activitySampleInterval: INTERVAL });
  const perConnection: ConnectionSample[] = [];
  const closes: CloseInfo[] = [];
  supervisor.connectionBytes$.subscribe((s) => perConnection.push(s));
  supervisor.on('close', (info) => closes.push(info));
  const r = await rig(supervisor, 'echo');
  try {
    const { client, connection, received } = await r.open();
    supervisor[kConnectionStream].complete();
    client.write('abc');
    await waitFor(() => received() === 3, 'the echo');
    clock.advance(INTERVAL);
    client.end();
    await waitFor(() => connection.disposed, 'the connection to dispose of itself');
    await sleep(20);
    assert.equal(perConnection, []);
    assert.equal(closes, []);
    assert.is(supervisor.stats.active, 1, 'the supervisor never heard of the final state');
  } finally {
    await r.close();
  }
});

test.run();
