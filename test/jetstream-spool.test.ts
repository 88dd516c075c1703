/**
 * The JetStream sink's two bounded structures as data: the spool (count and byte bounds, a
 * failed round put back at the front in order, compaction) and the gap ledger (what is owed per
 * connection and reason, and the catch-all past its bound, with exact totals).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GapLedger, OVERFLOW_KEY } from '../src/log/gap-ledger.js';
import { Spool, type SpoolEntry } from '../src/log/spool.js';

const entry = (id: string, bytes = 10): SpoolEntry => ({ subject: 's', id, text: 'x'.repeat(bytes), data: null, bytes, count: 1, record: true, key: 'k', conn: 'k', t: 0 });

test('spool: bounded by count and by bytes; what does not fit is refused and not held', () => {
  const spool = new Spool(3, 25);
  assert.ok(spool.offer(entry('a')));
  assert.ok(spool.offer(entry('b')));
  assert.not.ok(spool.offer(entry('c', 6)), 'over the byte bound');
  assert.ok(spool.offer(entry('d', 5)));
  assert.not.ok(spool.offer(entry('e', 1)), 'over the count bound');
  assert.is(spool.length, 3);
  assert.is(spool.bytes, 25);
});

test('spool: a round keeps its entries counted until settled; the unfinished go back to the front in order', () => {
  const spool = new Spool(10, 1000);
  for (const id of ['a', 'b', 'c', 'd', 'e']) spool.offer(entry(id));
  const batch = spool.take(4);
  assert.equal(batch.map((e) => e.id), ['a', 'b', 'c', 'd']);
  assert.is(spool.length, 5, 'in flight still counts');
  spool.offer(entry('f')); // arrives during the round
  spool.settle(batch, [true, false, true, false]);
  assert.is(spool.length, 4);
  assert.is(spool.bytes, 40);
  assert.equal(spool.take(10).map((e) => e.id), ['b', 'd', 'e', 'f']);
});

test('spool: records join a waiting message while it fits; a taken message is sealed; a split message is put back in its place', () => {
  const spool = new Spool(10, 1000);
  const a = entry('a', 4);
  spool.offer(a);
  assert.ok(spool.append(a, 'yyyy', 4));
  assert.equal([spool.length, spool.records, spool.bytes], [1, 2, 9], 'one message, two records, a newline between');
  spool.offer(entry('b'));
  const round = spool.take(1);
  assert.equal(Buffer.from(round[0]!.data!).toString(), 'xxxx\nyyyy');
  assert.not.ok(spool.append(a, 'zz', 2), 'sealed once taken');
  const parts = [entry('a1', 4), entry('a2', 4)];
  spool.settle(round, [parts]);
  assert.equal([spool.length, spool.records, spool.bytes], [3, 3, 18]);
  assert.equal(spool.take(10).map((e) => e.id), ['a1', 'a2', 'b'], 'the parts where the message was, in order');
  const full = new Spool(2, 1000);
  const c = entry('c');
  full.offer(c);
  full.offer(entry('d'));
  assert.not.ok(full.append(c, 'x', 1), 'over the record bound');
  assert.is(c.count, 1);
});

test('spool: thousands of rounds compact the array and keep the order', () => {
  const spool = new Spool(100, 1_000_000);
  let next = 0;
  const out: number[] = [];
  for (let round = 0; round < 5000; round++) {
    while (spool.offer(entry(String(next)))) next++;
    const batch = spool.take(7);
    spool.settle(batch, batch.map((_, i) => i < 5));
    const sent = batch.slice(0, 5).map((e) => Number(e.id));
    out.push(...sent);
  }
  assert.equal(out, Array.from({ length: out.length }, (_, i) => i), 'every id once, in order');
  assert.is(spool.length, 95, 'full, less the last round');
  spool.take(3);
  assert.is(spool.length, 95, 'a round in flight still counts');
  assert.is(spool.clear().length, 95, 'clear gives back the round in flight too');
  assert.is(spool.bytes, 0);
});

test('gap ledger: owed per key and reason, oldest first, settled one marker at a time', () => {
  const gaps = new GapLedger(10);
  gaps.add('a', 'spool_full', 5, 'a');
  gaps.add('a', 'spool_full', 6, 'a');
  gaps.add('a', 'serialize', 7, 'a');
  gaps.add('b', 'spool_full', 8, 'b');
  assert.is(gaps.lost, 4);
  assert.is(gaps.firstKey(), 'a');
  const [full, ser] = gaps.peek('a');
  assert.equal(full, { key: 'a', conn: 'a', reason: 'spool_full', lost: 2, t: 5 });
  assert.equal(ser, { key: 'a', conn: 'a', reason: 'serialize', lost: 1, t: 7 });
  gaps.settle(full!);
  gaps.settle(full!); // twice: no change
  assert.is(gaps.lost, 2);
  gaps.settle(ser!);
  assert.not.ok(gaps.has('a'));
  assert.is(gaps.firstKey(), 'b');
});

test('gap ledger: past maxKeys connections, losses go to one catch-all and the total stays exact', () => {
  const gaps = new GapLedger(3);
  for (let i = 0; i < 10; i++) gaps.add(`c${i}`, 'spool_full', i, `c${i}`);
  assert.is(gaps.size, 4, 'three connections and the catch-all');
  assert.is(gaps.lost, 10);
  const [overflow] = gaps.peek(OVERFLOW_KEY);
  assert.equal(overflow, { key: OVERFLOW_KEY, reason: 'spool_full', lost: 7, t: 3 }, 'no connection named');
});

test.run();
