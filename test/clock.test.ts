/** ManualClock (timers in due order, time set to each due time) and the unref'd systemClock. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, systemClock } from '../src/index.js';
import { until } from './helpers/wait.js';

test('ManualClock starts at 0 or at the given time, and advance moves now() by exactly ms', () => {
  const a = new ManualClock();
  assert.is(a.now(), 0);
  a.advance(250);
  assert.is(a.now(), 250);
  const b = new ManualClock(1_000_000);
  assert.is(b.now(), 1_000_000);
  b.advance(0);
  assert.is(b.now(), 1_000_000);
  assert.is(b.pending, 0);
  assert.is(b.nextDue(), undefined);
});

test('ManualClock fires timers in due order (ties in arming order), with now() at each due time', () => {
  const clock = new ManualClock(100);
  const fired: [string, number][] = [];
  const arm = (name: string, ms: number) => clock.setTimeout(() => fired.push([name, clock.now()]), ms);
  arm('c', 30);
  arm('a', 10);
  arm('b1', 20);
  arm('b2', 20);
  arm('late', 1000);
  assert.is(clock.pending, 5);
  assert.is(clock.nextDue(), 110);
  clock.advance(50);
  assert.equal(fired, [
    ['a', 110],
    ['b1', 120],
    ['b2', 120],
    ['c', 130],
  ]);
  assert.is(clock.now(), 150, 'after the advance now() is the target, not the last due time');
  assert.is(clock.pending, 1);
  assert.is(clock.nextDue(), 1100);
});

test('a timer due exactly at the end of an advance fires; one a millisecond later does not', () => {
  const clock = new ManualClock();
  let a = 0;
  let b = 0;
  clock.setTimeout(() => a++, 100);
  clock.setTimeout(() => b++, 101);
  clock.advance(100);
  assert.is(a, 1);
  assert.is(b, 0);
  clock.advance(1);
  assert.is(b, 1);
  assert.is(clock.pending, 0);
});

test('a negative delay is due now; a zero delay fires on advance(0), not synchronously', () => {
  const clock = new ManualClock(50);
  const fired: number[] = [];
  clock.setTimeout(() => fired.push(clock.now()), -20);
  clock.setTimeout(() => fired.push(clock.now()), 0);
  assert.equal(fired, [], 'nothing fires inside setTimeout');
  assert.is(clock.nextDue(), 50);
  clock.advance(0);
  assert.equal(fired, [50, 50]);
});

test('timers armed by a callback fire in the same advance if due within it, at their due time', () => {
  const clock = new ManualClock();
  const fired: [string, number][] = [];
  clock.setTimeout(() => {
    fired.push(['first', clock.now()]);
    clock.setTimeout(() => {
      fired.push(['second', clock.now()]);
      clock.setTimeout(() => fired.push(['third', clock.now()]), 100);
    }, 15);
  }, 10);
  clock.setTimeout(() => fired.push(['other', clock.now()]), 20);
  clock.advance(50);
  assert.equal(fired, [
    ['first', 10],
    ['other', 20],
    ['second', 25],
  ]);
  assert.is(clock.pending, 1, 'the third timer (due at 125) waits');
  assert.is(clock.nextDue(), 125);
  clock.advance(75);
  assert.equal(fired.at(-1), ['third', 125]);
});

test('a callback re-arming itself with a period fires once per period', () => {
  const clock = new ManualClock();
  const ticks: number[] = [];
  const tick = () => {
    ticks.push(clock.now());
    clock.setTimeout(tick, 1000);
  };
  clock.setTimeout(tick, 1000);
  clock.advance(5500);
  assert.equal(ticks, [1000, 2000, 3000, 4000, 5000]);
  assert.is(clock.pending, 1);
});

test('clearTimeout cancels a timer, also from inside another callback; clearing twice is harmless', () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  const a = clock.setTimeout(() => fired.push('a'), 10);
  const b = clock.setTimeout(() => fired.push('b'), 30);
  clock.setTimeout(() => {
    fired.push('c');
    clock.clearTimeout(b);
  }, 20);
  clock.clearTimeout(a);
  clock.clearTimeout(a);
  clock.clearTimeout({});
  assert.is(clock.pending, 2);
  clock.advance(100);
  assert.equal(fired, ['c']);
  assert.is(clock.pending, 0);
});

test('clearing a timer that already fired does nothing', () => {
  const clock = new ManualClock();
  let n = 0;
  const h = clock.setTimeout(() => n++, 1);
  clock.advance(1);
  clock.clearTimeout(h);
  const other = clock.setTimeout(() => n++, 1);
  clock.clearTimeout(h);
  assert.is(clock.pending, 1);
  clock.advance(1);
  assert.is(n, 2);
  clock.clearTimeout(other);
});

test('pending counts armed timers: up on setTimeout, down on fire and clear', () => {
  const clock = new ManualClock();
  const handles = [5, 10, 15, 20].map((ms) => clock.setTimeout(() => {}, ms));
  assert.is(clock.pending, 4);
  clock.clearTimeout(handles[3]);
  assert.is(clock.pending, 3);
  clock.advance(10);
  assert.is(clock.pending, 1);
  clock.advance(10);
  assert.is(clock.pending, 0);
});

test('each setTimeout returns a distinct handle', () => {
  const clock = new ManualClock();
  const a = clock.setTimeout(() => {}, 5);
  const b = clock.setTimeout(() => {}, 5);
  assert.is.not(a, b);
  clock.clearTimeout(a);
  clock.clearTimeout(b);
  assert.is(clock.pending, 0);
});

// --- systemClock -----------------------------------------------------------------------------

test('systemClock.now() is wall-clock milliseconds', () => {
  const before = Date.now();
  const now = systemClock.now();
  const after = Date.now();
  assert.ok(now >= before && now <= after);
});

test('systemClock timers are unref\'d, fire, and are clearable', async () => {
  let fired = 0;
  let cleared = 0;
  const handle = systemClock.setTimeout(() => fired++, 1) as NodeJS.Timeout;
  const cancelled = systemClock.setTimeout(() => cleared++, 1) as NodeJS.Timeout;
  assert.is(handle.hasRef(), false, 'the timer does not keep the process alive');
  assert.is(cancelled.hasRef(), false);
  systemClock.clearTimeout(cancelled);
  // until() polls on ref'd timers, so the process stays alive while we wait.
  await until(() => fired === 1, 'the systemClock timer to fire', 2000);
  await new Promise((r) => setTimeout(r, 5));
  assert.is(cleared, 0, 'the cleared timer never fired');
  assert.is(fired, 1);
});

test.run();
