/**
 * Replay equivalence as a property: whatever events a connection sees, and however its
 * timers interleave with them, replaying the event log rebuilds exactly the live state.
 *
 * A live runtime runs on a ManualClock with a host that records every event into an
 * EventLog (as the binding does) and ignores effects. Timer events are never sent by hand:
 * the test advances the clock to a pending timer's due time and the runtime fires it.
 * Bytes move between checkpoints, and the host sends an ACTIVITY checkpoint before a timer
 * fires whenever they moved (as the binding does), which may re-arm that very timer.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnectionInputEvent, Side } from '../machines/connection-events.js';
import { DEFAULT_SETTINGS, type ConnectionSettings } from '../machines/connection-settings.js';
import { ManualClock, type Clock, type TimerHandle } from '../src/clock.js';
import { EventLog } from '../src/log/event-log.js';
import { parseEventLog } from '../src/log/event-log-parser.js';
import { replay } from '../src/log/replay.js';
import type { MachineRuntime, RuntimeFactory, RuntimeHost } from '../src/runtime/machine-runtime.js';
import { TableRuntime } from '../src/runtime/table-runtime.js';
import { TransitionRuntime } from '../src/runtime/transition-runtime.js';

const SEED = Number(process.env.PL_REPLAY_SEED ?? 20240611);
const RUNS = Number(process.env.PL_REPLAY_RUNS ?? 600);
const CONN = '7';

/** A ManualClock that also says which timers are armed and when each is due. */
class TrackingClock implements Clock {
  readonly inner = new ManualClock(1_000);
  private readonly due = new Map<TimerHandle, { at: number; seq: number }>();
  private seq = 0;

  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = this.inner.setTimeout(() => {
      this.due.delete(handle);
      fn();
    }, ms);
    this.due.set(handle, { at: this.now() + Math.max(0, ms), seq: this.seq++ });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.due.delete(handle);
    this.inner.clearTimeout(handle);
  }
  /** Due times of the armed timers, in the order ManualClock fires them. */
  pendingDue(): number[] {
    return [...this.due.values()].sort((a, b) => a.at - b.at || a.seq - b.seq).map((t) => t.at);
  }
  advanceTo(at: number): void {
    this.inner.advance(at - this.now());
  }
}

type Step =
  | { kind: 'event'; event: ConnectionInputEvent }
  | { kind: 'timer'; index: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'data'; clientToServer: number; serverToClient: number }
  | { kind: 'checkpoint' };

const SIDES: Side[] = ['client', 'server'];
const side = fc.constantFrom(...SIDES);

const inputEvent: fc.Arbitrary<ConnectionInputEvent> = fc.oneof(
  fc.constant({ type: 'CONNECTED' } as const),
  side.map((s) => ({ type: 'END', side: s }) as const),
  side.map((s) => ({ type: 'FINISHED', side: s }) as const),
  side.map((s) => ({ type: 'CLOSE', side: s }) as const),
  side.map((s) => ({ type: 'TIMEOUT', side: s }) as const),
  fc
    .record({ side, code: fc.constantFrom('ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', undefined) })
    .map(({ side: s, code }): ConnectionInputEvent => (code === undefined ? { type: 'ERROR', side: s } : { type: 'ERROR', side: s, code })),
  fc.constant({ type: 'SHUTDOWN' } as const),
  fc.constant({ type: 'ABORT' } as const),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: inputEvent.map((event): Step => ({ kind: 'event', event })) },
  // A pending timer, chosen by index among those armed (modulo their number) when the step runs.
  { weight: 5, arbitrary: fc.nat({ max: 7 }).map((index): Step => ({ kind: 'timer', index })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 400 }).map((ms): Step => ({ kind: 'advance', ms })) },
  {
    weight: 3,
    arbitrary: fc
      .record({ clientToServer: fc.nat({ max: 50 }), serverToClient: fc.nat({ max: 50 }) })
      .map((d): Step => ({ kind: 'data', ...d })),
  },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'checkpoint' }) },
);

/** Short durations (0 = off where allowed) so that timers fire and race each other. */
const settings: fc.Arbitrary<ConnectionSettings> = fc.record({
  socketTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  timeoutBehavior: fc.constantFrom('reset', 'close', 'ignore'),
  allowHalfOpen: fc.boolean(),
  gracePeriod: fc.integer({ min: 0, max: 300 }),
  parityTimeout: fc.integer({ min: 1, max: 600 }),
  parityInactivity: fc.integer({ min: 0, max: 600 }),
  connectTimeout: fc.integer({ min: 1, max: 600 }),
  idleTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 })),
  maxLifetime: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_500 })),
  firstByteTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 })),
});

interface Stats {
  runs: number;
  done: number;
  timersFired: number;
  timerCheckpoints: number;
}

