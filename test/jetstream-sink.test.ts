/**
 * JetStreamSink and readJetStream against a real nats-server (JetStream, file store) on
 * loopback: records round-trip in order with their message ids, a re-sent id is stored once, a
 * kill -9 of the server loses nothing acknowledged, an outage past the spool is counted and
 * marked with gaps, and a proxy keeps proxying while NATS is down.
 */
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as promClient from 'prom-client';
import { EventLog, ManualClock, Supervisor, JetStreamSink, readJetStream, type JetStreamRecord, type JetStreamSinkOptions, type LogRecord } from '../src/index.js';
import { InvalidOptionError } from '../src/errors.js';
import { collectMetrics } from '../src/metrics/index.js';
import { assertCleanEnd, startLoopback } from './helpers/loopback.js';
import { peerTest as peerTest_, startNats, type NatsPeer } from './helpers/peers.js';
import { until } from './helpers/wait.js';

const peerTest = peerTest_('jetstream-sink', 'nats-server', ['--version']);

/** A record of connection `conn` with its per-connection `seq` (the field ids are built from). */
function rec(conn: number | string, seq: number, t = seq): LogRecord {
  return { t, conn, seq, kind: 'event', event: { type: 'ACTIVITY', clientToServer: seq, serverToClient: 0 } } as unknown as LogRecord;
}

const refusal = (t: number): LogRecord => ({ t, kind: 'refused', reason: 'rejected', limit: 'max_connections', code: 'RJ' });

async function readAll(nats: NatsPeer, stream: string, filter: { instance?: string; connection?: number | string; since?: number | Date } = {}): Promise<JetStreamRecord[]> {
  const out: JetStreamRecord[] = [];
  for await (const r of readJetStream({ servers: nats.url, stream, ...filter })) out.push(r);
  return out;
}

/** The sink's outage reports. */
function watch(sink: JetStreamSink): { errors: Error[]; recovers: { ms: number; dropped: number }[] } {
  const seen = { errors: [] as Error[], recovers: [] as { ms: number; dropped: number }[] };
  sink.on('error', (e) => seen.errors.push(e));
  sink.on('recover', (o) => seen.recovers.push(o));
  return seen;
}

/** The records of `conn`, in the order read. */
const of = (records: readonly JetStreamRecord[], conn: number | string) => records.filter((r) => r.conn === conn);

/**
 * Runs `body` against a nats-server of its own; every sink it opens with `open` is closed
 * (a rejection ignored: the body asserts what it expects of close) and the server stopped,
 * however the body ends.
 */
async function withNats(body: (nats: NatsPeer, open: (options: Omit<JetStreamSinkOptions, 'servers'>) => JetStreamSink) => Promise<void>): Promise<void> {
  const nats = await startNats();
  const sinks: JetStreamSink[] = [];
  try {
    await body(nats, (options) => {
      const sink = new JetStreamSink({ servers: nats.url, ...options });
      sinks.push(sink);
      return sink;
    });
  } finally {
    for (const sink of sinks) await sink.close().catch(() => {});
    await nats.stop();
  }
}

/** Runs `body` with a JetStream manager on `nats` (streams made by hand, messages read as stored). */
async function withManager<T>(nats: NatsPeer, body: (jsm: Awaited<ReturnType<typeof jetstreamManager>>, nc: Awaited<ReturnType<typeof natsConnect>>) => Promise<T>): Promise<T> {
  const nc = await natsConnect({ servers: nats.url });
  try {
    return await body(await jetstreamManager(nc), nc);
  } finally {
    await nc.close();
  }
}

/** `record` written by two sinks of one instance, one after the other, as a re-send after a reconnect reaches the server. */
async function writeTwice(open: (options: Omit<JetStreamSinkOptions, 'servers'>) => JetStreamSink, stream: string, record: LogRecord): Promise<[JetStreamSink, JetStreamSink]> {
  const a = open({ stream, instance: 'edge-1' });
  const b = open({ stream, instance: 'edge-1' });
  for (const sink of [a, b]) {
    sink.write(record);
    await sink.flush();
  }
  return [a, b];
}

