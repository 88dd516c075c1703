/**
 * The connection machine as pure data: every transition driven with XState's pure
 * `initialTransition()` / `transition()` (through test/helpers/reference-machine.ts), with the
 * effects and timers checked on the action lists each step returns. No sockets, no runtime.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine } from '../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../machines/connection-events.js';
import { DEFAULT_SETTINGS, type ConnectionSettings } from '../machines/connection-settings.js';
import { MachineSim, cancelled, effects, raisedNow, scheduled } from './helpers/reference-machine.js';

const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');
const SIDES: Side[] = ['client', 'server'];

/** A connected machine (server past `connecting`). */
function connected(settings: Partial<ConnectionSettings> = {}): MachineSim {
  const sim = new MachineSim(settings);
  sim.send({ type: 'CONNECTED' });
  return sim;
}

type LiveState = 'open' | 'draining.readEnded' | 'draining.writeEnded' | 'draining.flushing';

/** A connected machine with `side` in `state` and the other side still live. */
function reach(side: Side, state: LiveState): MachineSim {
  const sim = connected();
  const peer = other(side);
  switch (state) {
    case 'open':
      break;
    case 'draining.readEnded':
      sim.send({ type: 'END', side });
      break;
    case 'draining.writeEnded':
      sim.send({ type: 'END', side: peer });
      sim.send({ type: 'FINISHED', side });
      break;
    case 'draining.flushing':
      sim.send({ type: 'END', side: peer });
      break;
  }
  assert.is(sim.region(side), state, `setup: ${side} in ${state}`);
  assert.is.not(sim.region(peer), 'closed', 'setup: peer live');
  return sim;
}

// --- initial state -------------------------------------------------------------------------

test('initial state: client open, server connecting, only the connect timer armed by default', () => {
  const sim = new MachineSim();
  assert.is(sim.region('client'), 'open');
  assert.is(sim.region('server'), 'connecting');
  assert.equal(sim.value.watch, { timeout: 'done', idle: 'done', lifetime: 'done', activity: 'off', parity: 'waiting', firstByte: 'done' });
  assert.equal(scheduled(sim.initialActions), ['connectTimeout:server.connecting=30000']);
  assert.equal(effects(sim.initialActions), []);
  assert.equal(sim.context.settings, { ...DEFAULT_SETTINGS });
  assert.equal(sim.context.reasons, { client: null, server: null });
  assert.equal(sim.context.errors, { client: null, server: null });
  assert.equal(sim.context.readEnded, { client: false, server: false });
  assert.is(sim.context.serverEndPending, false);
  assert.equal(sim.context.bytes, { clientToServer: 0, serverToClient: 0 });
  assert.is(sim.status, 'active');
});

test('input settings override the defaults and every enabled timer is armed with its own delay', () => {
  const sim = new MachineSim({ connectTimeout: 7, socketTimeout: 11, idleTimeout: 13, maxLifetime: 17, firstByteTimeout: 19 });
  assert.is(sim.context.settings.connectTimeout, 7);
  assert.is(sim.context.settings.gracePeriod, DEFAULT_SETTINGS.gracePeriod);
  assert.equal(sim.value.watch, { timeout: 'armed', idle: 'watching', lifetime: 'running', activity: 'off', parity: 'waiting', firstByte: 'waiting' });
  assert.equal(scheduled(sim.initialActions).sort(), [
    'connectTimeout:server.connecting=7',
    'firstByteTimeout:watch.firstByte.waiting=19',
    'idleTimeout:watch.idle.watching=13',
    'maxLifetime:watch.lifetime.running=17',
    'socketTimeout:watch.timeout.armed=11',
  ]);
});

test('CONNECTED moves the server from connecting to open and cancels the connect timer', () => {
  const sim = new MachineSim();
  const actions = sim.send({ type: 'CONNECTED' });
  assert.is(sim.region('server'), 'open');
  assert.equal(cancelled(actions), ['connectTimeout:server.connecting']);
  assert.equal(sim.pending(), []);
  sim.advance(DEFAULT_SETTINGS.connectTimeout * 2);
  assert.is(sim.region('server'), 'open', 'the cancelled connect timer never fires');
});

// --- END --------------------------------------------------------------------------------

for (const side of SIDES) {
  const peer = other(side);
  test(`END ${side} with allowHalfOpen: ${side} readEnded, ${peer} flushing (ended, grace armed)`, () => {
    const sim = connected({ allowHalfOpen: true });
    const actions = sim.send({ type: 'END', side });
    assert.is(sim.region(side), 'draining.readEnded');
    assert.is(sim.region(peer), 'draining.flushing');
    assert.equal(effects(actions), [`endSocket ${peer}`], 'only the peer is ended');
    assert.ok(scheduled(actions).includes(`gracePeriod:${peer}.draining.flushing=5000`));
    assert.not.ok(scheduled(actions).some((t) => t.startsWith(`gracePeriod:${side}.`)), 'the half-closed side has no grace timer');
    assert.is(sim.context.reasons[side], 'fin');
    assert.is(sim.context.reasons[peer], 'peer_fin');
    assert.is(sim.context.readEnded[side], true);
    assert.is(sim.context.readEnded[peer], false);
  });

  test(`END ${side} with allowHalfOpen false: both sides end and flush`, () => {
    const sim = connected({ allowHalfOpen: false });
    const actions = sim.send({ type: 'END', side });
    assert.is(sim.region(side), 'draining.flushing');
    assert.is(sim.region(peer), 'draining.flushing');
    assert.equal(effects(actions).sort(), ['endSocket client', 'endSocket server']);
    assert.ok(scheduled(actions).includes('gracePeriod:client.draining.flushing=5000'));
    assert.ok(scheduled(actions).includes('gracePeriod:server.draining.flushing=5000'));
    assert.is(sim.context.reasons[side], 'fin');
    assert.is(sim.context.reasons[peer], 'peer_fin');
    assert.is(sim.context.readEnded[side], true);
  });
}

