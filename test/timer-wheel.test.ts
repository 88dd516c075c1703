/** TimerWheel: many timers on one real timer, driven here by a ManualClock base (no real time). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, TimerWheel, type Clock, type TimerHandle } from '../src/index.js';
import { prng } from '../tools/prng.mjs';
import { until } from './helpers/wait.js';

const TICK = 16;
const HOUR = 3_600_000;

/** A ManualClock that also counts the real timers the wheel arms on it. */
class CountingBase extends ManualClock {
  arms = 0;
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    this.arms++;
    return super.setTimeout(fn, ms);
  }
}

function rig(start = 0) {
  const base = new CountingBase(start);
  const wheel = new TimerWheel({ tick: TICK, base });
  return { base, wheel };
}

test('a timer fires once, not before it is due and within one tick after, with now() from the base', () => {
  const { base, wheel } = rig(1_000);
  const fired: number[] = [];
  wheel.setTimeout(() => fired.push(wheel.now()), 100);
  assert.is(wheel.now(), 1_000);
  base.advance(99);
  assert.equal(fired, [], 'not early');
  base.advance(TICK);
  assert.is(fired.length, 1);
  assert.ok(fired[0]! >= 1_100 && fired[0]! < 1_100 + TICK, `fired at ${fired[0]}`);
  base.advance(10 * HOUR);
  assert.is(fired.length, 1, 'once');
  assert.is(wheel.pending, 0);
  assert.is(base.pending, 0, 'no real timer once empty');
  assert.not.ok(wheel.armed);
});

test('random arms and cancels over 100 hours: each live timer fires exactly once, in [due, due + tick], in due order', () => {
  for (const seed of [14, 1, 27]) randomRun(seed);
});

function randomRun(seed: number): void {
  const random = prng(seed);
  const { base, wheel } = rig(5);
  interface Armed {
    due: number;
    seq: number;
    handle: TimerHandle;
    cancelled: boolean;
    firedAt: number[];
  }
  let rounds = true;
  const all: Armed[] = [];
  const order: Armed[] = [];
  const durations = [0, 1, 15, 16, 17, 100, 999, 1000, 4096, 5000, 30_000, 65_536, 600_000, 1_800_000, 24 * HOUR, 80 * HOUR];
  let seq = 0;
  const arm = () => {
    const ms = random() < 0.5 ? durations[Math.floor(random() * durations.length)]! : random() * 2 * HOUR;
    const entry: Armed = { due: base.now() + ms, seq: seq++, handle: undefined, cancelled: false, firedAt: [] };
    entry.handle = wheel.setTimeout(() => {
      entry.firedAt.push(base.now());
      order.push(entry);
      // Arm and cancel from inside callbacks too.
      if (rounds && random() < 0.3) arm();
      if (random() < 0.2) cancelOne();
    }, ms);
    all.push(entry);
  };
  const cancelOne = () => {
    const entry = all[Math.floor(random() * all.length)];
    if (entry === undefined || entry.cancelled || entry.firedAt.length > 0) return;
    entry.cancelled = true;
    wheel.clearTimeout(entry.handle);
  };
  for (let round = 0; round < 3000; round++) {
    const r = random();
    if (r < 0.6) arm();
    else if (r < 0.8) cancelOne();
    else base.advance(random() < 0.9 ? random() * 200 : random() * 3 * HOUR);
    assert.ok(base.pending <= 1, 'one real timer at most');
  }
  rounds = false; // callbacks arm no more: the last advance runs everything out
  base.advance(100 * HOUR);
  for (const entry of all) {
    if (entry.cancelled) {
      assert.equal(entry.firedAt, [], 'a cancelled timer never fires');
      continue;
    }
    assert.is(entry.firedAt.length, 1, `timer ${entry.seq} (due ${entry.due}) fired ${entry.firedAt.length} times`);
    const at = entry.firedAt[0]!;
    assert.ok(at >= entry.due, `timer ${entry.seq} fired early: ${at} < ${entry.due}`);
    assert.ok(at <= entry.due + TICK, `timer ${entry.seq} fired more than a tick late: ${at} for ${entry.due}`);
  }
  for (let i = 1; i < order.length; i++) {
    const [a, b] = [order[i - 1]!, order[i]!];
    assert.ok(a.firedAt[0]! <= b.firedAt[0]!, 'fired in time order');
    // Within one firing, by due time then arming order (a timer armed by a callback comes later).
    if (a.firedAt[0] === b.firedAt[0] && b.seq > a.seq) assert.ok(a.due <= b.due, `order of ${a.seq} and ${b.seq}`);
  }
  assert.ok(order.length > 500, `enough timers fired to mean something (${order.length})`);
  assert.is(wheel.pending, 0);
  assert.is(base.pending, 0);
}