peerTest('one record per message (maxMessageBytes 0): records round-trip in stream order, on per-connection subjects, with <conn>:<seq> message ids', () =>
  withNats(async (nats, open) => {
    const sink = open({ stream: 'RT', instance: 'edge-1', maxMessageBytes: 0 });
    const written: LogRecord[] = [];
    for (let i = 0; i < 300; i++) written.push(rec(i % 2 === 0 ? 'edge-1-b-7' : 'edge-1-b-8', Math.floor(i / 2)));
    written.splice(100, 0, refusal(50));
    for (const r of written) sink.write(r);
    await sink.flush();
    assert.is(sink.enqueued, 301);
    assert.is(sink.acked, 301);
    assert.is(sink.dropped, 0);
    assert.is(sink.spoolRecords, 0);
    assert.is(sink.spoolBytes, 0);
    assert.ok(sink.up);

    assert.equal(await readAll(nats, 'RT'), written, 'everything, in the order written');
    assert.equal(await readAll(nats, 'RT', { connection: 'edge-1-b-8' }), of(written, 'edge-1-b-8'), 'one connection');
    assert.equal(await readAll(nats, 'RT', { instance: 'edge-2' }), [], 'another instance: nothing');
    assert.equal((await readAll(nats, 'RT', { instance: 'edge-1' })).length, 301);

    await withManager(nats, async (jsm, nc) => {
      const first = await jsm.streams.getMessage('RT', { seq: 1 });
      assert.is(first!.subject, 'RT.edge-1.edge-1-b-7');
      assert.is(first!.header?.get('Nats-Msg-Id'), 'edge-1-b-7:0');
      const refused = await jsm.streams.getMessage('RT', { seq: 101 });
      assert.is(refused!.subject, 'RT.edge-1._refused');
      assert.match(refused!.header?.get('Nats-Msg-Id') ?? '', /^edge-1-[0-9a-z]+-_refused:\d+$/);
      // What a sink re-sends after a reconnect: the same id is stored once.
      const again = await jetstream(nc).publish(first!.subject, JSON.stringify(written[0]), { msgID: 'edge-1-b-7:0' });
      assert.ok(again.duplicate, 'a re-sent message id is a duplicate');
      assert.is((await jsm.streams.info('RT')).state.messages, 301, 'and not stored again');
    });
  }),
);

peerTest('records of one connection that wait together share a message (one per line, up to maxMessageBytes), with the first record\'s id; each connection reads back in order', () =>
  withNats(async (nats, open) => {
    const maxMessageBytes = 2000;
    const sink = open({ stream: 'BATCH', instance: 'edge-1', maxMessageBytes });
    await until(() => sink.up || (sink.write(rec('warm', 0)), false), 'connected');
    await sink.flush();
    const written: LogRecord[] = [];
    for (let i = 0; i < 600; i++) written.push(rec(i % 3 === 0 ? 'c7' : i % 3 === 1 ? 'c8' : 'c9', Math.floor(i / 3)));
    written.splice(100, 0, refusal(50), refusal(51));
    for (const r of written) sink.write(r); // one turn: all wait together
    await sink.flush();
    assert.is(sink.acked, sink.enqueued, 'every record acknowledged');
    assert.is(sink.dropped, 0);
    for (const conn of ['c7', 'c8', 'c9']) assert.equal(await readAll(nats, 'BATCH', { connection: conn }), of(written, conn), `${conn} in order`);
    assert.equal((await readAll(nats, 'BATCH', { instance: 'edge-1' })).filter((r) => r.kind === 'refused'), written.filter((r) => r.kind === 'refused'));
    await withManager(nats, async (jsm) => {
      const messages = (await jsm.streams.info('BATCH')).state.messages;
      assert.ok(messages < 100, `${messages} messages for ${written.length + 1} records`);
      for (let seq = 1; seq <= messages; seq++) {
        const m = (await jsm.streams.getMessage('BATCH', { seq }))!;
        const lines = m.string().split('\n').map((l) => JSON.parse(l) as LogRecord & { seq?: number });
        assert.ok(m.data.length <= maxMessageBytes, `message ${seq}: ${m.data.length} bytes`);
        assert.ok(lines.every((r) => (r.conn === undefined ? '_refused' : r.conn) === m.subject.split('.')[2]), 'one connection per message');
        if (lines[0]!.conn !== undefined) assert.is(m.header?.get('Nats-Msg-Id'), `${lines[0]!.conn}:${lines[0]!.seq}`);
      }
    });
  }),
);

