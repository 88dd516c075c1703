// Every record of a connection carries `seq` (0 for open, +1 per record), so a record lost
// on the way (a sink's spool overflow, a dropped message) shows as a hole.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLogParseError, ManualClock, Supervisor, parseEventLog, replay, timelineData, type GapRecord, type LogRecord } from '../src/index.js';
import { ensureBuilt, runCli } from './helpers/cli-harness.js';
import { DEMO_SCENARIOS, simulate } from './helpers/simulated-logs.js';
import { connect, readAll } from './helpers/sockets.js';

ensureBuilt();

/** Numbers each connection's records 0, 1, 2, … as the connection does when it appends them. */
function numbered(records: LogRecord[]): LogRecord[] {
  const next = new Map<string, number>();
  return records.map((r) => {
    if (r.kind === 'refused' || r.kind === 'gap') return r;
    const seq = next.get(r.conn) ?? 0;
    next.set(r.conn, seq + 1);
    return { ...r, seq };
  });
}

/** Two closed connections (`h-b-1` a half-close echo, `h-b-2` a peer reset), numbered. */
function twoConnections(): LogRecord[] {
  const echo = simulate(1, 0, DEMO_SCENARIOS.find((s) => s.name === 'half-close echo')!);
  const reset = simulate(2, 5, DEMO_SCENARIOS.find((s) => s.name === 'peer reset')!);
  const all = [...echo, ...reset].map((r) => (r.kind === 'refused' ? r : { ...r, conn: `h-b-${r.conn}` })).sort((a, b) => a.t - b.t);
  return numbered(all);
}

const seqOf = (r: LogRecord) => (r.kind === 'refused' ? undefined : r.seq);

test('a connection\'s records are numbered 0, 1, 2, … in the order they were appended; a refusal has no seq', async () => {
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => s.on('data', (d) => s.write(d)).on('end', () => s.end()));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const supervisor = new Supervisor({ instance: 'seq', boot: 'b0', clock: new ManualClock(0), activitySampleInterval: 0 });
  const front = net.createServer({ allowHalfOpen: true }, (client) => supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1')));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const port = (front.address() as net.AddressInfo).port;
  try {
    for (const text of ['one', 'two!']) {
      const client = await connect(port);
      const got = readAll(client);
      client.end(text);
      assert.is((await got).toString(), text);
      client.destroy();
    }
    while (supervisor.stats.closed < 2) await new Promise((r) => setTimeout(r, 5));
    supervisor.refuse(null, { limit: 'test', client: '127.0.0.1:1' });
    const records = supervisor.log.records();
    const byConn = new Map<string, LogRecord[]>();
    for (const r of records) if (r.kind !== 'refused') byConn.set(r.conn, [...(byConn.get(r.conn) ?? []), r]);
    assert.equal([...byConn.keys()].sort(), ['seq-b0-1', 'seq-b0-2']);
    for (const [id, own] of byConn) {
      assert.ok(own.length > 3, `${id} has open, events and disposed`);
      assert.equal(own.map((r) => (r.kind === 'refused' ? -1 : r.seq)), own.map((_, i) => i), `${id}: seq 0..${own.length - 1}`);
      assert.equal([own[0]!.kind, own.at(-1)!.kind], ['open', 'disposed']);
    }
    const refused = records.find((r) => r.kind === 'refused')!;
    assert.not.ok('seq' in refused, 'no connection, no seq');
    // Through JSONL and back, seq and all.
    assert.equal(parseEventLog(records.map((r) => JSON.stringify(r)).join('\n') + '\n'), records);
  } finally {
    await supervisor.shutdown({ timeout: 0 });
    await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => upstream.close(r))]);
  }
});

test('the parser takes records without seq (older logs) and refuses a seq that is not a whole number from 0', () => {
  const open = { t: 0, conn: 'a-b-1', kind: 'open', settings: {} };
  assert.is((parseEventLog(JSON.stringify(open) + '\n')[0] as { seq?: number }).seq, undefined);
  for (const seq of [-1, 1.5, '2', null]) {
    assert.throws(() => parseEventLog(JSON.stringify({ ...open, seq }) + '\n'), /event log line 1: field seq must be a whole number from 0/, `seq ${String(seq)}`);
  }
});

test('a complete log replays complete: output, no lost records, no incomplete mark in the timeline', () => {
  const records = twoConnections();
  const { connections } = replay(records);
  for (const id of ['h-b-1', 'h-b-2']) {
    const c = connections.get(id)!;
    assert.equal([c.done, c.incomplete, c.lost], [true, false, 0], id);
    assert.ok(c.output !== undefined);
  }
  assert.equal(timelineData(records).rows.map((row) => row[12]), [-1, -1]);
});

