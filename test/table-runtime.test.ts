import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnectionInputEvent, ConnectionSettings, Side } from '../src/index.js';
import { DEFAULT_SETTINGS, ManualClock } from '../src/index.js';
import { TransitionRuntime } from '../src/internal.js';
import type { MachineRuntime, RuntimeHost } from '../src/runtime/machine-runtime.js';
import { ActorRuntime } from '../src/runtime/actor-runtime.js';
import { TableRuntime } from '../src/runtime/table-runtime.js';
import { eventKey, tableFor } from '../src/runtime/transition-table.js';

/** A host that writes down everything a runtime asks for, in order. */
function recordingHost(trace: string[]): RuntimeHost {
  return {
    effect: (type, side) => trace.push(`effect ${type} ${side}`),
    beforeTimer: () => trace.push('beforeTimer'),
    record: (event) => trace.push(`event ${JSON.stringify(event)}`),
    done: (output) => trace.push(`done ${JSON.stringify(output)}`),
  };
}

const sides: Side[] = ['client', 'server'];
const inputEvent: fc.Arbitrary<ConnectionInputEvent | 'tick'> = fc.oneof(
  fc.constant('tick' as const),
  fc.constant({ type: 'CONNECTED' } as const),
  fc.constantFrom(...sides).map((side) => ({ type: 'END', side }) as const),
  fc.constantFrom(...sides).map((side) => ({ type: 'FINISHED', side }) as const),
  fc.constantFrom(...sides).map((side) => ({ type: 'CLOSE', side }) as const),
  fc.constantFrom(...sides).map((side) => ({ type: 'TIMEOUT', side }) as const),
  fc
    .record({ side: fc.constantFrom(...sides), code: fc.constantFrom('ECONNRESET', 'ECONNREFUSED', 'EPIPE', undefined) })
    .map(({ side, code }) => ({ type: 'ERROR', side, code }) as const),
  // Either count may be 0: a checkpoint with only server bytes leaves the first-byte watch waiting.
  fc
    .tuple(fc.nat({ max: 1000 }), fc.nat({ max: 1000 }))
    .map(([c2s, s2c]) => ({ type: 'ACTIVITY', clientToServer: c2s % 3 === 0 ? 0 : c2s, serverToClient: s2c }) as const),
  fc.constant({ type: 'SHUTDOWN' } as const),
  fc.constant({ type: 'ABORT' } as const),
);

const settingsArb: fc.Arbitrary<ConnectionSettings> = fc.record({
  socketTimeout: fc.constantFrom(0, 50),
  timeoutBehavior: fc.constantFrom('reset', 'close', 'ignore'),
  allowHalfOpen: fc.boolean(),
  gracePeriod: fc.constantFrom(0, 30),
  parityTimeout: fc.constantFrom(40, 200),
  parityInactivity: fc.constantFrom(0, 20, 300),
  connectTimeout: fc.constantFrom(25, 1000),
  idleTimeout: fc.constantFrom(0, 70),
  maxLifetime: fc.constantFrom(0, 500),
  firstByteTimeout: fc.constantFrom(0, 60),
});

/**
 * A recording host whose sockets answer at once, inside the effect call: an end is flushed
 * (`FINISHED`), a destroy closes (`CLOSE`). So events arrive while the runtime is still
 * carrying out the previous one's actions, and its queue must keep them in order.
 */
let answered = 0;
function reentrantHost(trace: string[], runtime: () => MachineRuntime): RuntimeHost {
  const host = recordingHost(trace);
  const answer = (event: ConnectionInputEvent) => {
    answered++;
    runtime().send(event);
  };
  return {
    ...host,
    effect: (type, side) => {
      host.effect(type, side);
      if (type === 'endSocket') answer({ type: 'FINISHED', side });
      else if (type === 'destroySocket') answer({ type: 'CLOSE', side });
    },
  };
}

/** Runs the same script through one runtime; timers fire by advancing the runtime's own clock. */
function run(make: (clock: ManualClock, host: RuntimeHost) => MachineRuntime, script: (ConnectionInputEvent | 'tick')[], reentrant = false) {
  const trace: string[] = [];
  const clock = new ManualClock();
  let self: MachineRuntime | undefined;
  const runtime = (self = make(clock, reentrant ? reentrantHost(trace, () => self!) : recordingHost(trace)));
  runtime.start();
  const states: string[] = [];
  for (const step of script) {
    if (step === 'tick') {
      const due = clock.nextDue();
      if (due !== undefined) clock.advance(due - clock.now());
    } else runtime.send(step);
    states.push(JSON.stringify([runtime.value, runtime.context, runtime.done, runtime.pendingTimers, clock.nextDue()]));
  }
  return { trace, states };
}

test('the lean table runtime agrees with XState transition() on random event sequences', () => {
  fc.assert(
    fc.property(settingsArb, fc.array(inputEvent, { maxLength: 40 }), (settings, script) => {
      const reference = run((clock, host) => new TransitionRuntime(settings, clock, host), script);
      const lean = run((clock, host) => new TableRuntime(settings, clock, host), script);
      assert.equal(lean.states, reference.states);
      assert.equal(lean.trace, reference.trace);
    }),
    { numRuns: 600, seed: 20261125 },
  );
});

test('they agree too when the host answers effects at once, re-entering the runtime', () => {
  answered = 0;
  fc.assert(
    fc.property(settingsArb, fc.array(inputEvent, { maxLength: 30 }), (settings, script) => {
      const reference = run((clock, host) => new TransitionRuntime(settings, clock, host), script, true);
      const lean = run((clock, host) => new TableRuntime(settings, clock, host), script, true);
      assert.equal(lean.states, reference.states);
      assert.equal(lean.trace, reference.trace);
    }),
    { numRuns: 300, seed: 20261127 },
  );
  assert.ok(answered > 300, `events sent from inside effects: ${answered}`);
});

test('the inspected actor runtime agrees with the table runtime: same states, effects, log and timers', () => {
  fc.assert(
    fc.property(settingsArb, fc.array(inputEvent, { maxLength: 40 }), (settings, script) => {
      const lean = run((clock, host) => new TableRuntime(settings, clock, host), script);
      const actor = run((clock, host) => new ActorRuntime(settings, clock, host), script);
      assert.equal(actor.states, lean.states);
      assert.equal(actor.trace, lean.trace);
    }),
    { numRuns: 300, seed: 20261126 },
  );
});

test('connections with equal settings share one table, so the table stays small', () => {
  const a = tableFor({ ...DEFAULT_SETTINGS });
  const b = tableFor({ ...DEFAULT_SETTINGS });
  // Identity checks by hand: tables are cyclic graphs that uvu's diff would walk forever.
  assert.ok(a === b, 'equal settings share a table');
  const c = tableFor({ ...DEFAULT_SETTINGS, gracePeriod: 1234 });
  assert.ok(a !== c, 'different settings get their own table');
});

test('event keys leave byte counts out and keep what guards read', () => {
  assert.is(eventKey({ type: 'ACTIVITY', clientToServer: 1, serverToClient: 2 }), eventKey({ type: 'ACTIVITY', clientToServer: 9, serverToClient: 9 }));
  assert.is.not(eventKey({ type: 'ERROR', side: 'client', code: 'ECONNRESET' }), eventKey({ type: 'ERROR', side: 'client', code: 'EPIPE' }));
  assert.is.not(eventKey({ type: 'END', side: 'client' }), eventKey({ type: 'END', side: 'server' }));
});

test.run();
