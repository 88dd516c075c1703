import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, Supervisor, SupervisorClosedError, type CloseInfo } from '../src/index.js';
import { closeServer, connect, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { assertReplayMatches, recordConnections } from './helpers/replay.js';

/** An upstream that answers each request only when told to, then FINs after the client's FIN. */
function slowUpstream() {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.on('end', () => s.end());
    s.resume();
    sockets.push(s);
  });
  return { server, sockets };
}

async function setup(clock: ManualClock) {
  const upstream = slowUpstream();
  const upstreamPort = await listen(upstream.server);
  const supervisor = new Supervisor({ clock });
  const recorded = recordConnections(supervisor);
  const closes: CloseInfo[] = [];
  supervisor.on('close', (info) => closes.push(info));
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => {
    try {
      supervisor.forward(c, () => net.connect(upstreamPort, '127.0.0.1'));
    } catch (err) {
      if (!(err instanceof SupervisorClosedError)) throw err;
    }
  });
  const port = await listen(proxy);
  return { upstream, supervisor, recorded, closes, proxy, port };
}

test('with drainTimeout, a response still in flight after shutdown() arrives whole and nothing is ended early', async () => {
  const clock = new ManualClock();
  const rig = await setup(clock);
  const client = await connect(rig.port);
  const received: Buffer[] = [];
  client.on('data', (c: Buffer) => received.push(c));
  client.write('request');
  await until(() => rig.upstream.sockets.length === 1 && rig.supervisor.stats.active === 1, 'connected');
  const done = rig.supervisor.shutdown({ timeout: 60_000, drainTimeout: 30_000 });
  // New connections are refused at once.
  const late = net.connect(rig.port, '127.0.0.1');
  late.on('error', () => {});
  await once(late, 'close');
  // The upstream answers after shutdown began; the client then closes normally.
  rig.upstream.sockets[0]!.write(Buffer.alloc(100_000, 7));
  await until(() => Buffer.concat(received).length === 100_000, 'the whole response');
  client.end();
  await done;
  assert.is(rig.closes.length, 1);
  assert.equal(rig.closes[0]!.reasons, { client: 'fin', server: 'peer_fin' }, 'finished by itself, not by shutdown');
  assert.is(rig.closes[0]!.discarded, 0);
  assert.is(clock.pending, 0, 'drain and deadline timers cleared');
  assertReplayMatches(rig.supervisor, rig.recorded);
  client.destroy();
  await closeServer(rig.proxy);
  await closeServer(rig.upstream.server);
});

test('when drainTimeout passes, what is left is ended gracefully with reason shutdown', async () => {
  const clock = new ManualClock();
  const rig = await setup(clock);
  const client = await connect(rig.port);
  client.on('end', () => client.end());
  await until(() => rig.upstream.sockets.length === 1, 'connected');
  const done = rig.supervisor.shutdown({ timeout: 60_000, drainTimeout: 30_000 });
  clock.advance(29_999);
  assert.is(rig.recorded[0]!.reasons.client, null, 'untouched while draining');
  clock.advance(1);
  assert.equal(rig.recorded[0]!.reasons, { client: 'shutdown', server: 'shutdown' });
  await done;
  assert.is(rig.closes[0]!.code, 'PO');
  assert.is(clock.pending, 0);
  assertReplayMatches(rig.supervisor, rig.recorded);
  client.destroy();
  await closeServer(rig.proxy);
  await closeServer(rig.upstream.server);
});

test('bad shutdown durations are rejected by name', () => {
  const supervisor = new Supervisor();
  assert.throws(() => supervisor.shutdown({ drainTimeout: -1 }), /drainTimeout must be/);
  assert.throws(() => supervisor.shutdown({ timeout: Number.NaN }), /timeout must be/);
});

test('bytes a client sent to an upstream that never connected are counted as discarded', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, connectTimeout: 1000 });
  const infos: CloseInfo[] = [];
  supervisor.on('close', (i) => infos.push(i));
  // An upstream that never finishes connecting: writes queue up in it, none reach anyone.
  const neverConnects = () => {
    const s = new net.Socket();
    Object.defineProperty(s, 'connecting', { value: true });
    return s;
  };
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => supervisor.forward(c, neverConnects));
  const port = await listen(proxy);
  const client = await connect(port);
  client.on('error', () => {});
  client.on('end', () => client.end());
  client.write('hello!');
  await until(() => supervisor.connections.values().next().value?.clientToServer === 6, 'bytes read from the client');
  clock.advance(1000);
  await until(() => infos.length === 1, 'connection disposed after the connect timeout');
  assert.is(infos[0]!.reasons.server, 'connect_timeout');
  assert.is(infos[0]!.bytes.clientToServer, 6);
  assert.is(infos[0]!.discarded, 6, 'nothing reached the upstream');
  client.destroy();
  await closeServer(proxy);
});

test.run();