test('END of the peer while readEnded: the other direction is done too, so that side is ended', () => {
  const sim = reach('client', 'draining.readEnded');
  sim.send({ type: 'FINISHED', side: 'server' });
  assert.is(sim.region('server'), 'draining.writeEnded');
  const actions = sim.send({ type: 'END', side: 'server' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(effects(actions), ['endSocket client'], 'the server was ended already');
  assert.is(sim.context.readEnded.server, true);
  assert.equal(sim.context.reasons, { client: 'fin', server: 'peer_fin' }, 'first cause wins');
});

test('END of self while writeEnded goes to flushing and marks readEnded, no socket call', () => {
  const sim = reach('client', 'draining.writeEnded');
  const actions = sim.send({ type: 'END', side: 'client' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.context.readEnded.client, true);
  assert.equal(effects(actions).filter((e) => e.endsWith('client')), []);
});

test('END of self while flushing stays flushing and marks readEnded', () => {
  const sim = reach('client', 'draining.flushing');
  assert.is(sim.region('server'), 'draining.readEnded');
  const actions = sim.send({ type: 'END', side: 'client' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.context.readEnded.client, true);
  // The same END is the server's peer FIN: the server (readEnded) is now ended too.
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(effects(actions), ['endSocket server']);
});

// --- FINISHED ---------------------------------------------------------------------------

test('FINISHED while flushing -> writeEnded, and the grace timer is cancelled', () => {
  const sim = reach('server', 'draining.flushing');
  const actions = sim.send({ type: 'FINISHED', side: 'server' });
  assert.is(sim.region('server'), 'draining.writeEnded');
  assert.equal(cancelled(actions), ['gracePeriod:server.draining.flushing']);
  assert.not.ok(sim.pending().some((t) => t.startsWith('gracePeriod:server')));
  sim.advance(DEFAULT_SETTINGS.gracePeriod * 2);
  assert.is(sim.region('server'), 'draining.writeEnded', 'no grace expiry after finishing');
});

test('FINISHED while flushing stays flushing when that side already read its FIN', () => {
  const sim = connected({ allowHalfOpen: false });
  sim.send({ type: 'END', side: 'client' });
  const actions = sim.send({ type: 'FINISHED', side: 'client' });
  assert.is(sim.region('client'), 'draining.flushing', 'both directions are done: wait for close');
  assert.equal(actions.filter((a) => !a.type.startsWith('xstate.')), []);
  assert.ok(sim.pending().includes('gracePeriod:client.draining.flushing'), 'grace still bounds the close');
});

test('FINISHED while flushing closes that side at once when the peer is closed: nothing is left to wait for', () => {
  const sim = connected();
  sim.send({ type: 'CLOSE', side: 'server' });
  assert.is(sim.region('client'), 'draining.flushing');
  const actions = sim.send({ type: 'FINISHED', side: 'client' });
  assert.is(sim.region('client'), 'closed');
  assert.equal(effects(actions), ['destroySocket client']);
  assert.ok(cancelled(actions).includes('gracePeriod:client.draining.flushing'), 'the grace timer is cancelled');
  assert.equal(sim.pending(), []);
  assert.equal(sim.context.reasons, { client: 'peer_closed', server: 'closed' });
  assert.is(sim.status, 'done');
});

test('a side that flushed first (shutdown) closes at once when its peer closes later', () => {
  const sim = connected();
  sim.send({ type: 'SHUTDOWN' });
  sim.send({ type: 'FINISHED', side: 'client' });
  assert.is(sim.region('client'), 'draining.flushing', 'the proxy decided: wait for the peer, bounded by grace');
  const actions = sim.send({ type: 'CLOSE', side: 'server' });
  assert.is(sim.region('client'), 'closed');
  assert.ok(effects(actions).includes('destroySocket client'));
  assert.is(sim.context.reasons.client, 'shutdown', 'the proxy decision stays the reason');
  assert.is(sim.status, 'done');
});

test('FINISHED of the other side, or of a side that is not flushing, changes nothing', () => {
  const sim = reach('server', 'draining.flushing');
  const before = sim.snapshot;
  sim.send({ type: 'FINISHED', side: 'client' });
  assert.equal(sim.value, before.value);
  assert.equal(sim.context, before.context);
});

// --- CLOSE / ERROR ----------------------------------------------------------------------

for (const side of SIDES) {
  const peer = other(side);
  test(`CLOSE ${side} while open: ${side} closed at once (reason closed), ${peer} flushing (peer_closed)`, () => {
    const sim = connected();
    const actions = sim.send({ type: 'CLOSE', side });
    assert.is(sim.region(side), 'closed');
    assert.is(sim.region(peer), 'draining.flushing');
    assert.equal(effects(actions), [`endSocket ${peer}`]);
    assert.equal(sim.context.reasons, { [side]: 'closed', [peer]: 'peer_closed' } as never);
    assert.is(sim.status, 'active');
  });

  test(`ERROR ${side} while open: ${side} destroyed and closed, ${peer} flushing (peer_closed)`, () => {
    const sim = connected();
    const actions = sim.send({ type: 'ERROR', side, code: 'ECONNRESET' });
    assert.is(sim.region(side), 'closed');
    assert.is(sim.region(peer), 'draining.flushing');
    assert.equal(effects(actions).sort(), [`destroySocket ${side}`, `endSocket ${peer}`].sort());
    assert.is(sim.context.reasons[side], 'reset');
    assert.is(sim.context.reasons[peer], 'peer_closed');
    assert.is(sim.context.errors[side], 'ECONNRESET');
    assert.is(sim.context.errors[peer], null);
  });
}

test('ERROR codes map to reasons: ECONNRESET/EPIPE/ECONNABORTED reset, anything else error, no code UNKNOWN', () => {
  const cases: [string | undefined, string, string][] = [
    ['ECONNRESET', 'reset', 'ECONNRESET'],
    ['EPIPE', 'reset', 'EPIPE'],
    ['ECONNABORTED', 'reset', 'ECONNABORTED'],
    ['EHOSTUNREACH', 'error', 'EHOSTUNREACH'],
    ['ECONNREFUSED', 'error', 'ECONNREFUSED'],
    [undefined, 'error', 'UNKNOWN'],
  ];
  for (const [code, reason, recorded] of cases) {
    const sim = connected();
    sim.send(code === undefined ? { type: 'ERROR', side: 'client' } : { type: 'ERROR', side: 'client', code });
    assert.is(sim.context.reasons.client, reason, `reason for ${String(code)}`);
    assert.is(sim.context.errors.client, recorded, `error recorded for ${String(code)}`);
  }
});

for (const state of ['draining.readEnded', 'draining.writeEnded', 'draining.flushing'] as const) {
  test(`CLOSE and ERROR of self while ${state} close that side at once`, () => {
    const a = reach('client', state);
    const reasonBefore = a.context.reasons.client;
    const closeActions = a.send({ type: 'CLOSE', side: 'client' });
    assert.is(a.region('client'), 'closed');
    assert.equal(effects(closeActions).filter((e) => e.endsWith('client')), []);
    assert.is(a.context.reasons.client, reasonBefore, 'the first reason wins');

    const b = reach('client', state);
    const errorActions = b.send({ type: 'ERROR', side: 'client', code: 'EPIPE' });
    assert.is(b.region('client'), 'closed');
    assert.ok(effects(errorActions).includes('destroySocket client'));
    assert.is(b.context.errors.client, 'EPIPE', 'the error code is recorded even when a reason exists');
    assert.is(b.context.reasons.client, reasonBefore, 'the first reason wins');
  });
}

test('CLOSE and ERROR of the peer end a readEnded side after its writes flush', () => {
  for (const event of [{ type: 'CLOSE', side: 'server' }, { type: 'ERROR', side: 'server', code: 'ECONNRESET' }] as const) {
    const sim = reach('client', 'draining.readEnded');
    const actions = sim.send(event);
    assert.is(sim.region('client'), 'draining.flushing', `readEnded + ${event.type}`);
    assert.ok(effects(actions).includes('endSocket client'));
    assert.is(sim.region('server'), 'closed');
  }
});

test('CLOSE and ERROR of the peer close a writeEnded side at once: its FIN is out, nothing is left to flush', () => {
  for (const event of [{ type: 'CLOSE', side: 'server' }, { type: 'ERROR', side: 'server', code: 'ECONNRESET' }] as const) {
    const sim = reach('client', 'draining.writeEnded');
    const actions = sim.send(event);
    assert.is(sim.region('client'), 'closed', `writeEnded + ${event.type}`);
    assert.ok(effects(actions).includes('destroySocket client'));
    assert.not.ok(sim.pending().some((t) => t.startsWith('gracePeriod:client')), 'no grace period to wait out');
    assert.is(sim.region('server'), 'closed');
    assert.is(sim.status, 'done');
  }
});

test('CLOSE of the peer while flushing leaves the flushing side alone', () => {
  const sim = reach('client', 'draining.flushing');
  const actions = sim.send({ type: 'CLOSE', side: 'server' });
  assert.is(sim.region('server'), 'closed');
  assert.is(sim.region('client'), 'draining.flushing');
  assert.equal(effects(actions), []);
});

// --- TIMEOUT events -----------------------------------------------------------------------

for (const side of SIDES) {
  test(`TIMEOUT ${side} under 'reset': no state change, refreshTimeout ${side} emitted`, () => {
    const sim = connected({ timeoutBehavior: 'reset' });
    const before = sim.snapshot;
    const actions = sim.send({ type: 'TIMEOUT', side });
    assert.equal(sim.value, before.value);
    assert.equal(sim.context, before.context);
    assert.equal(effects(actions), [`refreshTimeout ${side}`]);
  });

  test(`TIMEOUT ${side} under 'close': ${side} flushing with reason timeout, the other side stays open`, () => {
    const sim = connected({ timeoutBehavior: 'close' });
    const actions = sim.send({ type: 'TIMEOUT', side });
    assert.is(sim.region(side), 'draining.flushing');
    assert.is(sim.region(other(side)), 'open');
    assert.equal(effects(actions), [`endSocket ${side}`]);
    assert.is(sim.context.reasons[side], 'timeout');
    assert.is(sim.context.reasons[other(side)], null);
  });

  test(`TIMEOUT ${side} under 'ignore': nothing happens`, () => {
    const sim = connected({ timeoutBehavior: 'ignore' });
    const before = sim.snapshot;
    const actions = sim.send({ type: 'TIMEOUT', side });
    assert.equal(actions, []);
    assert.equal(sim.value, before.value);
    assert.equal(sim.context, before.context);
  });
}

test("TIMEOUT under 'close' also closes a half-closed (readEnded) side, but not a flushing one", () => {
  const sim = connected({ timeoutBehavior: 'close' });
  sim.send({ type: 'END', side: 'client' });
  const a = sim.send({ type: 'TIMEOUT', side: 'client' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.equal(effects(a), ['endSocket client']);
  assert.is(sim.context.reasons.client, 'timeout', 'a proxy decision overrides the half-close reason');
  const b = sim.send({ type: 'TIMEOUT', side: 'client' });
  assert.equal(effects(b), [], 'flushing ignores TIMEOUT');
});

// --- socket timeout watch region ------------------------------------------------------------

test('socketTimeout 0: the timeout region is done and no socket timer is armed', () => {
  const sim = connected({ socketTimeout: 0 });
  assert.is(sim.watch('timeout'), 'done');
  assert.not.ok(sim.pending().some((t) => t.startsWith('socketTimeout')));
});

test("socket timeout under 'reset': raises TIMEOUT for both sides, refreshes both, and re-arms", () => {
  const sim = connected({ socketTimeout: 100, timeoutBehavior: 'reset' });
  assert.equal(sim.pending(), ['socketTimeout:watch.timeout.armed']);
  sim.advance(99);
  assert.is(sim.history.length, 1, 'nothing fires before the timeout');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.socketTimeout.connection.watch.timeout.armed');
  assert.equal(raisedNow(fired.actions), ['TIMEOUT client', 'TIMEOUT server']);
  assert.equal(effects(fired.actions), ['refreshTimeout client', 'refreshTimeout server']);
  assert.equal(scheduled(fired.actions), ['socketTimeout:watch.timeout.armed=100'], 're-armed');
  assert.is(sim.watch('timeout'), 'armed');
  assert.is(sim.region('client'), 'open');
  assert.is(sim.dueOf('socketTimeout:watch.timeout.armed'), 200);
  sim.advance(100);
  assert.is(sim.history.length, 3, 'fires again one period later');
});

test('socket timeout: ACTIVITY restarts the armed timer', () => {
  const sim = connected({ socketTimeout: 100 });
  sim.advance(60);
  const actions = sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 0 });
  assert.equal(cancelled(actions), ['socketTimeout:watch.timeout.armed']);
  assert.equal(scheduled(actions), ['socketTimeout:watch.timeout.armed=100']);
  assert.is(sim.dueOf('socketTimeout:watch.timeout.armed'), 160);
  sim.advance(99);
  assert.is(sim.history.filter((h) => h.event.type.startsWith('xstate.after.socketTimeout')).length, 0);
  sim.advance(1);
  assert.is(sim.history.filter((h) => h.event.type.startsWith('xstate.after.socketTimeout')).length, 1);
});

test("socket timeout under 'close': both sides flushing with reason timeout, not re-armed", () => {
  const sim = connected({ socketTimeout: 100, timeoutBehavior: 'close' });
  sim.advance(100);
  const fired = sim.history.at(-1)!;
  assert.equal(raisedNow(fired.actions), ['TIMEOUT client', 'TIMEOUT server']);
  assert.equal(effects(fired.actions), ['endSocket client', 'endSocket server']);
  assert.not.ok(scheduled(fired.actions).some((t) => t.startsWith('socketTimeout')));
  assert.is(sim.watch('timeout'), 'fired');
  assert.equal(sim.context.reasons, { client: 'timeout', server: 'timeout' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'draining.flushing');
});

test("socket timeout under 'ignore': raises TIMEOUT for both, nothing else, not re-armed until ACTIVITY", () => {
  const sim = connected({ socketTimeout: 100, timeoutBehavior: 'ignore' });
  sim.advance(100);
  const fired = sim.history.at(-1)!;
  assert.equal(raisedNow(fired.actions), ['TIMEOUT client', 'TIMEOUT server']);
  assert.equal(effects(fired.actions), []);
  assert.is(sim.watch('timeout'), 'fired');
  assert.equal(sim.pending(), []);
  assert.equal(sim.context.reasons, { client: null, server: null });
  sim.advance(10_000);
  assert.is(sim.history.length, 2, 'no second firing without activity');
  const actions = sim.send({ type: 'ACTIVITY', clientToServer: 3, serverToClient: 3 });
  assert.is(sim.watch('timeout'), 'armed');
  assert.equal(scheduled(actions), ['socketTimeout:watch.timeout.armed=100']);
});

test('socket timeout region finishes (and cancels its timer) once both sides are closed', () => {
  const sim = connected({ socketTimeout: 100 });
  sim.send({ type: 'CLOSE', side: 'client' });
  assert.is(sim.watch('timeout'), 'armed');
  const actions = sim.send({ type: 'CLOSE', side: 'server' });
  assert.ok(cancelled(actions).includes('socketTimeout:watch.timeout.armed'));
  assert.equal(sim.pending(), []);
});

// --- grace period -----------------------------------------------------------------------------

test('gracePeriod expiry in flushing: closed, destroySocket, grace_expired, and the other side then ends', () => {
  const sim = connected({ gracePeriod: 250 });
  sim.send({ type: 'END', side: 'client' });
  assert.is(sim.context.reasons.server, 'peer_fin');
  sim.advance(249);
  assert.is(sim.region('server'), 'draining.flushing');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.gracePeriod.connection.server.draining.flushing');
  assert.is(sim.region('server'), 'closed');
  assert.equal(effects(fired.actions), ['destroySocket server', 'endSocket client']);
  assert.is(sim.context.reasons.server, 'grace_expired', 'a forced close overrides a half-close reason');
  assert.is(sim.region('client'), 'draining.flushing', 'the server is gone: the client drains what it is owed and ends');
});

test('gracePeriod 0 expires a flushing side on the next timer turn; a proxy decision stays the reason', () => {
  const sim = connected({ gracePeriod: 0 });
  sim.send({ type: 'SHUTDOWN' });
  assert.is(sim.dueOf('gracePeriod:client.draining.flushing'), 0);
  sim.advance(0);
  assert.equal(sim.context.reasons, { client: 'shutdown', server: 'shutdown' }, 'grace expiry is how, shutdown is why');
  assert.is(sim.status, 'done');
});

// --- connecting -------------------------------------------------------------------------------

test('connecting: connectTimeout closes the server with reason connect_timeout and destroys it', () => {
  const sim = new MachineSim({ connectTimeout: 500 });
  sim.advance(499);
  assert.is(sim.region('server'), 'connecting');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.connectTimeout.connection.server.connecting');
  assert.is(sim.region('server'), 'closed');
  assert.equal(effects(fired.actions).filter((e) => e.endsWith('server')), ['destroySocket server']);
  assert.is(sim.context.reasons.server, 'connect_timeout');
  assert.is(sim.context.errors.server, null);
});

test('connecting: connectTimeout also ends the client (peer_closed), as a refused connect does', () => {
  const sim = new MachineSim({ connectTimeout: 500 });
  sim.advance(500);
  const fired = sim.history.at(-1)!;
  assert.is(sim.region('client'), 'draining.flushing');
  assert.ok(effects(fired.actions).includes('endSocket client'));
  assert.is(sim.context.reasons.client, 'peer_closed');
});

test('connecting: ERROR ECONNREFUSED -> connect_refused; the client is ended with peer_closed', () => {
  const sim = new MachineSim();
  const actions = sim.send({ type: 'ERROR', side: 'server', code: 'ECONNREFUSED' });
  assert.is(sim.region('server'), 'closed');
  assert.is(sim.region('client'), 'draining.flushing');
  assert.equal(effects(actions).sort(), ['destroySocket server', 'endSocket client']);
  assert.equal(sim.context.reasons, { client: 'peer_closed', server: 'connect_refused' });
  assert.is(sim.context.errors.server, 'ECONNREFUSED');
  assert.ok(cancelled(actions).includes('connectTimeout:server.connecting'));
});

test('connecting: ETIMEDOUT -> connect_timeout, other errors and a bare CLOSE -> connect_error', () => {
  const cases: [Parameters<MachineSim['send']>[0], string][] = [
    [{ type: 'ERROR', side: 'server', code: 'ETIMEDOUT' }, 'connect_timeout'],
    [{ type: 'ERROR', side: 'server', code: 'ECONNRESET' }, 'connect_error'],
    [{ type: 'ERROR', side: 'server', code: 'ENOTFOUND' }, 'connect_error'],
    [{ type: 'ERROR', side: 'server' }, 'connect_error'],
    [{ type: 'CLOSE', side: 'server' }, 'connect_error'],
  ];
  for (const [event, reason] of cases) {
    const sim = new MachineSim();
    sim.send(event);
    assert.is(sim.region('server'), 'closed', JSON.stringify(event));
    assert.is(sim.context.reasons.server, reason, JSON.stringify(event));
  }
});

for (const [code, reason] of [['ECONNREFUSED', 'connect_refused'], ['ETIMEDOUT', 'connect_timeout'], ['ENOTFOUND', 'connect_error']] as const) {
  test(`a connect failure (${code}) after the client's FIN, reset or a shutdown is still recorded as ${reason}`, () => {
    const before: ConnectionInputEvent[][] = [
      [{ type: 'END', side: 'client' }],
      [{ type: 'ERROR', side: 'client', code: 'ECONNRESET' }],
      [{ type: 'CLOSE', side: 'client' }],
      [{ type: 'SHUTDOWN' }],
    ];
    for (const events of before) {
      const sim = new MachineSim();
      for (const e of events) sim.send(e);
      assert.is(sim.region('server'), 'connecting');
      sim.send({ type: 'ERROR', side: 'server', code });
      assert.is(sim.region('server'), 'closed');
      assert.is(sim.context.reasons.server, reason, `after ${events.map((e) => e.type).join(', ')}`);
      assert.is(sim.context.errors.server, code);
    }
  });
}

test('a connect timeout or a bare close while connecting, after the client ended, is still a connect failure', () => {
  const timedOut = new MachineSim({ connectTimeout: 100 });
  timedOut.send({ type: 'END', side: 'client' });
  timedOut.advance(100);
  assert.is(timedOut.context.reasons.server, 'connect_timeout');
  const closed = new MachineSim();
  closed.send({ type: 'END', side: 'client' });
  closed.send({ type: 'CLOSE', side: 'server' });
  assert.is(closed.context.reasons.server, 'connect_error');
});

test('connecting: client END marks serverEndPending, CONNECTED then goes straight to draining.flushing', () => {
  const sim = new MachineSim();
  const a = sim.send({ type: 'END', side: 'client' });
  assert.is(sim.region('client'), 'draining.readEnded');
  assert.is(sim.region('server'), 'connecting');
  assert.is(sim.context.serverEndPending, true);
  assert.equal(effects(a), ['endSocket server']);
  assert.is(sim.context.reasons.server, 'peer_fin');
  assert.not.ok(sim.pending().some((t) => t.startsWith('gracePeriod')), 'no grace while still connecting');
  const b = sim.send({ type: 'CONNECTED' });
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(scheduled(b), ['gracePeriod:server.draining.flushing=5000']);
  assert.equal(cancelled(b), ['connectTimeout:server.connecting']);
  sim.send({ type: 'FINISHED', side: 'server' });
  assert.is(sim.region('server'), 'draining.writeEnded');
});

/** Regression, found by the fault matrix: these endings were recorded in phase 'open' (cO / CO). */
test('a client reset or FIN while the upstream connects ends in phase connecting (cK / CK), and after CONNECTED in phase open', () => {
  const cases = [
    [{ type: 'ERROR', side: 'client', code: 'ECONNRESET' }, 'reset'],
    [{ type: 'END', side: 'client' }, 'fin'],
  ] as const;
  for (const [event, reason] of cases) {
    const early = new MachineSim();
    early.send(event);
    assert.equal(early.context.ending, { side: 'client', reason, phase: 'connecting' }, event.type);
    assert.is(early.context.connected, false);
    early.send({ type: 'CONNECTED' });
    assert.is(early.context.connected, true);
    assert.is(early.context.ending?.phase, 'connecting', 'connecting later does not rewrite the ending');

    const late = new MachineSim();
    late.send({ type: 'CONNECTED' });
    late.send(event);
    assert.equal(late.context.ending, { side: 'client', reason, phase: 'open' }, `${event.type} once connected`);
  }
});

test('connecting: client CLOSE and ERROR mark serverEndPending (peer_closed); CONNECTED -> draining.flushing', () => {
  for (const event of [{ type: 'CLOSE', side: 'client' }, { type: 'ERROR', side: 'client', code: 'ECONNRESET' }] as const) {
    const sim = new MachineSim();
    const a = sim.send(event);
    assert.is(sim.region('client'), 'closed');
    assert.is(sim.region('server'), 'connecting');
    assert.is(sim.context.serverEndPending, true);
    assert.ok(effects(a).includes('endSocket server'));
    assert.is(sim.context.reasons.server, 'peer_closed');
    sim.send({ type: 'CONNECTED' });
    assert.is(sim.region('server'), 'draining.flushing', event.type);
    sim.send({ type: 'CLOSE', side: 'server' });
    assert.is(sim.status, 'done');
  }
});

test('connecting: TIMEOUT and FINISHED of the server are ignored', () => {
  const sim = new MachineSim({ timeoutBehavior: 'close' });
  sim.send({ type: 'TIMEOUT', side: 'server' });
  sim.send({ type: 'FINISHED', side: 'server' });
  assert.is(sim.region('server'), 'connecting');
  assert.is(sim.context.reasons.server, null);
});

test('connecting: SHUTDOWN ends the client and marks the server pending; ABORT closes both at once', () => {
  const sim = new MachineSim();
  const a = sim.send({ type: 'SHUTDOWN' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'connecting');
  assert.equal(effects(a).sort(), ['endSocket client', 'endSocket server']);
  assert.equal(sim.context.reasons, { client: 'shutdown', server: 'shutdown' });
  assert.is(sim.context.serverEndPending, true);
  sim.send({ type: 'CONNECTED' });
  assert.is(sim.region('server'), 'draining.flushing');

  const b = new MachineSim();
  const actions = b.send({ type: 'ABORT' });
  assert.equal(effects(actions).sort(), ['destroySocket client', 'destroySocket server']);
  assert.equal(b.context.reasons, { client: 'aborted', server: 'aborted' });
  assert.is(b.status, 'done');
  assert.equal(b.pending(), []);
});

// --- parity -----------------------------------------------------------------------------------

test('parity: no parity or inactivity timer while both sides are open', () => {
  const sim = connected({ parityTimeout: 100, parityInactivity: 10 });
  assert.is(sim.watch('parity'), 'waiting');
  assert.is(sim.watch('activity'), 'off');
  assert.equal(sim.pending(), []);
  sim.advance(10_000);
  assert.is(sim.region('client'), 'open');
  assert.is(sim.history.length, 1);
});

test('parity: half-closed and quiet -> after parityTimeout both sides end, EXPIRE parity_timeout raised', () => {
  const sim = connected({ parityTimeout: 1000, parityInactivity: 300 });
  const a = sim.send({ type: 'END', side: 'client' });
  assert.ok(scheduled(a).includes('parityTimeout:watch.parity.armed=1000'));
  assert.ok(scheduled(a).includes('parityInactivity:watch.activity.active=300'));
  sim.send({ type: 'FINISHED', side: 'server' });
  assert.is(sim.region('server'), 'draining.writeEnded');
  sim.advance(300);
  assert.is(sim.watch('activity'), 'quiet');
  sim.advance(699);
  assert.is(sim.watch('parity'), 'armed');
  assert.is(sim.region('client'), 'draining.readEnded');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.parityTimeout.connection.watch.parity.armed');
  assert.equal(raisedNow(fired.actions), ['EXPIRE parity_timeout']);
  // The server's FIN went out long ago (writeEnded): nothing to flush, so it is closed at once.
  assert.equal(effects(fired.actions), ['endSocket client', 'destroySocket server']);
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'closed');
  assert.equal(sim.context.reasons, { client: 'parity_timeout', server: 'parity_timeout' });
  assert.is(sim.watch('parity'), 'done');
  assert.ok(scheduled(fired.actions).includes('gracePeriod:client.draining.flushing=5000'));
});

test('parity: with ACTIVITY it waits past parityTimeout and closes once quiet for parityInactivity', () => {
  const sim = connected({ parityTimeout: 1000, parityInactivity: 300 });
  sim.send({ type: 'END', side: 'server' });
  sim.send({ type: 'FINISHED', side: 'client' });
  sim.advance(900);
  sim.send({ type: 'ACTIVITY', clientToServer: 10, serverToClient: 0 });
  assert.is(sim.dueOf('parityInactivity:watch.activity.active'), 1200);
  sim.advance(100); // t = 1000: parity expires, but the connection is not quiet
  assert.is(sim.watch('parity'), 'expired');
  assert.is(sim.region('server'), 'draining.readEnded');
  assert.equal(sim.history.flatMap((h) => effects(h.actions)).filter((e) => e.startsWith('endSocket server')), []);
  sim.advance(150); // t = 1150: more activity keeps it open
  sim.send({ type: 'ACTIVITY', clientToServer: 20, serverToClient: 0 });
  assert.is(sim.watch('activity'), 'active');
  assert.is(sim.dueOf('parityInactivity:watch.activity.active'), 1450);
  sim.advance(299);
  assert.is(sim.region('server'), 'draining.readEnded', 'still open at t = 1449');
  sim.advance(1); // t = 1450: quiet -> parity closes in the same step
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.parityInactivity.connection.watch.activity.active');
  assert.equal(raisedNow(fired.actions), ['EXPIRE parity_timeout']);
  assert.equal(effects(fired.actions), ['destroySocket client', 'endSocket server']);
  assert.is(sim.region('server'), 'draining.flushing');
  assert.is(sim.region('client'), 'closed', 'the writeEnded client had nothing left to flush');
});

test('parity: a side that closed while the other stays open also arms it', () => {
  const sim = connected({ parityTimeout: 50, parityInactivity: 0, gracePeriod: 10 });
  sim.send({ type: 'CLOSE', side: 'client' });
  sim.send({ type: 'FINISHED', side: 'server' });
  // server: flushing -> stays flushing (peer closed), grace 10 closes it long before parity.
  sim.advance(10);
  assert.is(sim.status, 'done');
  assert.equal(sim.pending(), [], 'parity and inactivity timers are cancelled when both sides are closed');
});

test('parity: the parity close is recorded as parity_timeout', () => {
  const sim = connected({ parityTimeout: 1000, parityInactivity: 300 });
  sim.send({ type: 'END', side: 'client' });
  sim.send({ type: 'FINISHED', side: 'server' });
  sim.advance(1000);
  assert.ok(Object.values(sim.context.reasons).includes('parity_timeout'), JSON.stringify(sim.context.reasons));
});

// --- idle timeout ---------------------------------------------------------------------------

test('idleTimeout 0: no idle timer armed, ever', () => {
  const sim = connected({ idleTimeout: 0 });
  sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 1 });
  assert.is(sim.watch('idle'), 'done');
  assert.not.ok(sim.history.some((h) => scheduled(h.actions).some((t) => t.startsWith('idleTimeout'))));
  assert.not.ok(scheduled(sim.initialActions).some((t) => t.startsWith('idleTimeout')));
});

test('idleTimeout: ACTIVITY restarts it; expiry ends both sides with reason idle_timeout', () => {
  const sim = new MachineSim({ idleTimeout: 50 });
  sim.send({ type: 'CONNECTED' });
  sim.advance(40);
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 5, serverToClient: 0 });
  assert.equal(cancelled(a), ['idleTimeout:watch.idle.watching']);
  assert.equal(scheduled(a), ['idleTimeout:watch.idle.watching=50']);
  sim.advance(49);
  assert.is(sim.region('client'), 'open');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.idleTimeout.connection.watch.idle.watching');
  assert.equal(raisedNow(fired.actions), ['EXPIRE idle_timeout']);
  assert.equal(effects(fired.actions), ['endSocket client', 'endSocket server']);
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(sim.context.reasons, { client: 'idle_timeout', server: 'idle_timeout' });
  assert.is(sim.watch('idle'), 'done');
});

test('inactivity timers count from the last byte: a checkpoint that saw idleMs of silence arms only the rest', () => {
  const sim = new MachineSim({ idleTimeout: 300, socketTimeout: 500, parityInactivity: 400 });
  sim.send({ type: 'CONNECTED' });
  sim.send({ type: 'END', side: 'client' }); // half-closed: the parity activity timer runs
  sim.advance(250);
  // The byte moved at 50; the checkpoint comes 200 ms later (a sampling tick).
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 5, serverToClient: 0, idleMs: 200 });
  assert.equal(
    scheduled(a).sort(),
    ['idleTimeout:watch.idle.watching=100', 'parityInactivity:watch.activity.active=200', 'socketTimeout:watch.timeout.armed=300'],
  );
  assert.is(sim.dueOf('idleTimeout:watch.idle.watching'), 350, 'last byte at 50 + idleTimeout 300');
  assert.is(sim.dueOf('socketTimeout:watch.timeout.armed'), 550);
  assert.is(sim.dueOf('parityInactivity:watch.activity.active'), 450);
});

