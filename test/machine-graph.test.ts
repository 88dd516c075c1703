/**
 * Exhaustive exploration of `connectionMachine` under every combination of the options that
 * change its shape: timeoutBehavior × allowHalfOpen × socketTimeout (0|>0) × idleTimeout
 * (0|>0) × maxLifetime (0|>0) = 48 combinations, plus 8 with firstByteTimeout on (see COMBOS).
 *
 * Two graphs per combination (see test/helpers/graph.ts):
 * - `free`: at every node every input event (CONNECTED; END, FINISHED, CLOSE, TIMEOUT,
 *   ERROR ECONNRESET, ERROR ECONNREFUSED per side; ACTIVITY 1/1 and 0/1; SHUTDOWN; ABORT) plus
 *   every pending timer. Nodes are machine states modulo what no guard reads (bytes, errors,
 *   ending, and of each reason only: unset, `peer_fin`, other), plus the pending timers;
 *   every 10th node is re-stepped with those values perturbed to prove the key sound.
 * - `sockets`: only what a real socket pair can still emit, with a socket model in the node
 *   (end/destroy called, 'end'/'finish'/'close' seen), so that what the sockets owe the
 *   machine once both peers go silent is known.
 * Timers fire in any order (their durations are not modelled): every ordering real time
 * allows is included, and some it does not (the timed test at the end shows one that
 * matters is reachable with valid settings).
 *
 * The analysis of a combination (test/helpers/graph-combo.ts) is plain data in, plain data
 * out; the 56 run in worker threads (PL_GRAPH_WORKERS, default: the available parallelism;
 * 1 runs them in this thread) and the tests below assert on their reports.
 */
import { getStateNodes } from '@xstate/graph';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectionMachine } from '../machines/connection-machine.js';
import { DEFAULT_SETTINGS } from '../machines/connection-settings.js';
import { ManualClock } from '../src/clock.js';
import { TransitionRuntime } from '../src/runtime/transition-runtime.js';
import { canonical } from './helpers/graph.js';
import { analyzeCombo, COMBOS, type Combo, type ComboReport } from './helpers/graph-combo.js';

const WORKERS = Math.max(1, Math.min(8, Number(process.env.PL_GRAPH_WORKERS ?? availableParallelism())));

/** Reports by combination name: from a pool of workers started on first use, or computed here. */
let reports: Map<string, Promise<ComboReport>> | null = null;

function reportOf(combo: Combo): Promise<ComboReport> {
  reports ??= WORKERS === 1 ? new Map() : startPool();
  let report = reports.get(combo.name);
  if (report === undefined) reports.set(combo.name, (report = Promise.resolve().then(() => analyzeCombo(combo))));
  return report;
}

function startPool(): Map<string, Promise<ComboReport>> {
  const out = new Map<string, Promise<ComboReport>>();
  const settle = new Map<string, { resolve(r: ComboReport): void; reject(e: Error): void }>();
  for (const combo of COMBOS) {
    const promise = new Promise<ComboReport>((resolve, reject) => settle.set(combo.name, { resolve, reject }));
    promise.catch(() => {}); // rejections surface in the test that awaits them
    out.set(combo.name, promise);
  }
  const queue: Combo[] = [...COMBOS];
  const workers: Worker[] = [];
  const fail = (err: Error) => {
    for (const { reject } of settle.values()) reject(err);
    settle.clear();
    for (const w of workers) void w.terminate();
  };
  for (let i = 0; i < Math.min(WORKERS, queue.length); i++) {
    const worker = new Worker(new URL('./helpers/graph-worker.mjs', import.meta.url));
    workers.push(worker);
    const next = () => {
      const combo = queue.shift();
      if (combo === undefined) void worker.terminate();
      else worker.postMessage(combo);
    };
    worker.on('message', (m: { name: string; report?: ComboReport; error?: string }) => {
      const s = settle.get(m.name);
      settle.delete(m.name);
      if (m.report !== undefined) s?.resolve(m.report);
      else s?.reject(new Error(m.error));
      next();
    });
    worker.on('error', fail);
    next();
  }
  return out;
}

