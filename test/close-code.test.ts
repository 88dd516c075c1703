import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeCode, moreDecisive, type Ending } from '../src/index.js';
import { MachineSim } from './helpers/reference-machine.js';

const connected = (settings = {}) => {
  const sim = new MachineSim(settings);
  sim.send({ type: 'CONNECTED' });
  return sim;
};

test('a normal close initiated by the client is CO; by the server, SO', () => {
  const a = connected();
  a.send({ type: 'END', side: 'client' });
  a.send({ type: 'FINISHED', side: 'server' });
  a.send({ type: 'END', side: 'server' });
  assert.is(closeCode(a.context.ending), 'CO');
  const b = connected();
  b.send({ type: 'END', side: 'server' });
  assert.is(closeCode(b.context.ending), 'SO');
});

test('a reset outranks an earlier FIN: sD for a server reset while it was draining, cH for a half-closed client', () => {
  const sim = connected();
  sim.send({ type: 'END', side: 'client' });
  sim.send({ type: 'ERROR', side: 'server', code: 'ECONNRESET' });
  assert.equal(sim.context.ending, { side: 'server', reason: 'reset', phase: 'draining' });
  assert.is(sim.context.reasons.server, 'peer_fin', "the side's own reason keeps its first cause");
  assert.is(closeCode(sim.context.ending), 'sD');
  const other = connected();
  other.send({ type: 'END', side: 'client' });
  other.send({ type: 'ERROR', side: 'client', code: 'ECONNRESET' });
  assert.is(closeCode(other.context.ending), 'cH');
});

test('connect failures are R / T in the connecting phase', () => {
  const refused = new MachineSim();
  refused.send({ type: 'ERROR', side: 'server', code: 'ECONNREFUSED' });
  assert.is(closeCode(refused.context.ending), 'RK');
  const slow = new MachineSim({ connectTimeout: 100 });
  slow.advance(100);
  assert.is(closeCode(slow.context.ending), 'TK');
});

test('grace expiry while draining is gD; a parity close of a half-closed connection is pH', () => {
  const grace = connected({ gracePeriod: 50 });
  grace.send({ type: 'END', side: 'client' });
  grace.advance(50);
  assert.is(closeCode(grace.context.ending), 'gD');
  const parity = connected({ parityTimeout: 100, parityInactivity: 10 });
  parity.send({ type: 'END', side: 'client' });
  parity.send({ type: 'FINISHED', side: 'server' });
  parity.advance(100);
  assert.is(closeCode(parity.context.ending), 'pH');
});

test('shutdown and abort are P and A, and an abort outranks everything before it', () => {
  const sim = connected();
  sim.send({ type: 'SHUTDOWN' });
  assert.is(closeCode(sim.context.ending), 'PO');
  sim.send({ type: 'ABORT' });
  assert.is(closeCode(sim.context.ending), 'AD');
});

test('peer_* reasons never decide, equal ranks keep the first, and nothing recorded is --', () => {
  const first: Ending = { side: 'client', reason: 'fin', phase: 'open' };
  assert.is(moreDecisive(null, { side: 'server', reason: 'peer_fin', phase: 'open' }), null);
  assert.is(moreDecisive(first, { side: 'server', reason: 'closed', phase: 'draining' }), first);
  assert.is(closeCode(null), '--');
  assert.is(closeCode({ side: 'client', reason: 'error', phase: 'open' }), 'cO');
  assert.is(closeCode({ side: 'client', reason: 'timeout', phase: 'open' }), 'tO');
  assert.is(closeCode({ side: 'server', reason: 'idle_timeout', phase: 'open' }), 'iO');
  assert.is(closeCode({ side: 'server', reason: 'max_lifetime', phase: 'half_closed' }), 'lH');
});

test.run();