test('a checkpoint that saw more silence than the delay arms it to fire at once, never negative', () => {
  const sim = new MachineSim({ idleTimeout: 300 });
  sim.send({ type: 'CONNECTED' });
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 0, idleMs: 1000 });
  assert.equal(scheduled(a), ['idleTimeout:watch.idle.watching=0']);
});

test("a socket timeout under 'reset' re-arms in full after it fires, whatever the silence", () => {
  const sim = connected({ socketTimeout: 100 });
  sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 0, idleMs: 30 });
  assert.is(sim.dueOf('socketTimeout:watch.timeout.armed'), 70);
  sim.advance(70);
  const fired = sim.history.at(-1)!;
  assert.equal(scheduled(fired.actions), ['socketTimeout:watch.timeout.armed=100'], 'the next period is a whole one');
});

// --- max lifetime -------------------------------------------------------------------------

test('maxLifetime: expiry ends both sides with reason max_lifetime, and ACTIVITY does not postpone it', () => {
  const sim = connected({ maxLifetime: 1000 });
  sim.advance(500);
  const a = sim.send({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 1 });
  assert.not.ok(scheduled(a).some((t) => t.startsWith('maxLifetime')));
  sim.advance(499);
  assert.is(sim.region('client'), 'open');
  sim.advance(1);
  const fired = sim.history.at(-1)!;
  assert.is(fired.event.type, 'xstate.after.maxLifetime.connection.watch.lifetime.running');
  assert.equal(raisedNow(fired.actions), ['EXPIRE max_lifetime']);
  assert.equal(effects(fired.actions), ['endSocket client', 'endSocket server']);
  assert.equal(sim.context.reasons, { client: 'max_lifetime', server: 'max_lifetime' });
});

