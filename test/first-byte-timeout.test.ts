/**
 * `firstByteTimeout` (slowloris protection) as data and under the runtimes: a client that has
 * sent nothing this long after its connection was created is closed with
 * `first_byte_timeout`; a client byte (even one no sampling tick has reported yet), the
 * client's FIN or the connection ending first disarms it; off at 0, the default. The same
 * over real sockets and through the CLI: first-byte-loopback.test.ts, cli-first-byte.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeCode } from '../machines/close-reasons.js';
import type { ConnectionInputEvent } from '../machines/connection-events.js';
import { DEFAULT_SETTINGS, type ConnectionSettings } from '../machines/connection-settings.js';
import { ManualClock } from '../src/clock.js';
import { EventLog, replay } from '../src/index.js';
import type { MachineRuntime, RuntimeFactory } from '../src/runtime/machine-runtime.js';
import { createTableRuntime } from '../src/runtime/table-runtime.js';
import { TransitionRuntime } from '../src/runtime/transition-runtime.js';
import { cancelled, effects, MachineSim, raisedNow, scheduled } from './helpers/reference-machine.js';

const FIRST = 1_000;
const TIMER = 'firstByteTimeout:watch.firstByte.waiting';

function connected(settings: Partial<ConnectionSettings> = {}): MachineSim {
  const sim = new MachineSim({ firstByteTimeout: FIRST, ...settings });
  sim.send({ type: 'CONNECTED' });
  return sim;
}

const firedFirstByte = (sim: MachineSim) => sim.history.some((h) => h.event.type.startsWith('xstate.after.firstByteTimeout.'));

// --- the machine as data -------------------------------------------------------------------

test('firstByteTimeout 0 (the default): no first-byte timer is ever armed, a silent client stays', () => {
  assert.is(DEFAULT_SETTINGS.firstByteTimeout, 0);
  const sim = connected({ firstByteTimeout: 0 });
  assert.is(sim.watch('firstByte'), 'done');
  assert.not.ok(scheduled(sim.initialActions).some((t) => t.startsWith('firstByteTimeout')));
  sim.advance(24 * 3_600_000);
  assert.equal(sim.pending(), []);
  assert.is(sim.region('client'), 'open');
  assert.is(sim.region('server'), 'open');
});

test('armed at creation with its delay; a silent client is closed at firstByteTimeout, code fO', () => {
  const sim = new MachineSim({ firstByteTimeout: FIRST });
  assert.ok(scheduled(sim.initialActions).includes(`${TIMER}=${FIRST}`), 'armed when the connection is created');
  sim.advance(300);
  sim.send({ type: 'CONNECTED' });
  assert.is(sim.dueOf(TIMER), FIRST, 'counts from creation, not from the upstream connecting');
  sim.advance(FIRST - 300 - 1);
  assert.equal(sim.context.reasons, { client: null, server: null }, '1 ms early: open');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.firstByteTimeout.connection.watch.firstByte.waiting');
  assert.equal(raisedNow(fired.actions), ['EXPIRE first_byte_timeout']);
  // As the other timer decisions: both sides end after their writes.
  assert.equal(effects(fired.actions), ['endSocket client', 'endSocket server']);
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(sim.context.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
  assert.equal(sim.context.ending, { side: 'client', reason: 'first_byte_timeout', phase: 'open' });
  assert.is(closeCode(sim.context.ending), 'fO');
  assert.is(sim.watch('firstByte'), 'done');
  sim.send({ type: 'FINISHED', side: 'client' });
  sim.send({ type: 'FINISHED', side: 'server' });
  sim.send({ type: 'CLOSE', side: 'client' });
  sim.send({ type: 'CLOSE', side: 'server' });
  assert.is(sim.status, 'done');
  assert.equal(sim.output!.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
});

test('with the upstream still connecting the code is fK, and the upstream is ended once it connects', () => {
  const sim = new MachineSim({ firstByteTimeout: FIRST });
  sim.advance(FIRST);
  assert.equal(sim.context.ending, { side: 'client', reason: 'first_byte_timeout', phase: 'connecting' });
  assert.is(closeCode(sim.context.ending), 'fK');
  assert.is(sim.region('server'), 'connecting');
  assert.is(sim.context.serverEndPending, true);
  sim.send({ type: 'CONNECTED' });
  assert.is(sim.region('server'), 'draining.flushing');
});

test('server bytes alone (a server-first banner) do not count: the silent client is still closed', () => {
  const sim = connected();
  sim.advance(200);
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 0, serverToClient: 42 });
  assert.not.ok(cancelled(a).includes(TIMER));
  assert.is(sim.watch('firstByte'), 'waiting');
  assert.equal(sim.context.bytes, { clientToServer: 0, serverToClient: 42 }, 'the checkpoint is still recorded');
  sim.advance(FIRST - 200);
  assert.equal(sim.context.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
});

test('one client byte cancels it: the connection lives on past the timeout', () => {
  const sim = connected();
  sim.advance(FIRST - 1);
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 0 });
  assert.equal(cancelled(a), [TIMER]);
  assert.is(sim.watch('firstByte'), 'done');
  assert.equal(sim.context.bytes, { clientToServer: 1, serverToClient: 0 });
  sim.advance(24 * 3_600_000);
  assert.not.ok(firedFirstByte(sim));
  assert.is(sim.region('client'), 'open');
  assert.equal(sim.context.reasons, { client: null, server: null });
});

// A client that is no longer open has nothing left to send: the wait is over either way.
const ENDINGS: [string, ConnectionInputEvent[], string][] = [
  ['the client half-closes (FIN)', [{ type: 'END', side: 'client' }], 'fin'],
  ['the server says its banner and FINs', [{ type: 'END', side: 'server' }], 'peer_fin'],
  ['the server resets', [{ type: 'ERROR', side: 'server', code: 'ECONNRESET' }], 'peer_closed'],
  ['the supervisor shuts down', [{ type: 'SHUTDOWN' }], 'shutdown'],
];
for (const [what, events, clientReason] of ENDINGS) {
  test(`it does not fire once ${what}`, () => {
    const sim = connected();
    sim.advance(100);
    let actions: ReturnType<MachineSim['send']> = [];
    for (const event of events) actions = sim.send(event);
    assert.ok(cancelled(actions).includes(TIMER), 'the first-byte timer is cancelled');
    assert.is(sim.watch('firstByte'), 'done');
    sim.advance(FIRST * 3);
    assert.not.ok(firedFirstByte(sim));
    assert.is(sim.context.reasons.client, clientReason);
    assert.is.not(sim.context.ending?.reason, 'first_byte_timeout');
  });
}

test('a grace expiry after the first-byte close keeps first_byte_timeout as the reason (a proxy decision)', () => {
  const sim = connected({ gracePeriod: 500 });
  sim.advance(FIRST);
  sim.advance(500); // neither side's end ever flushes
  assert.equal(sim.context.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
  assert.is(sim.status, 'done');
  assert.is(closeCode(sim.context.ending), 'fO');
});

// --- under the runtimes, on a ManualClock ----------------------------------------------------

/**
 * One connection on `factory` and a ManualClock, with a host that checkpoints as the binding
 * does: client bytes are counted in a plain field and only reach the machine at a
 * checkpoint, which the runtime takes just before any timer fires.
 */
