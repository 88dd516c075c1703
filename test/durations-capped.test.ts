/**
 * Regression (issue: `supervisor.shutdown({ timeout: 2 ** 31 })` made Node print a
 * TimeoutOverflowWarning and abort every connection after a few ms; `new Supervisor({ clock: 5 })`
 * was accepted). Every duration and count the library takes goes through the same checks as the
 * connection options, and so do the environment options.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventLog, InvalidOptionError, ManualClock, Supervisor, forward, systemClock } from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { until } from './helpers/wait.js';

const MAX = 2 ** 31 - 1;

function refused(fn: () => unknown, option: string): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, InvalidOptionError, `${option}: an InvalidOptionError`);
    const e = err as InvalidOptionError;
    assert.is(e.code, 'PL_ERR_INVALID_OPTION');
    assert.is(e.option, option);
    assert.ok(e.message.includes(option), `the message names ${option}: ${e.message}`);
    return e;
  }
  assert.unreachable(`${option}: accepted`);
  throw new Error('unreachable');
}

/** Records Node's process warnings (a TimeoutOverflowWarning is one) while `fn` runs. */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (w: Error) => seen.push(w.name);
  process.on('warning', onWarning);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('warning', onWarning);
  }
  return seen;
}

test('shutdown() past 2147483647 ms is refused before anything happens: no warning, no connection aborted', async () => {
  const rig = await startLoopback({ supervisor: { clock: systemClock }, upstream: (socket) => socket.pipe(socket) });
  const { supervisor } = rig;
  const client = net.connect(rig.proxyPort, '127.0.0.1');
  try {
    await until(() => supervisor.stats.active === 1, 'a live connection');
    const warnings = await warningsDuring(async () => {
      const e = refused(() => supervisor.shutdown({ timeout: 2 ** 31 }), 'timeout');
      assert.match(e.message, String(MAX));
      refused(() => supervisor.shutdown({ drainTimeout: Infinity }), 'drainTimeout');
      refused(() => supervisor.shutdown({ timeout: -1 }), 'timeout');
      refused(() => supervisor.shutdown({ timout: 10 } as never), 'timout');
    });
    assert.equal(warnings, [], 'no TimeoutOverflowWarning');
    assert.not.ok(supervisor.closing, 'the supervisor did not begin shutting down');
    // The connection still carries data.
    const echoed = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
    client.write('still here');
    assert.is(await echoed, 'still here');
    assert.is(supervisor.stats.active, 1);
  } finally {
    client.destroy();
    await rig.close();
  }
});

test('shutdown() at exactly 2147483647 ms waits that long, on the clock', async () => {
  // Peers that never answer the proxy's FIN, and a grace period as long: only the deadline ends it.
  const rig = await startLoopback({
    supervisor: { gracePeriod: MAX, activitySampleInterval: 0 },
    dial: (port) => () => net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }),
  });
  const { clock, supervisor } = rig;
  const client = net.connect({ port: rig.proxyPort, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => {});
  try {
    await until(() => supervisor.stats.active === 1 && [...supervisor.connections.values()][0]!.server?.connecting === false, 'a live connection');
    const done = supervisor.shutdown({ timeout: MAX });
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(MAX - 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.is(supervisor.stats.active, 1, 'still there 1 ms before the deadline');
    clock.advance(1);
    await done;
    assert.is(supervisor.stats.active, 0, 'aborted at the deadline');
  } finally {
    client.destroy();
    await rig.close();
  }
});

test('activitySampleInterval and logCapacity are checked like every other option', () => {
  refused(() => new Supervisor({ activitySampleInterval: 2 ** 31 }), 'activitySampleInterval');
  refused(() => new Supervisor({ activitySampleInterval: Number.NaN }), 'activitySampleInterval');
  refused(() => new Supervisor({ activitySampleInterval: '1s' as never }), 'activitySampleInterval');
  refused(() => new Supervisor({ logCapacity: 1.5 }), 'logCapacity');
  refused(() => new Supervisor({ logCapacity: -1 }), 'logCapacity');
  refused(() => new Supervisor({ logCapacity: 2 ** 31 }), 'logCapacity');
  refused(() => new EventLog({ capacity: 2 ** 31 }), 'capacity');
  // The largest values are fine.
  new Supervisor({ activitySampleInterval: MAX, logCapacity: 0 });
  new Supervisor({ activitySampleInterval: 0 });
});

const BAD_ENVIRONMENTS: [string, unknown][] = [
  ['clock', 5],
  ['clock', {}],
  ['clock', { now: () => 0, setTimeout: () => 0 }],
  ['log', {}],
  ['log', []],
  ['runtime', 'table'],
  ['logger', 'console'],
  ['logger', { warn: 1 }],
];

test('the environment options are validated: a clock, an EventLog, a runtime factory, a logger', () => {
  for (const [option, value] of BAD_ENVIRONMENTS) {
    refused(() => new Supervisor({ [option]: value } as never), option);
  }
  // What is allowed.
  new Supervisor({ clock: new ManualClock(), log: null, runtime: undefined, logger: console });
  new Supervisor({ logger: {} });
});

test('forward() validates the environment before it touches either socket', () => {
  for (const [option, value] of BAD_ENVIRONMENTS) {
    const client = new net.Socket();
    const upstream = new net.Socket();
    refused(() => forward(client, upstream, { [option]: value } as never), option);
    assert.is(client.listenerCount('data'), 0, `${option}: no handler on the client`);
    assert.is(upstream.listenerCount('data'), 0, `${option}: no handler on the upstream`);
    client.destroy();
    upstream.destroy();
  }
});

test.run();