test('maxLifetime 0: no lifetime timer', () => {
  const sim = connected({ maxLifetime: 0 });
  assert.is(sim.watch('lifetime'), 'done');
  assert.not.ok(scheduled(sim.initialActions).some((t) => t.startsWith('maxLifetime')));
});

// --- SHUTDOWN / ABORT -----------------------------------------------------------------------

test('SHUTDOWN: both sides flushing with reason shutdown, both ended, grace armed for both', () => {
  const sim = connected();
  const actions = sim.send({ type: 'SHUTDOWN' });
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.region('server'), 'draining.flushing');
  assert.equal(effects(actions), ['endSocket client', 'endSocket server']);
  assert.equal(sim.context.reasons, { client: 'shutdown', server: 'shutdown' });
  assert.ok(scheduled(actions).includes('gracePeriod:client.draining.flushing=5000'));
  assert.ok(scheduled(actions).includes('gracePeriod:server.draining.flushing=5000'));
});

test('SHUTDOWN overrides the half-close reason of a side that was still live', () => {
  const sim = connected();
  sim.send({ type: 'END', side: 'client' });
  sim.send({ type: 'FINISHED', side: 'server' });
  const actions = sim.send({ type: 'SHUTDOWN' });
  assert.equal(effects(actions), ['endSocket client', 'endSocket server']);
  assert.equal(sim.context.reasons, { client: 'shutdown', server: 'shutdown' });
});

