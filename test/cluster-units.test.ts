// The small parts of `forward --workers`: the restart backoff, the active-count reports (on
// the injected clock), the boot ids and the stdio sharing check.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../src/index.js';
import { workerBoot } from '../src/cli/cluster/boot-id.js';
import { sharesStdio } from '../src/cli/cluster/messages.js';
import { RestartBackoff } from '../src/cli/cluster/restart-backoff.js';
import { reportActive } from '../src/cli/cluster/worker-report.js';

test('restart backoff: at once after a worker that lived, doubling while they die young, capped, reset by a healthy one', () => {
  const b = new RestartBackoff(100, 1000, 10_000);
  assert.equal([50, 50, 50, 50, 50, 50, 50].map((lived) => b.next(lived)), [0, 100, 200, 400, 800, 1000, 1000]);
  assert.is(b.next(10_000), 0, 'a worker that ran 10 s resets the streak');
  assert.is(b.next(10), 100);
});

test('active reports: at most one per interval, only when the count changed', () => {
  const clock = new ManualClock();
  let active = 0;
  const sent: number[] = [];
  const stop = reportActive(() => active, (n) => sent.push(n), clock, 250);
  clock.advance(250);
  assert.equal(sent, [], 'nothing changed: nothing sent');
  active = 3;
  clock.advance(100);
  assert.equal(sent, [], 'not before the interval');
  active = 5;
  clock.advance(150);
  assert.equal(sent, [5], 'one report with the latest count, not one per connection');
  clock.advance(1000);
  assert.equal(sent, [5]);
  active = 0;
  clock.advance(250);
  assert.equal(sent, [5, 0]);
  stop();
  active = 9;
  clock.advance(1000);
  assert.equal(sent, [5, 0], 'stopped');
});

test('boot ids: distinct per worker and per restart', () => {
  const start = Date.UTC(2026, 11, 2);
  const ids = [workerBoot(start, 1, 0), workerBoot(start, 2, 0), workerBoot(start, 1, 1), workerBoot(start, 1, 2), workerBoot(start + 1, 1, 0)];
  assert.is(new Set(ids).size, ids.length, ids.join(' '));
  assert.is(ids[0], `${start.toString(36)}w1`);
});

test('sharesStdio: --workers other than 1, in either spelling', () => {
  assert.ok(sharesStdio(['forward', '--workers', '2']));
  assert.ok(sharesStdio(['forward', '--workers=auto']));
  assert.not.ok(sharesStdio(['forward', '--workers', '1']));
  assert.not.ok(sharesStdio(['replay', 'x.jsonl']));
});

test.run();