function runConnection(factory: RuntimeFactory, settings: Partial<ConnectionSettings>) {
  const clock = new ManualClock();
  const log = new EventLog();
  let clientToServer = 0;
  let sent = 0;
  let runtime: MachineRuntime;
  const s: ConnectionSettings = { ...DEFAULT_SETTINGS, ...settings };
  const checkpoint = () => {
    if (clientToServer === sent || runtime.done) return;
    sent = clientToServer;
    runtime.send({ type: 'ACTIVITY', clientToServer, serverToClient: 0 });
  };
  runtime = factory(s, clock, {
    effect() {},
    beforeTimer: checkpoint,
    record: (event) => log.append({ t: clock.now(), conn: '1', kind: 'event', event }),
    done() {},
  });
  log.append({ t: 0, conn: '1', kind: 'open', settings: s });
  runtime.start();
  runtime.send({ type: 'CONNECTED' });
  return {
    clock,
    log,
    runtime,
    /** A client byte arrives: counted, not yet sampled. */
    byte() {
      clientToServer++;
    },
    timerFired: () => log.records().some((r) => r.kind === 'event' && r.event.type.startsWith('xstate.after.firstByteTimeout.')),
  };
}

const RUNTIMES: [string, RuntimeFactory][] = [
  ['table runtime', createTableRuntime],
  ['XState transition runtime', (s, clock, host) => new TransitionRuntime(s, clock, host)],
];