test('cancel before it fires: nothing fires, and the real timer goes with the last timer', () => {
  const { base, wheel } = rig();
  let fired = 0;
  const a = wheel.setTimeout(() => fired++, 500);
  const b = wheel.setTimeout(() => fired++, 30_000);
  assert.is(base.pending, 1);
  wheel.clearTimeout(a);
  assert.is(base.pending, 1, 'one timer left');
  wheel.clearTimeout(b);
  assert.is(base.pending, 0, 'none left: no real timer');
  wheel.clearTimeout(b); // twice, and foreign handles, are ignored
  wheel.clearTimeout(undefined);
  wheel.clearTimeout({});
  base.advance(HOUR);
  assert.is(fired, 0);
  assert.is(wheel.pending, 0);
});

test('a callback cancels a timer due in the same tick and one due later', () => {
  const { base, wheel } = rig();
  const fired: string[] = [];
  let same: TimerHandle;
  let later: TimerHandle;
  wheel.setTimeout(() => {
    fired.push('first');
    wheel.clearTimeout(same);
    wheel.clearTimeout(later);
  }, 100);
  same = wheel.setTimeout(() => fired.push('same'), 100);
  later = wheel.setTimeout(() => fired.push('later'), 5_000);
  wheel.setTimeout(() => fired.push('kept'), 100);
  base.advance(10_000);
  assert.equal(fired, ['first', 'kept']);
  assert.is(base.pending, 0);
});

test('a callback arms timers: a 0 ms one fires at the next tick, not in the same pass; a long one on time', () => {
  const { base, wheel } = rig();
  const fired: [string, number][] = [];
  wheel.setTimeout(() => {
    fired.push(['outer', base.now()]);
    wheel.setTimeout(() => fired.push(['zero', base.now()]), 0);
    wheel.setTimeout(() => fired.push(['hour', base.now()]), HOUR);
  }, 160);
  base.advance(160);
  assert.equal(fired, [['outer', 160]]);
  base.advance(TICK);
  assert.equal(fired[1], ['zero', 176]);
  base.advance(HOUR);
  assert.is(fired[2]![0], 'hour');
  assert.ok(fired[2]![1] >= 160 + HOUR && fired[2]![1] < 160 + HOUR + TICK);
});

test('timers due at the same time fire in arming order; within a tick, by due time', () => {
  const { base, wheel } = rig();
  const fired: string[] = [];
  wheel.setTimeout(() => fired.push('b'), 1_010); // same tick as the 1 000 ms ones, due later
  wheel.setTimeout(() => fired.push('a1'), 1_000);
  base.advance(300);
  // Armed later, for the same due time: one lands in the finest level, the first through a coarser one.
  wheel.setTimeout(() => fired.push('a2'), 700);
  wheel.setTimeout(() => fired.push('a3'), 700);
  base.advance(2_000);
  assert.equal(fired, ['a1', 'a2', 'a3', 'b']);
});

test('very long timers (24 h, 100 h past the last level) fire on time after a handful of real wakeups', () => {
  const { base, wheel } = rig();
  const fired: [string, number][] = [];
  wheel.setTimeout(() => fired.push(['day', base.now()]), 24 * HOUR);
  wheel.setTimeout(() => fired.push(['100h', base.now()]), 100 * HOUR);
  base.advance(99 * HOUR);
  assert.is(fired.length, 1);
  assert.ok(fired[0]![1] >= 24 * HOUR && fired[0]![1] < 24 * HOUR + TICK);
  base.advance(2 * HOUR);
  assert.is(fired[1]![0], '100h');
  assert.ok(fired[1]![1] >= 100 * HOUR && fired[1]![1] < 100 * HOUR + TICK);
  assert.ok(base.arms < 12, `a wakeup per level change, not per tick: ${base.arms} real timers armed`);
});