peerTest('records of the next lingerMs, over several turns, go out in one round: a connection\'s records share one message', () =>
  withNats(async (nats, open) => {
    const clock = new ManualClock();
    const sink = open({ stream: 'LINGER', instance: 'i', lingerMs: 20, clock });
    await until(() => clock.pending === 1, 'connected: the first round waits out the linger');
    clock.advance(20);
    await until(() => sink.up, 'up');
    await withManager(nats, async (jsm) => {
      for (let seq = 0; seq < 3; seq++) {
        sink.write(rec('a', seq));
        await new Promise((r) => setImmediate(r)); // the next turn
      }
      assert.is(clock.pending, 1, 'one linger timer for all three');
      assert.is((await jsm.streams.info('LINGER')).state.messages, 0, 'nothing published within the turns');
      clock.advance(19);
      assert.is((await jsm.streams.info('LINGER')).state.messages, 0, 'nothing published 1 ms before the linger ends');
      clock.advance(1);
      await sink.flush();
      assert.is(sink.acked, 3);
      assert.is((await jsm.streams.info('LINGER')).state.messages, 1, 'one message');
    });
    assert.equal(await readAll(nats, 'LINGER'), [rec('a', 0), rec('a', 1), rec('a', 2)]);
    await sink.close();
    assert.is(clock.pending, 0, 'no timer left');
  }),
);

peerTest('numeric connection ids (no seq) get ids qualified by instance and boot, so two processes never collide', () =>
  withNats(async (nats, open) => {
    const r = { t: 1, conn: 1, kind: 'event', event: { type: 'CONNECTED' } } as unknown as LogRecord;
    await writeTwice(open, 'NUM', r);
    assert.equal(await readAll(nats, 'NUM', { connection: 1 }), [r, r], 'the same connection number from a restarted process is kept');
  }),
);

peerTest('a connection id with a line break still gets a message id the server dedupes on (the break cannot end the header block)', () =>
  withNats(async (nats, open) => {
    const r = rec('x\r\ny', 0);
    const [a, b] = await writeTwice(open, 'BREAK', r);
    assert.is(a.acked + b.acked, 2, 'both acknowledged, neither refused');
    assert.equal(await readAll(nats, 'BREAK'), [r], 'stored once: the message id survived');
  }),
);