/** Runs `steps` live, returning the runtime and the log the host wrote. */
function runLive(factory: RuntimeFactory, s: ConnectionSettings, steps: readonly Step[], stats: Stats) {
  const clock = new TrackingClock();
  const log = new EventLog();
  let clientToServer = 0;
  let serverToClient = 0;
  let sentC2S = 0;
  let sentS2C = 0;
  let doneCalls = 0;
  let runtime: MachineRuntime | null = null;
  /** What Connection.checkpoint() does: an ACTIVITY with cumulative counts, only if they moved. */
  const checkpoint = () => {
    if (clientToServer === sentC2S && serverToClient === sentS2C) return false;
    if (runtime!.done) return false;
    sentC2S = clientToServer;
    sentS2C = serverToClient;
    runtime!.send({ type: 'ACTIVITY', clientToServer, serverToClient });
    return true;
  };
  const host: RuntimeHost = {
    effect() {},
    beforeTimer() {
      if (checkpoint()) stats.timerCheckpoints++;
    },
    record(event) {
      if (event.type.startsWith('xstate.after.')) stats.timersFired++;
      log.append({ t: clock.now(), conn: CONN, kind: 'event', event });
    },
    done(output) {
      doneCalls++;
      log.append({ t: clock.now(), conn: CONN, kind: 'disposed', reasons: output.reasons, bytes: output.bytes, durationMs: clock.now() - 1_000 });
    },
  };
  runtime = factory(s, clock, host);
  log.append({ t: clock.now(), conn: CONN, kind: 'open', settings: s });
  runtime.start();
  for (const st of steps) {
    switch (st.kind) {
      case 'event':
        // The binding checkpoints before END, ERROR and CLOSE.
        if (st.event.type === 'END' || st.event.type === 'ERROR' || st.event.type === 'CLOSE') checkpoint();
        runtime.send(st.event);
        break;
      case 'timer': {
        const due = clock.pendingDue();
        if (due.length > 0) clock.advanceTo(due[st.index % due.length]!);
        break;
      }
      case 'advance':
        clock.advanceTo(clock.now() + st.ms);
        break;
      case 'data':
        clientToServer += st.clientToServer;
        serverToClient += st.serverToClient;
        break;
      case 'checkpoint':
        checkpoint();
        break;
    }
  }
  return { runtime, log, clock, doneCalls };
}

function replayMatches(name: string, factory: RuntimeFactory): void {
  const stats: Stats = { runs: 0, done: 0, timersFired: 0, timerCheckpoints: 0 };
  fc.assert(
    fc.property(settings, fc.array(step, { minLength: 1, maxLength: 60 }), (s, steps) => {
      stats.runs++;
      const { runtime, log, clock, doneCalls } = runLive(factory, s, steps, stats);
      const records = log.records();
      const jsonl = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
      for (const [how, input] of [
        ['in memory', records],
        ['through JSONL', parseEventLog(jsonl)],
      ] as const) {
        const { connections, incomplete } = replay(input);
        assert.equal(incomplete, [], `${how}: incomplete`);
        const again = connections.get(CONN);
        assert.ok(again, `${how}: connection missing from replay`);
        assert.equal(again!.value, runtime.value, `${how}: state value`);
        assert.equal(again!.context, runtime.context, `${how}: context`);
        assert.is(again!.done, runtime.done, `${how}: done-ness`);
      }
      assert.is(doneCalls, runtime.done ? 1 : 0, 'host.done() is called exactly once, when done');
      if (runtime.done) {
        stats.done++;
        assert.is(runtime.pendingTimers, 0, 'a done runtime holds no timers');
        assert.is(clock.inner.pending, 0, 'a done runtime leaves no timer on the clock');
      }
      runtime.stop();
      assert.is(clock.inner.pending, 0, 'stop() clears every timer');
    }),
    { seed: SEED, numRuns: RUNS },
  );
  console.log(
    `[replay-property] ${name}: seed ${SEED}, ${stats.runs} runs, ${stats.done} reached done, ` +
      `${stats.timersFired} timer events fired, ${stats.timerCheckpoints} checkpoints sent just before a timer`,
  );
  // Not vacuous: the generated runs do reach done, fire timers and race checkpoints with them.
  assert.ok(stats.runs >= RUNS, 'every run executed');
  assert.ok(stats.done >= stats.runs / 10, `only ${stats.done} of ${stats.runs} runs reached done`);
  assert.ok(stats.timersFired >= stats.runs, `only ${stats.timersFired} timer events in ${stats.runs} runs`);
  assert.ok(stats.timerCheckpoints > 0, 'no checkpoint ever raced a timer');
}

test('TransitionRuntime: replay of the event log equals the live state, context and done-ness', () => {
  replayMatches('TransitionRuntime', (s, clock, host) => new TransitionRuntime(s, clock, host));
});

test('TableRuntime (the Supervisor default): replay of the event log equals the live state, context and done-ness', () => {
  replayMatches('TableRuntime', (s, clock, host) => new TableRuntime(s, clock, host));
});

test('the tracking clock fires a chosen pending timer at its due time, earlier ones first', () => {
  const clock = new TrackingClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@300'), 300);
  clock.setTimeout(() => fired.push('a@100'), 100);
  const c = clock.setTimeout(() => fired.push('never'), 200);
  clock.clearTimeout(c);
  assert.equal(clock.pendingDue(), [1_100, 1_300]);
  clock.advanceTo(clock.pendingDue()[1]!);
  assert.equal(fired, ['a@100', 'b@300']);
  assert.is(clock.now(), 1_300);
  assert.equal(clock.pendingDue(), []);
  assert.is(clock.inner.pending, 0);
});

test('DEFAULT_SETTINGS has every key the generated settings have (the generator covers all settings)', () => {
  const generated = fc.sample(settings, { numRuns: 1, seed: SEED })[0]!;
  assert.equal(Object.keys(generated).sort(), Object.keys(DEFAULT_SETTINGS).sort());
});

test.run();
