import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, SupervisorClosedError } from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { connect } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

/** A rig whose upstream answers each request only when told to, then FINs after the client's FIN. */
async function setup() {
  const upstream: net.Socket[] = [];
  const rig = await startLoopback({
    upstream: (s) => {
      s.on('end', () => s.end());
      s.resume();
      upstream.push(s);
    },
  });
  return { rig, upstream, clock: rig.clock };
}

test('with drainTimeout, a response still in flight after shutdown() arrives whole and nothing is ended early', async () => {
  const { rig, upstream, clock } = await setup();
  const client = await connect(rig.proxyPort);
  const received: Buffer[] = [];
  client.on('data', (c: Buffer) => received.push(c));
  client.write('request');
  await until(() => upstream.length === 1 && rig.supervisor.stats.active === 1, 'connected');
  const done = rig.supervisor.shutdown({ timeout: 60_000, drainTimeout: 30_000 });
  // New connections are refused at once.
  const late = net.connect(rig.proxyPort, '127.0.0.1');
  late.on('error', () => {});
  await once(late, 'close');
  assert.instance(rig.refused[0]?.error, SupervisorClosedError);
  // The upstream answers after shutdown began; the client then closes normally.
  upstream[0]!.write(Buffer.alloc(100_000, 7));
  await until(() => Buffer.concat(received).length === 100_000, 'the whole response');
  client.end();
  await done;
  assert.is(rig.closes.length, 1);
  assert.equal(rig.closes[0]!.reasons, { client: 'fin', server: 'peer_fin' }, 'finished by itself, not by shutdown');
  assert.is(rig.closes[0]!.discarded, 0);
  assert.is(clock.pending, 0, 'drain and deadline timers cleared');
  assertReplayMatches(rig.supervisor, rig.recorded);
  client.destroy();
  await rig.close();
});

test('when drainTimeout passes, what is left is ended gracefully with reason shutdown', async () => {
  const { rig, upstream, clock } = await setup();
  const client = await connect(rig.proxyPort);
  client.on('end', () => client.end());
  await until(() => upstream.length === 1, 'connected');
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
  await rig.close();
});

test('bad shutdown durations are rejected by name', () => {
  const supervisor = new Supervisor();
  assert.throws(() => supervisor.shutdown({ drainTimeout: -1 }), /drainTimeout must be/);
  assert.throws(() => supervisor.shutdown({ timeout: Number.NaN }), /timeout must be/);
});

test('bytes a client sent to an upstream that never connected are counted as discarded', async () => {
  // An upstream that never finishes connecting: writes queue up in it, none reach anyone.
  const neverConnects = () => {
    const s = new net.Socket();
    Object.defineProperty(s, 'connecting', { value: true });
    return s;
  };
  const rig = await startLoopback({ supervisor: { connectTimeout: 1000 }, dial: () => neverConnects });
  const { clock, supervisor, closes: infos } = rig;
  const client = await connect(rig.proxyPort);
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
  await rig.close();
});

test.run();