peerTest('since reads from a stored time on', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'SINCE', instance: 'i' });
  try {
    sink.write(rec('c', 0));
    await sink.flush();
    const nc = await natsConnect({ servers: nats.url });
    const first = await (await jetstreamManager(nc)).streams.getMessage('SINCE', { seq: 1 });
    await nc.close();
    const after = first!.time.getTime() + 1;
    await until(() => Date.now() > after + 1, 'the clock moved on');
    sink.write(rec('c', 1));
    await sink.flush();
    assert.equal(await readAll(nats, 'SINCE', { since: after }), [rec('c', 1)]);
    assert.equal((await readAll(nats, 'SINCE', { since: new Date(0) })).length, 2);
    await sink.close();
  } finally {
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

peerTest('kill -9 of the server mid-stream: the sink reconnects, reports once, and every record is stored exactly once', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'CRASH', instance: 'i', ackTimeout: 1000, natsOptions: { reconnectTimeWait: 100 } });
  const seen = watch(sink);
  const written: LogRecord[] = [];
  const write = (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = rec(`c${written.length % 3}`, Math.floor(written.length / 3));
      written.push(r);
      sink.write(r);
    }
  };
  try {
    write(300);
    await until(() => sink.acked === 300, 'the first records acknowledged', 10_000);
    write(200); // some of these are in flight when the server dies
    await nats.kill();
    await until(() => !sink.up, 'the sink saw the server go');
    write(200); // during the outage: the spool holds them
    assert.is(sink.dropped, 0);
    assert.ok(sink.spoolRecords > 0);
    await nats.restart();
    await until(() => sink.acked === written.length && sink.spoolRecords === 0, () => `all acknowledged (${sink.acked} of ${written.length})`, 20_000);
    assert.ok(sink.up);
    assert.is(seen.errors.length, 1, 'the outage reported once');
    assert.is(seen.recovers.length, 1, 'and its end once');
    assert.is(seen.recovers[0]!.dropped, 0);
    const read = await readAll(nats, 'CRASH');
    assert.is(read.length, written.length, 'each record stored once: no loss, no duplicate');
    for (const c of ['c0', 'c1', 'c2']) assert.equal(of(read, c), of(written, c), `${c} in order`);
    await sink.close();
  } finally {
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

peerTest('an outage longer than the spool: drops are counted by reason and gap markers land where the records were lost', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'GAP', instance: 'i', maxRecords: 20, ackTimeout: 1000, natsOptions: { reconnectTimeWait: 100 } });
  const seen = watch(sink);
  try {
    sink.write(rec('a', 0));
    sink.write(rec('b', 0));
    await sink.flush();
    await nats.kill();
    await until(() => !sink.up, 'the sink saw the server go');
    for (let seq = 1; seq <= 30; seq++) {
      sink.write(rec('a', seq));
      sink.write(rec('b', seq));
    }
    sink.write(refusal(99));
    assert.is(sink.spoolRecords, 20, 'the spool is full');
    assert.is(sink.droppedBy.spool_full, 41);
    assert.is(sink.dropped, 41);
    await sink.flush(); // down: resolves at once, the records stay spooled
    assert.is(sink.spoolRecords, 20);
    await nats.restart();
    await until(() => sink.spoolRecords === 0 && sink.gapsPublished === 3, () => `spool empty, gaps out (${sink.spoolRecords}, ${sink.gapsPublished})`, 20_000);
    sink.write(rec('a', 31));
    sink.write(rec('b', 31));
    await sink.flush();
    assert.is(seen.errors.length, 1);
    assert.equal(seen.recovers.map((o) => o.dropped), [41], 'the recovery says what the outage cost');

    const read = await readAll(nats, 'GAP');
    const gaps = read.filter((r) => r.kind === 'gap');
    assert.is(gaps.reduce((n, g) => n + (g.kind === 'gap' ? g.lost : 0), 0), sink.dropped, 'the drop counter is the sum of the gaps');
    // a: its record before the outage, the 10 the spool held, the gap for the 20 lost, the next one.
    const a = of(read, 'a');
    assert.equal(a.slice(0, 11), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => rec('a', s)));
    assert.equal(a[11], { t: 11, conn: 'a', kind: 'gap', lost: 20, reason: 'spool_full' }, 'the gap at the first lost record');
    assert.equal(a[12], rec('a', 31));
    assert.is(a.length, 13);
    const refusedGap = read.find((r) => r.kind === 'gap' && r.conn === undefined);
    assert.equal(refusedGap, { t: 99, kind: 'gap', lost: 1, reason: 'spool_full' }, 'a lost refusal has its gap too');
    await sink.close().then(
      () => assert.unreachable('close rejects when records were lost'),
      (err: Error) => assert.match(err.message, /41 records lost \(spool_full: 41\)/),
    );
  } finally {
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

for (const maxMessageBytes of [undefined, 0]) {
  peerTest(`a record the stream refuses (over its max_msg_size) is dropped as rejected, its connection gets a gap, and the records around it (in its message or not: maxMessageBytes ${maxMessageBytes}) are stored`, () =>
    withNats(async (nats, open) => {
      await withManager(nats, (jsm) => jsm.streams.add({ name: 'SMALL', subjects: ['SMALL.>'], max_msg_size: 400 }));
      const warnings: string[] = [];
      const sink = open({ stream: 'SMALL', instance: 'i', maxMessageBytes, logger: { warn: (m) => warnings.push(m) } });
      const big = { ...rec('a', 1), note: 'x'.repeat(1000) } as unknown as LogRecord;
      sink.write(rec('a', 0));
      sink.write(big);
      sink.write(rec('a', 2));
      await sink.flush();
      assert.equal(sink.droppedBy.rejected, 1);
      assert.is(sink.dropped, 1, 'nothing else lost');
      assert.is(sink.acked, 2);
      assert.ok(sink.up, 'a refused record is not an outage');
      assert.equal(warnings, ['JetStream sink: a record was refused'], 'the refusal is told to the logger, once');
      const a = (await readAll(nats, 'SMALL')).filter((r) => r.conn === 'a');
      assert.equal(a, [rec('a', 0), rec('a', 2), { t: 1, conn: 'a', kind: 'gap', lost: 1, reason: 'rejected' }]);
      await sink.close().then(
        () => assert.unreachable('close rejects when records were lost'),
        (err: Error) => assert.match(err.message, /1 records lost \(rejected: 1\)/),
      );
    }),
  );
}

peerTest('no stream and createStream false: the outage names the stream, records wait, and are stored once the stream exists', () =>
  withNats(async (nats, open) => {
    const sink = open({ stream: 'LATER', instance: 'i', createStream: false, maxRetryDelay: 100 });
    const seen = watch(sink);
    sink.write(rec('a', 0));
    sink.write(rec('a', 1));
    await until(() => seen.errors.length === 1, 'the missing stream reported');
    assert.match(seen.errors[0]!.message, /no stream takes LATER\.i\.a .*stream LATER exist/);
    assert.is(sink.spoolRecords, 2, 'the records wait in the spool');
    await withManager(nats, (jsm) => jsm.streams.add({ name: 'LATER', subjects: ['LATER.>'] }));
    await until(() => sink.acked === 2, 'stored once the stream exists', 10_000);
    assert.is(seen.errors.length, 1, 'reported once, not once per retry');
    assert.is(seen.recovers.length, 1);
    assert.equal(await readAll(nats, 'LATER'), [rec('a', 0), rec('a', 1)]);
  }),
);

peerTest('a proxy keeps proxying while NATS is down, and its log reaches the stream once NATS is back', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'PROXY', instance: 'i', ackTimeout: 1000, natsOptions: { reconnectTimeWait: 100 } });
  const log = new EventLog({ sinks: [sink] });
  const rig = await startLoopback({ supervisor: { log }, upstream: (s) => s.on('data', (d) => s.write(d)).on('end', () => s.end()) });
  try {
    await until(() => sink.up, 'connected');
    await nats.kill();
    await until(() => !sink.up, 'the sink saw the server go');
    for (let i = 0; i < 3; i++) {
      const { c, u } = await rig.open();
      c.socket.write('ping');
      await until(() => c.received === 4, 'echoed through the proxy');
      c.socket.end();
      await until(() => c.gotEnd && u.gotEnd, 'both sides ended');
    }
    await assertCleanEnd(rig);
    assert.ok(sink.enqueued > 0);
    assert.is(sink.acked, 0, 'nothing reached NATS yet');
    assert.is(sink.dropped, 0);
    await nats.restart();
    await until(() => sink.acked === sink.enqueued && sink.spoolRecords === 0, 'the log delivered', 20_000);
    const read = await readAll(nats, 'PROXY');
    assert.equal(read, JSON.parse(JSON.stringify(log.records())), 'the stream holds the supervisor log');
    await sink.close();
  } finally {
    await rig.close();
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

peerTest('close with NATS down waits at most closeTimeout, then rejects counting what was unsent', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'CLOSE', instance: 'i', closeTimeout: 200 });
  try {
    await until(() => sink.up, 'connected');
    await nats.kill();
    await until(() => !sink.up, 'the sink saw the server go');
    sink.write(rec('a', 0));
    sink.write(rec('a', 1));
    await sink.close().then(
      () => assert.unreachable('close rejects'),
      (err: Error) => assert.match(err.message, /2 records lost \(unsent: 2\)/),
    );
    sink.write(rec('a', 2));
    assert.is(sink.droppedBy.closed, 1, 'a record after close is dropped and counted');
  } finally {
    await nats.stop();
  }
});