for (const [name, factory] of RUNTIMES) {
  test(`${name}: a silent client is closed at firstByteTimeout, and the log replays to the same state`, () => {
    const run = runConnection(factory, { firstByteTimeout: FIRST });
    run.clock.advance(FIRST - 1);
    assert.equal(run.runtime.context.reasons, { client: null, server: null });
    run.clock.advance(1);
    assert.ok(run.timerFired(), 'the timer event is in the log');
    assert.equal(run.runtime.context.reasons, { client: 'first_byte_timeout', server: 'first_byte_timeout' });
    const again = replay(run.log.records()).connections.get('1')!;
    assert.equal(again.value, run.runtime.value);
    assert.equal(again.context, run.runtime.context);
    assert.is(closeCode(again.context.ending), 'fO');
    run.runtime.stop();
  });

  test(`${name}: one byte that arrived between samples (not yet checkpointed) keeps the client past the timeout`, () => {
    const run = runConnection(factory, { firstByteTimeout: FIRST });
    run.clock.advance(400);
    run.byte(); // no sampling tick follows before the timer falls due
    run.clock.advance(FIRST * 5);
    const checkpoints = run.log.records().filter((r) => r.kind === 'event' && r.event.type === 'ACTIVITY');
    assert.equal(checkpoints.map((r) => r.t), [FIRST], 'the timer fell due, and the checkpoint before it carried the byte');
    assert.not.ok(run.timerFired(), 'the timer did not fire: the checkpoint before it saw the byte');
    assert.equal(run.runtime.context.reasons, { client: null, server: null });
    assert.is(run.runtime.context.bytes.clientToServer, 1);
    assert.is(run.runtime.pendingTimers, 0, 'nothing left armed (the default settings arm no other timer once connected)');
    const again = replay(run.log.records()).connections.get('1')!;
    assert.equal(again.value, run.runtime.value);
    assert.equal(again.context, run.runtime.context);
    run.runtime.stop();
  });
}

test('the table runtime tells a server-only checkpoint from a client one (its edges are shared)', () => {
  // Both runs share one transition table: a cached 'ACTIVITY' edge must not carry the other.
  const banner = runConnection(createTableRuntime, { firstByteTimeout: FIRST });
  banner.runtime.send({ type: 'ACTIVITY', clientToServer: 0, serverToClient: 10 });
  const spoke = runConnection(createTableRuntime, { firstByteTimeout: FIRST });
  spoke.runtime.send({ type: 'ACTIVITY', clientToServer: 3, serverToClient: 10 });
  banner.clock.advance(FIRST);
  spoke.clock.advance(FIRST);
  assert.equal(banner.runtime.context.reasons.client, 'first_byte_timeout');
  assert.equal(spoke.runtime.context.reasons.client, null);
  banner.runtime.stop();
  spoke.runtime.stop();
});

test.run();