test('thousands of timers on one real timer: each fires once; cancelling half leaves the other half', () => {
  const { base, wheel } = rig();
  const random = prng(7);
  const counts = new Uint8Array(10_000);
  const handles: TimerHandle[] = [];
  for (let i = 0; i < counts.length; i++) handles.push(wheel.setTimeout(() => counts[i]!++, Math.floor(random() * 7_200_000)));
  assert.is(wheel.pending, 10_000);
  assert.is(base.pending, 1);
  for (let i = 0; i < counts.length; i += 2) wheel.clearTimeout(handles[i]);
  assert.is(wheel.pending, 5_000);
  base.advance(3 * HOUR);
  for (let i = 0; i < counts.length; i++) assert.is(counts[i], i % 2 === 0 ? 0 : 1, `timer ${i}`);
  assert.is(base.pending, 0);
});

test('a callback that throws: the timers left in its tick fire on the next turn', () => {
  const { base, wheel } = rig();
  const fired: string[] = [];
  wheel.setTimeout(() => {
    throw new Error('boom');
  }, 100);
  wheel.setTimeout(() => fired.push('after'), 100);
  wheel.setTimeout(() => fired.push('later'), 5_000);
  assert.throws(() => base.advance(100 + TICK), /boom/);
  assert.equal(fired, []);
  assert.is(base.pending, 1, 'the rest is still armed');
  base.advance(10_000);
  assert.equal(fired, ['after', 'later']);
  assert.is(base.pending, 0);
});

test('an empty wheel arms nothing, and a timer armed after a long idle still lands in time', () => {
  const { base, wheel } = rig();
  assert.is(base.pending, 0);
  assert.not.ok(wheel.armed);
  base.advance(50 * HOUR);
  let firedAt = -1;
  wheel.setTimeout(() => (firedAt = base.now()), 200);
  base.advance(1_000);
  assert.ok(firedAt >= 50 * HOUR + 200 && firedAt < 50 * HOUR + 200 + TICK, `fired at ${firedAt}`);
});

test('a bad tick is a RangeError naming it', () => {
  assert.throws(() => new TimerWheel({ tick: 0 }), /tick must be a positive number/);
  assert.throws(() => new TimerWheel({ tick: Number.NaN }), /tick must be a positive number/);
});

test('on real time: now() is Date.now(), a timer fires, and the real timer is unref\'d and gone when empty', async () => {
  let realArms = 0;
  let live = 0;
  const real: Clock = {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      realArms++;
      live++;
      const t = setTimeout(() => {
        live--;
        fn();
      }, ms);
      t.unref();
      return t;
    },
    clearTimeout(h) {
      live--;
      clearTimeout(h as NodeJS.Timeout);
    },
  };
  const wheel = new TimerWheel({ base: real, now: Date.now });
  const before = Date.now();
  const now = wheel.now();
  assert.ok(now >= before && now <= Date.now());
  assert.ok(new TimerWheel().now() > 1_600_000_000_000, 'the default wheel reports epoch ms');
  let fired = 0;
  wheel.setTimeout(() => fired++, 5);
  const cancelled = wheel.setTimeout(() => fired++, 10_000);
  assert.ok(wheel.armed);
  // Keeps the loop alive while waiting: the wheel's own timer would not.
  const keep = setInterval(() => {}, 1_000);
  try {
    await until(() => fired === 1, 'the wheel timer to fire', 2_000);
  } finally {
    clearInterval(keep);
  }
  assert.ok(wheel.armed, 'the 10 s timer is still armed');
  wheel.clearTimeout(cancelled);
  assert.not.ok(wheel.armed);
  assert.is(live, 0, 'no real timer left');
  assert.ok(realArms >= 1);
});

test.run();