test('ABORT: both closed at once with reason aborted (forced), destroySocket for both, done', () => {
  const sim = connected({ socketTimeout: 100, idleTimeout: 100, maxLifetime: 100 });
  sim.send({ type: 'END', side: 'client' });
  const actions = sim.send({ type: 'ABORT' });
  assert.is(sim.region('client'), 'closed');
  assert.is(sim.region('server'), 'closed');
  assert.equal(effects(actions), ['destroySocket client', 'destroySocket server']);
  assert.equal(sim.context.reasons, { client: 'aborted', server: 'aborted' });
  assert.is(sim.status, 'done');
  assert.equal(sim.pending(), [], 'every timer is cancelled');
});

test('ABORT of a flushing side destroys it; a closed side is not touched again', () => {
  const sim = connected();
  sim.send({ type: 'CLOSE', side: 'server' });
  const actions = sim.send({ type: 'ABORT' });
  assert.equal(effects(actions), ['destroySocket client']);
  assert.equal(sim.context.reasons, { client: 'aborted', server: 'closed' });
  assert.is(sim.status, 'done');
});

// --- done, output, bytes ----------------------------------------------------------------

test("status is 'done' iff client and server are both closed; output has reasons, errors, bytes", () => {
  const sim = connected({ socketTimeout: 1000, idleTimeout: 1000, maxLifetime: 5000 });
  sim.send({ type: 'ACTIVITY', clientToServer: 7, serverToClient: 9 });
  sim.send({ type: 'ERROR', side: 'server', code: 'ECONNRESET' });
  assert.is(sim.region('server'), 'closed');
  assert.is(sim.status, 'active', 'one side closed is not done');
  assert.is(sim.output, undefined);
  assert.is(sim.region('client'), 'draining.flushing');
  assert.is(sim.status, 'active', 'a flushing side is not closed');
  sim.send({ type: 'CLOSE', side: 'client' });
  assert.is(sim.status, 'done');
  assert.equal(sim.value.watch, { timeout: 'done', idle: 'done', lifetime: 'done', activity: 'done', parity: 'done', firstByte: 'done' });
  assert.equal(sim.output, {
    reasons: { client: 'peer_closed', server: 'reset' },
    ending: { side: 'server', reason: 'reset', phase: 'open' },
    errors: { client: null, server: 'ECONNRESET' },
    bytes: { clientToServer: 7, serverToClient: 9 },
  });
  assert.equal(sim.pending(), []);
});