test('a hole in a connection\'s seq makes it incomplete, counting the records skipped, and replay gives no output for it', () => {
  const records = twoConnections();
  const mine = records.filter((r) => r.conn === 'h-b-1');
  assert.ok(mine.length >= 5, 'enough records to lose two');
  const lost = new Set([mine[2], mine[3]]);
  const holed = records.filter((r) => !lost.has(r));
  const { connections } = replay(holed);
  const c = connections.get('h-b-1')!;
  assert.equal([c.incomplete, c.lost, c.output], [true, 2, undefined]);
  assert.equal([connections.get('h-b-2')!.incomplete, connections.get('h-b-2')!.lost], [false, 0], 'the other connection is whole');
  assert.equal(timelineData(holed).rows.map((row) => row[12]), [2, -1]);
});

test('a gap record makes its connection incomplete, and where it names the seq lost, the hole is not counted twice', () => {
  const records = twoConnections();
  const mine = records.filter((r) => r.conn === 'h-b-2');
  const [a, b] = [mine[1]!, mine[2]!];
  const gap: GapRecord = { t: b.t, conn: 'h-b-2', kind: 'gap', seq: seqOf(a), lost: 2, reason: 'spool_overflow' };
  const withGap = records.flatMap((r) => (r === a ? [] : r === b ? [gap] : [r]));
  const c = replay(withGap, { timeline: true }).connections.get('h-b-2')!;
  assert.equal([c.incomplete, c.lost, c.output], [true, 2, undefined]);
  assert.ok(c.timeline!.some((step) => step.event === '2 records lost (spool_overflow)'), 'the gap is in the timeline');
  // Without seq (a writer that does not know where): the gap's count alone.
  const unplaced = withGap.map((r) => (r === gap ? { ...gap, seq: undefined } : r));
  assert.equal(replay(unplaced).connections.get('h-b-2')!.lost, 4, 'the gap (2) and the hole it does not place (2)');
  // A gap with nothing missing in seq still says records were lost: incomplete.
  const extra: GapRecord = { t: 6, conn: 'h-b-1', kind: 'gap', lost: 0, reason: 'reconnect' };
  const c1 = replay([...records, extra].sort((x, y) => x.t - y.t)).connections.get('h-b-1')!;
  assert.equal([c1.incomplete, c1.lost], [true, 0]);
  // A gap that comes after the connection's close record (the sink recovered later) counts too.
  const late: GapRecord = { t: 1e9, conn: 'h-b-1', kind: 'gap', lost: 3, reason: 'spool_overflow' };
  const c2 = replay([...records, late]).connections.get('h-b-1')!;
  assert.equal([c2.incomplete, c2.lost, c2.output], [true, 3, undefined]);
});

test('the parser reads gap records and names a bad field', () => {
  const gap = { t: 1, conn: 'h-b-1', kind: 'gap', seq: 4, lost: 2, reason: 'spool_overflow' };
  assert.equal(parseEventLog(JSON.stringify(gap) + '\n'), [gap]);
  for (const [bad, message] of [
    [{ ...gap, lost: -1 }, /field lost must be a whole number from 0/],
    [{ ...gap, lost: undefined }, /field lost/],
    [{ ...gap, reason: '' }, /field reason must be a non-empty string/],
    [{ ...gap, conn: 'a.b' }, /field conn/],
  ] as const) {
    assert.throws(() => parseEventLog(JSON.stringify(bad) + '\n'), (e: unknown) => e instanceof EventLogParseError && message.test(e.message));
  }
});

test('replay on the command line says a connection with a hole or a gap is incomplete instead of giving its close reasons', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-seq-'));
  try {
    const records = twoConnections();
    const one = records.filter((r) => r.conn === 'h-b-1');
    const holed = records.filter((r) => r !== one[2]);
    const two = records.filter((r) => r.conn === 'h-b-2');
    const gap: GapRecord = { t: two[2]!.t, conn: 'h-b-2', kind: 'gap', seq: seqOf(two[2]!), lost: 1, reason: 'spool_overflow' };
    const gapped = holed.map((r) => (r === two[2] ? gap : r));
    const write = (name: string, rs: LogRecord[]) => {
      const file = join(dir, name);
      writeFileSync(file, rs.map((r) => JSON.stringify(r)).join('\n') + '\n');
      return file;
    };
    const whole = await runCli(['replay', write('whole.jsonl', records)]);
    assert.is(whole.code, 0, whole.stderr);
    assert.not.match(whole.stdout, /incomplete/);
    assert.match(whole.stdout, /^ {2}closed after \d+ ms: term CO, client fin, server peer_fin/m);

    const out = await runCli(['replay', write('lossy.jsonl', gapped)]);
    assert.is(out.code, 0, out.stderr);
    const disposed1 = one.at(-1)!;
    const ms = disposed1.kind === 'disposed' ? disposed1.durationMs : -1;
    assert.match(out.stdout, new RegExp(`^ {2}connection h-b-1: incomplete, 1 record lost; its close record says term CO after ${ms} ms$`, 'm'));
    assert.match(out.stdout, /^ {2}connection h-b-2: incomplete, 1 record lost; its close record says term sO after \d+ ms$/m);
    assert.match(out.stdout, /^\s+\+\d+ ms\s+1 record lost \(spool_overflow\)\s+\?\s+\?$/m, 'the gap is a row of the timeline');
    assert.not.match(out.stdout, /closed after/, 'no close reasons guessed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