peerTest('a server that hangs: the publishes time out, are sent again, and the stream stores each record once', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'HANG', instance: 'i', ackTimeout: 200, maxRetryDelay: 100 });
  const seen = watch(sink);
  try {
    await until(() => sink.up, 'connected');
    await nats.pause();
    const written = [0, 1, 2, 3, 4].map((seq) => rec('a', seq));
    for (const r of written) sink.write(r);
    await until(() => seen.errors.length === 1, 'the timeouts reported');
    assert.match(seen.errors[0]!.message, /timeout/i);
    nats.resume();
    await until(() => sink.acked === 5 && sink.spoolRecords === 0, 'acknowledged after the hang', 10_000);
    assert.is(seen.recovers.length, 1);
    assert.equal(await readAll(nats, 'HANG'), written, 'sent twice or more, stored once');
    await sink.close();
  } finally {
    nats.resume();
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

peerTest('records in flight when close gives up count as unsent', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'INFLIGHT', instance: 'i', ackTimeout: 60_000, closeTimeout: 100 });
  try {
    await until(() => sink.up, 'connected');
    await nats.pause();
    for (let seq = 0; seq < 3; seq++) sink.write(rec('a', seq));
    await until(() => sink.spoolRecords === 3, 'held');
    await sink.close().then(
      () => assert.unreachable('close rejects'),
      (err: Error) => assert.match(err.message, /3 records lost \(unsent: 3\)/),
    );
    assert.is(sink.spoolRecords, 0);
    assert.is(sink.acked, 0);
  } finally {
    nats.resume();
    await nats.stop();
  }
});

