// The small parts of `forward --workers`: the restart backoff, the active-count reports (on
// the injected clock), the boot ids, the stdio sharing check, and the primary's scrape of its
// workers (bounded, and keeping what dead workers counted).
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as promClient from 'prom-client';
import { ManualClock } from '../src/index.js';
import { CounterMemory, type MetricJson } from '../src/cli/cluster/counter-memory.js';
import { FleetScrape, SCRAPE_BOUND_MS, type MetricsWorker } from '../src/cli/cluster/primary-metrics.js';
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

/** A worker's registry as JSON: `total` connections counted, `active` open, one histogram observation per connection. */
async function workerMetrics(total: number, active: number): Promise<MetricJson[]> {
  const register = new promClient.Registry();
  new promClient.Counter({ name: 'cx_total', help: 'h', registers: [register] }).inc(total);
  new promClient.Gauge({ name: 'cx_active', help: 'h', registers: [register] }).set(active);
  const h = new promClient.Histogram({ name: 'cx_seconds', help: 'h', buckets: [1], registers: [register] });
  for (let i = 0; i < total; i++) h.observe(0.5);
  return (await register.getMetricsAsJSON()) as unknown as MetricJson[];
}

/** Sums as the primary does, then reads back `name{labels}` → value. */
async function summed(metrics: MetricJson[][]): Promise<Map<string, number>> {
  const text = await promClient.AggregatorRegistry.aggregate(metrics as never).metrics();
  return new Map(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

test("counter memory: a dead worker's counters and histograms stay in the sum, its gauges do not; retired once", async () => {
  const [a, b] = [{ name: 'a' }, { name: 'b' }];
  const memory = new CounterMemory<object>();
  memory.remember(a, 1, await workerMetrics(7, 2));
  memory.remember(a, 0, await workerMetrics(1, 1)); // an older scrape's answer, late: ignored
  memory.remember(b, 1, await workerMetrics(3, 1));
  const before = await summed(memory.withRetired([await workerMetrics(7, 2), await workerMetrics(3, 1)]));
  assert.is(before.get('cx_total'), 10);
  memory.retire(a);
  memory.retire(a);
  memory.remember(a, 2, await workerMetrics(50, 50)); // after its exit: ignored
  assert.ok(memory.isRetired(a));
  const after = await summed(memory.withRetired([await workerMetrics(4, 1)]));
  assert.is(after.get('cx_total'), 11, 'what the dead worker counted, plus the survivor');
  assert.is(after.get('cx_seconds_count'), 11);
  assert.is(after.get('cx_seconds_bucket{le="1"}'), 11);
  assert.is(after.get('cx_active'), 1, 'a gauge: the survivor only');
  memory.retire(b);
  const both = await summed(memory.withRetired([]));
  assert.is(both.get('cx_total'), 10, 'two dead workers, one series');
  assert.is(both.get('cx_active'), undefined);
});

/** A worker on the channel: answers each request with `answer()`, or never (`silent`). */
class FakeWorker extends EventEmitter implements MetricsWorker {
  constructor(public answer: (() => Promise<MetricJson[]>) | 'silent') {
    super();
  }
  send(m: { pl: 'metrics'; id: number }, _h: undefined, _o: undefined, callback: (err: Error | null) => void): boolean {
    callback(null);
    if (this.answer !== 'silent') void this.answer().then((metrics) => this.emit('message', { pl: 'metrics', id: m.id, metrics }));
    return true;
  }
}

const aggregate = (m: MetricJson[][]) => promClient.AggregatorRegistry.aggregate(m as never);
const parse = (text: string) => new Map(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));

test('fleet scrape: a worker that does not answer is left out at the bound; one that exits, at once; listeners removed', async () => {
  const clock = new ManualClock();
  const fleet = new FleetScrape<FakeWorker>(aggregate, clock);
  const alive = new FakeWorker(() => workerMetrics(5, 1));
  const wedged = new FakeWorker('silent');
  let done = false;
  const scrape = fleet.collect([alive, wedged]).then((t) => ((done = true), t));
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(done, 'waits for the wedged worker, up to the bound');
  clock.advance(SCRAPE_BOUND_MS);
  assert.is(parse(await scrape).get('cx_total'), 5, 'the worker that answered');
  for (const w of [alive, wedged]) assert.is(w.listenerCount('message') + w.listenerCount('exit'), 0);

  const dying = new FakeWorker('silent');
  const during = fleet.collect([alive, dying]);
  dying.emit('exit', 9);
  assert.is(parse(await during).get('cx_total'), 5, 'no wait for a worker that exited');
  assert.is(parse(await fleet.collect([])).get('cx_total'), undefined, 'no workers: nothing to sum, no error');
});

test('fleet scrape: a live worker that misses a scrape is summed by its last counters, not its gauges', async () => {
  const clock = new ManualClock();
  const fleet = new FleetScrape<FakeWorker>(aggregate, clock);
  const slow = new FakeWorker(() => workerMetrics(4, 3));
  const other = new FakeWorker(() => workerMetrics(2, 1));
  assert.is(parse(await fleet.collect([slow, other])).get('cx_total'), 6);
  slow.answer = 'silent';
  const scrape = fleet.collect([slow, other]);
  await new Promise((r) => setTimeout(r, 20));
  clock.advance(SCRAPE_BOUND_MS);
  const m = parse(await scrape);
  assert.is(m.get('cx_total'), 6, 'the counter does not dip');
  assert.is(m.get('cx_active'), 1, "the gauge: the answering worker's only");
});

test("fleet scrape: a worker's counters survive its exit, so the sum never goes backwards", async () => {
  const fleet = new FleetScrape<FakeWorker>(aggregate, new ManualClock());
  let counted = 6;
  const victim = new FakeWorker(() => workerMetrics(counted, 2));
  const survivor = new FakeWorker(() => workerMetrics(3, 1));
  const before = parse(await fleet.collect([victim, survivor]));
  assert.is(before.get('cx_total'), 9);
  counted = 8; // counted after the last scrape: lost with the worker, never seen
  victim.emit('exit', null);
  fleet.retire(victim);
  const reborn = new FakeWorker(() => workerMetrics(1, 1));
  const after = parse(await fleet.collect([reborn, survivor]));
  assert.is(after.get('cx_total'), 6 + 3 + 1);
  assert.ok(after.get('cx_total')! >= before.get('cx_total')!);
  assert.is(after.get('cx_active'), 2, 'open connections: the live workers only');
});

test.run();
