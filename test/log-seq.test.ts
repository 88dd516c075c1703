// Every record of a connection carries `seq` (0 for open, +1 per record), so a record lost
// on the way (a sink's spool overflow, a dropped message) shows as a hole.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, Supervisor, parseEventLog, type LogRecord } from '../src/index.js';
import { connect, readAll } from './helpers/sockets.js';

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

test.run();