peerTest('a sink whose server never answers reports once, holds its records, and closes', async () => {
  const nats = await startNats();
  const url = nats.url;
  await nats.stop(); // nothing listens there now
  const clock = new ManualClock();
  const sink = new JetStreamSink({ servers: url, stream: 'NONE', instance: 'i', closeTimeout: 50, lingerMs: 0, clock });
  const seen = watch(sink);
  sink.write(rec('a', 0));
  for (let i = 0; i < 4; i++) {
    await until(() => clock.pending === 1, 'a connect try failed and the next is armed');
    clock.advance(10_000);
  }
  await until(() => clock.pending === 1, 'tried again');
  assert.is(seen.errors.length, 1, 'reported once, not per try');
  await sink.flush(); // failing: at once
  assert.is(sink.spoolRecords, 1, 'the record is held');
  const closed = sink.close().catch((err: Error) => err);
  await until(() => clock.pending === 2, 'the close bound armed beside the next try');
  clock.advance(50);
  assert.match(String(await closed), /unsent: 1/);
  assert.is(clock.pending, 0, 'no timer left: the retry ended with close');
});

/** `name{labels}` → value of every sample in `register`. */
async function samples(register: promClient.Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await register.getMetricsAsJSON()) {
    for (const v of m.values) {
      const labels = Object.entries(v.labels).map(([k, l]) => `${k}=${l}`).sort().join(',');
      out.set(`${m.name}{${labels}}`, v.value);
    }
  }
  return out;
}