test('ACTIVITY records the cumulative byte checkpoint in context (replaced, not added)', () => {
  const sim = connected();
  sim.send({ type: 'ACTIVITY', clientToServer: 10, serverToClient: 20 });
  assert.equal(sim.context.bytes, { clientToServer: 10, serverToClient: 20 });
  sim.send({ type: 'ACTIVITY', clientToServer: 15, serverToClient: 20 });
  assert.equal(sim.context.bytes, { clientToServer: 15, serverToClient: 20 });
  sim.send({ type: 'END', side: 'client' });
  sim.send({ type: 'ACTIVITY', clientToServer: 15, serverToClient: 99 });
  assert.equal(sim.context.bytes, { clientToServer: 15, serverToClient: 99 }, 'recorded while draining too');
  const before = new MachineSim();
  before.send({ type: 'ACTIVITY', clientToServer: 3, serverToClient: 0 });
  assert.equal(before.context.bytes, { clientToServer: 3, serverToClient: 0 }, 'recorded while connecting too');
});

test('events after done change nothing', () => {
  const sim = connected();
  sim.send({ type: 'ABORT' });
  const done = sim.snapshot;
  for (const event of [{ type: 'CONNECTED' }, { type: 'END', side: 'client' }, { type: 'SHUTDOWN' }] as const) {
    sim.send(event);
    assert.equal(sim.value, done.value);
    assert.equal(sim.context.reasons, done.context.reasons);
  }
});