for (const combo of COMBOS) {
  test(`${combo.name}: (1) done iff both closed, (3) reset never closes, (4) closed has a reason, (5) done has no timers`, async () => {
    const r = await reportOf(combo);
    console.log(
      `[graph] ${combo.name}: free ${r.free.states} states / ${r.free.transitions} transitions (depth ${r.free.depth}, ` +
        `${r.free.transitionCalls} machine steps, ${r.crossChecked} cross-checked against xstate's transition(), ` +
        `${r.abstractionChecked} re-run with perturbed bytes/reasons/errors/ending); ` +
        `sockets ${r.sockets.states} states / ${r.sockets.transitions} transitions over ${r.sockets.machineStates} machine states`,
    );
    if (r.violations.length > 0) assert.unreachable(`${r.violations.length} violations, the first ones:\n${r.violations.slice(0, 4).join('\n')}`);
    assert.is(r.sockets.transitionCalls, 0, 'every socket-environment step is one the free graph checked');
    // The armed timers are a function of the machine state: no two free nodes differ by timers alone.
    assert.is(r.free.states, r.free.machineStates, 'free nodes are machine states');
    // Not vacuous: done is reachable, and (3) has teeth: under 'close' a socket timeout does
    // close a side, under 'reset' and 'ignore' it never does.
    assert.ok(r.free.done && r.sockets.done, 'done is reachable');
    if (combo.settings.timeoutBehavior === 'close') assert.ok(r.timeoutCloses > 0, "'close' closes on TIMEOUT");
    else assert.is(r.timeoutCloses, 0, `'${combo.settings.timeoutBehavior}' never closes on TIMEOUT`);
  });
}

test('every state node of the machine is reached in some combination (the transient `check` states aside)', async () => {
  const visited = new Set<string>();
  for (const combo of COMBOS) for (const leaf of (await reportOf(combo)).visitedLeaves) visited.add(leaf);
  const leaves = getStateNodes(connectionMachine)
    .filter((n) => n.type === 'atomic' || n.type === 'final')
    .map((n) => n.path.join('.'));
  const missed = leaves.filter((leaf) => !visited.has(leaf));
  // `check` states decide by `always` whether their timer is on: no snapshot ever rests there.
  assert.equal(missed, ['watch.timeout.check', 'watch.idle.check', 'watch.lifetime.check', 'watch.firstByte.check']);
});

test('(2) once both peers are silent, every state finishes except fully open ones without an idle/lifetime/close timer', async () => {
  const failures: string[] = [];
  for (const combo of COMBOS) {
    const r = await reportOf(combo);
    console.log(`[liveness] ${combo.name}: ${r.liveness.join('; ')}`);
    failures.push(...r.livenessFailures);
  }
  if (failures.length > 0) assert.unreachable(`${failures.length} liveness failures, the first ones:\n${failures.slice(0, 4).join('\n')}`);
});

test('a connection ended by a timer, whose parity timer fires while both sides flush, does not live forever (timed run)', () => {
  // Valid settings with parityTimeout below gracePeriod (5 s). The idle timeout ends both
  // sides (both flushing), the parity timers fire while they flush (their EXPIRE finds no
  // live side and the parity watch is done), then both flushes complete. Nothing the peers
  // do follows: the connection must still finish (by its grace period), not wait forever.
  const clock = new ManualClock();
  const runtime = new TransitionRuntime({ ...DEFAULT_SETTINGS, idleTimeout: 1_000, parityTimeout: 1_000, parityInactivity: 500 }, clock, {
    effect() {},
    beforeTimer() {},
    record() {},
    done() {},
  });
  runtime.start();
  runtime.send({ type: 'CONNECTED' });
  clock.advance(2_500); // idle fires at 1 s, parity inactivity at 1.5 s, parity timeout at 2 s
  runtime.send({ type: 'FINISHED', side: 'client' });
  runtime.send({ type: 'FINISHED', side: 'server' });
  clock.advance(24 * 3_600_000); // a silent day: no peer sends anything more
  const value = canonical(runtime.value);
  const armed = clock.pending;
  const done = runtime.done;
  runtime.stop();
  assert.ok(done, `still alive after a silent day in ${value} with ${armed} timers armed (reasons ${JSON.stringify(runtime.context.reasons)})`);
});

test.run();