peerTest('metrics: records enqueued and acked, dropped by reason, spool size and the up gauge', async () => {
  const nats = await startNats();
  const sink = new JetStreamSink({ servers: nats.url, stream: 'MET', instance: 'i', maxRecords: 2 });
  const register = new promClient.Registry();
  const metrics = await collectMetrics(new Supervisor(), { register, sinks: { event_log: sink } });
  try {
    await until(() => sink.up, 'connected');
    sink.write(rec('a', 0));
    sink.write(rec('a', 1));
    await sink.flush();
    let m = await samples(register);
    assert.is(m.get('proxy_lifecycle_log_sink_records_total{sink=event_log,state=enqueued}'), 2);
    assert.is(m.get('proxy_lifecycle_log_sink_records_total{sink=event_log,state=acked}'), 2);
    assert.is(m.get('proxy_lifecycle_log_sink_records_dropped_total{reason=spool_full,sink=event_log}'), 0, 'each reason from 0');
    assert.is(m.get('proxy_lifecycle_log_sink_up{sink=event_log}'), 1);
    assert.is(m.get('proxy_lifecycle_log_sink_spool_records{sink=event_log}'), 0);
    await nats.kill();
    await until(() => !sink.up, 'the sink saw the server go');
    for (let seq = 2; seq < 7; seq++) sink.write(rec('a', seq));
    m = await samples(register);
    assert.is(m.get('proxy_lifecycle_log_sink_up{sink=event_log}'), 0);
    assert.is(m.get('proxy_lifecycle_log_sink_spool_records{sink=event_log}'), 2);
    assert.is(m.get('proxy_lifecycle_log_sink_spool_bytes{sink=event_log}'), sink.spoolBytes);
    assert.ok(sink.spoolBytes > 0);
    assert.is(m.get('proxy_lifecycle_log_sink_records_total{sink=event_log,state=enqueued}'), 4);
    assert.is(m.get('proxy_lifecycle_log_sink_records_dropped_total{reason=spool_full,sink=event_log}'), 3);
    assert.is(m.get('proxy_lifecycle_log_records_dropped_total{sink=event_log}'), 3, 'and in the all-sinks drop counter');
  } finally {
    metrics.stop();
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

peerTest('no message of the sink carries the credentials it was given, even where nats.js quotes them: error event, logger, close()', async () => {
  const nats = await startNats();
  const url = `nats://alice:s3cr3t-pw@${nats.url}`;
  const logged: string[] = [];
  const log = (message: string, fields?: Record<string, unknown>) => logged.push(`${message} ${JSON.stringify(fields)}`);
  // nats.js passes an authenticator's failure on as it is: a stand-in for any nats.js message naming the URL and the password.
  const authenticator = () => {
    throw new Error(`no credentials for ${url} (token s3cr3t-tok, password s3cr3t-pw)`);
  };
  const sink = new JetStreamSink({ servers: url, stream: 'REDACT', closeTimeout: 50, maxRetryDelay: 50, natsOptions: { token: 's3cr3t-tok', authenticator }, logger: { warn: log, error: log } });
  const seen = watch(sink);
  try {
    sink.write(rec('a', 1));
    await until(() => seen.errors.length === 1, 'the outage');
    const closed = await sink.close().then(() => null, (e: Error) => e);
    assert.ok(closed !== null, 'a lost record makes close() reject');
    const texts = [...seen.errors.flatMap((e) => [e.message, String(e.stack)]), closed!.message, String((closed!.cause as Error | undefined)?.message), ...logged];
    assert.match(seen.errors[0]!.message, new RegExp(`^no credentials for nats://${nats.url.replace('.', '\\.')} \\(token \\*\\*\\*, password \\*\\*\\*\\)$`));
    for (const t of texts) assert.not.match(t, /s3cr3t|alice/, t);
  } finally {
    await sink.close().catch(() => {});
    await nats.stop();
  }
});

test('bad options name the option', () => {
  assert.throws(() => new JetStreamSink({ servers: [] }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'servers');
  assert.throws(() => new JetStreamSink({ servers: 'x:1', stream: 'a.b' }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'stream' && /letters, digits/.test(e.message));
  assert.throws(() => new JetStreamSink({ servers: 'x:1', instance: 'web 1' }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'instance');
  assert.throws(() => new JetStreamSink({ servers: 'x:1', maxRecords: 0 }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'maxRecords');
});

test.run();