// --- the same machine under a real interpreter ---------------------------------------------

test('createActor with a SimulatedClock reaches the same states and effects as pure transition()', () => {
  const settings: Partial<ConnectionSettings> = { parityTimeout: 1000, parityInactivity: 300, gracePeriod: 200 };
  const calls: string[] = [];
  const machine = connectionMachine.provide({
    actions: {
      endSocket: (_, params) => void calls.push(`endSocket ${params.side}`),
      destroySocket: (_, params) => void calls.push(`destroySocket ${params.side}`),
      refreshTimeout: (_, params) => void calls.push(`refreshTimeout ${params.side}`),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: settings, clock }).start();
  const sim = new MachineSim(settings);
  const script: (Parameters<MachineSim['send']>[0] | number)[] = [
    { type: 'CONNECTED' },
    { type: 'END', side: 'client' },
    { type: 'FINISHED', side: 'server' },
    600,
    { type: 'ACTIVITY', clientToServer: 4, serverToClient: 8 },
    500,
    300, // quiet at 1400: parity closes both
    { type: 'FINISHED', side: 'client' },
    250, // grace expires for both
  ];
  for (const step of script) {
    if (typeof step === 'number') {
      clock.increment(step);
      sim.advance(step);
    } else {
      actor.send(step as never);
      sim.send(step);
    }
    const snap = actor.getSnapshot();
    assert.equal(snap.value, sim.value, `value after ${JSON.stringify(step)}`);
    assert.equal(snap.context, sim.context, `context after ${JSON.stringify(step)}`);
  }
  assert.is(actor.getSnapshot().status, 'done');
  assert.equal(calls, sim.history.flatMap((h) => effects(h.actions)));
  assert.equal(calls, ['endSocket server', 'endSocket client', 'destroySocket server', 'destroySocket client']);
  assert.equal(actor.getSnapshot().output, sim.output);
  actor.stop();
});

// --- the machine is data --------------------------------------------------------------------

test('machines/ imports nothing from Node: only relative modules and xstate', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'machines');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('connection-machine.ts'));
  const builtins = new Set(builtinModules);
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    assert.not.ok(/['"]node:/.test(text), `${file} mentions a node: module`);
    assert.not.ok(/\brequire\s*\(/.test(text), `${file} calls require()`);
    assert.not.ok(/\bprocess\.|\bBuffer\b/.test(text), `${file} uses a Node global`);
    const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    for (const spec of specifiers) {
      assert.not.ok(builtins.has(spec), `${file} imports Node builtin ${spec}`);
      assert.ok(spec.startsWith('./') || spec === 'xstate', `${file} imports ${spec}`);
    }
  }
});

test.run();
