/**
 * The event log: the bounded in-memory ring, sinks, the JSONL file format and its parser, and
 * replay() of hand-made records (built by driving the machine with transition() directly).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialTransition, transition } from 'xstate';
import {
  DEFAULT_SETTINGS,
  EventLog,
  EventLogParseError,
  EventLogParser,
  JsonlSink,
  ProxyLifecycleError,
  connectionMachine,
  describeEvent,
  parseEventLog,
  readEventLog,
  recoverEventLog,
  recoverEventLogStream,
  regionName,
  replay,
  systemClock,
  type CloseInfo,
  type ConnectionInputEvent,
  type ConnectionSettings,
  type LogRecord,
  type LogSink,
  type RuntimeEvent,
} from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { connect, readAll } from './helpers/sockets.js';
import { MachineSim } from './helpers/reference-machine.js';

const ev = (t: number, conn: string, event: RuntimeEvent): LogRecord => ({ t, conn, kind: 'event', event });
const open = (t: number, conn: string, settings: ConnectionSettings = { ...DEFAULT_SETTINGS }, client?: string): LogRecord =>
  client === undefined ? { t, conn, kind: 'open', settings } : { t, conn, kind: 'open', settings, client };

/** A sink that remembers what it got and whether it was closed. */
function memorySink(): LogSink & { got: LogRecord[]; closed: number } {
  const sink = {
    got: [] as LogRecord[],
    closed: 0,
    write(record: LogRecord) {
      sink.got.push(record);
    },
    async close() {
      sink.closed++;
    },
  };
  return sink;
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pl-event-log-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Expects parseEventLog(text) to throw an EventLogParseError and returns it. */
function parseError(text: string): EventLogParseError {
  try {
    parseEventLog(text);
  } catch (err) {
    assert.instance(err, EventLogParseError);
    assert.instance(err, ProxyLifecycleError);
    const e = err as EventLogParseError;
    assert.is(e.code, 'PL_ERR_LOG_PARSE');
    assert.is(e.name, 'EventLogParseError');
    assert.match(e.message, `event log line ${e.line}:`);
    return e;
  }
  assert.unreachable('expected an EventLogParseError');
  throw new Error('unreachable');
}

const line = (value: unknown) => JSON.stringify(value);
const OPEN = line(open(0, '1'));
const CONNECTED = line(ev(1, '1', { type: 'CONNECTED' }));

// --- the ring ----------------------------------------------------------------------------

test('the ring keeps at most capacity records, oldest dropped first, records() oldest first', () => {
  const log = new EventLog({ capacity: 3 });
  assert.is(log.capacity, 3);
  assert.equal(log.records(), []);
  const recs = Array.from({ length: 8 }, (_, i) => ev(i, '1', { type: 'ACTIVITY', clientToServer: i, serverToClient: 0 }));
  log.append(recs[0]!);
  log.append(recs[1]!);
  assert.equal(log.records(), [recs[0], recs[1]]);
  assert.is(log.dropped, 0);
  log.append(recs[2]!);
  assert.equal(log.records(), recs.slice(0, 3));
  assert.is(log.dropped, 0, 'exactly full drops nothing');
  log.append(recs[3]!);
  assert.equal(log.records(), recs.slice(1, 4));
  assert.is(log.dropped, 1);
  for (const r of recs.slice(4)) log.append(r);
  assert.equal(log.records(), recs.slice(5, 8), 'order after wrapping more than once');
  assert.is(log.dropped, 5);
  assert.is(log.records().length, 3);
});

test('capacity 1 keeps only the latest record', () => {
  const log = new EventLog({ capacity: 1 });
  log.append(ev(1, '1', { type: 'SHUTDOWN' }));
  log.append(ev(2, '1', { type: 'ABORT' }));
  assert.equal(log.records(), [ev(2, '1', { type: 'ABORT' })]);
  assert.is(log.dropped, 1);
});

test('capacity 0 keeps nothing, but sinks and records$ still receive every record', async () => {
  const sink = memorySink();
  const log = new EventLog({ capacity: 0, sinks: [sink] });
  const seen: LogRecord[] = [];
  log.records$.subscribe((r) => seen.push(r));
  const recs = [open(0, '1'), ev(1, '1', { type: 'CONNECTED' }), ev(2, '1', { type: 'ABORT' })];
  for (const r of recs) log.append(r);
  assert.equal(log.records(), []);
  assert.is(log.capacity, 0);
  assert.equal(sink.got, recs);
  assert.equal(seen, recs);
  await log.close();
});

test('active: only a log with capacity, a sink or a subscriber is active', async () => {
  const idle = new EventLog({ capacity: 0 });
  assert.is(idle.active, false);
  const sub = idle.records$.subscribe(() => {});
  assert.is(idle.active, true, 'a subscriber makes it active');
  sub.unsubscribe();
  assert.is(idle.active, false, 'and unsubscribing makes it inactive again');
  idle.addSink(memorySink());
  assert.is(idle.active, true, 'a sink makes it active');
  assert.is(new EventLog({ capacity: 1 }).active, true);
  await idle.close();
});

test('a proxy whose log is inactive builds no record, and CloseInfo still has the client address', async () => {
  let appended = 0;
  class CountingLog extends EventLog {
    override append(record: LogRecord): void {
      appended++;
      super.append(record);
    }
  }
  for (const capacity of [0, 10]) {
    appended = 0;
    const proxy = await startLoopback({ supervisor: { clock: systemClock, log: new CountingLog({ capacity }) }, upstream: (socket) => socket.pipe(socket) });
    const closed = new Promise<CloseInfo>((resolve) => proxy.supervisor.once('close', resolve));
    const client = await connect(proxy.proxyPort);
    const localPort = client.localPort;
    const echoed = readAll(client);
    client.end('ping');
    assert.is((await echoed).toString(), 'ping');
    const info = await closed;
    assert.is(info.client, `127.0.0.1:${localPort}`, `capacity ${capacity}: the client address`);
    client.destroy();
    await proxy.close();
    if (capacity === 0) assert.is(appended, 0, 'no record was built for an inactive log');
    else assert.ok(appended >= 4, `records appended when the log keeps them (${appended})`);
  }
});

test('the default capacity is 100 000; a capacity that is not a whole number from 0 up throws', () => {
  assert.is(new EventLog().capacity, 100_000);
  for (const capacity of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => new EventLog({ capacity }), (err: unknown) => err instanceof TypeError && /capacity/.test((err as Error).message));
  }
});

test('records$ emits each record as it is appended; close() completes it and closes every sink', async () => {
  const first = memorySink();
  const later = memorySink();
  const log = new EventLog({ capacity: 10, sinks: [first] });
  log.append(open(0, '1')); // before anyone subscribes: not replayed to late subscribers
  const seen: LogRecord[] = [];
  let completed = false;
  log.records$.subscribe({ next: (r) => seen.push(r), complete: () => (completed = true) });
  log.append(ev(1, '1', { type: 'CONNECTED' }));
  log.addSink(later);
  log.append(ev(2, '1', { type: 'END', side: 'client' }));
  assert.equal(seen, [ev(1, '1', { type: 'CONNECTED' }), ev(2, '1', { type: 'END', side: 'client' })]);
  assert.is(first.got.length, 3);
  assert.equal(later.got, [ev(2, '1', { type: 'END', side: 'client' })], 'an added sink gets only later records');
  assert.is(completed, false);
  await log.close();
  assert.is(completed, true);
  assert.is(first.closed, 1);
  assert.is(later.closed, 1);
});

test('the sinks array passed in is copied: pushing to it later adds no sink', async () => {
  const sinks: LogSink[] = [];
  const log = new EventLog({ sinks });
  const sneaky = memorySink();
  sinks.push(sneaky);
  log.append(open(0, '1'));
  assert.equal(sneaky.got, []);
  await log.close();
  assert.is(sneaky.closed, 0);
});

// --- JSONL ---------------------------------------------------------------------------------

test('JsonlSink writes one JSON object per line; readEventLog and parseEventLog read it back', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'events.jsonl');
    const log = new EventLog({ capacity: 100, sinks: [new JsonlSink(path)] });
    const recs: LogRecord[] = [
      open(0, '1', { ...DEFAULT_SETTINGS }, '127.0.0.1:5555'),
      ev(1, '1', { type: 'CONNECTED' }),
      ev(2, '1', { type: 'ACTIVITY', clientToServer: 10, serverToClient: 20 }),
      ev(3, '1', { type: 'ERROR', side: 'server', code: 'ECONNRESET' }),
      ev(5003, '1', { type: 'xstate.after.gracePeriod.connection.client.draining.flushing' }),
      { t: 5003, conn: '1', kind: 'disposed', reasons: { client: 'grace_expired', server: 'reset' }, bytes: { clientToServer: 10, serverToClient: 20 }, durationMs: 5003 },
    ];
    for (const r of recs) log.append(r);
    await log.close();
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');
    assert.is(lines.length, recs.length + 1, 'every record ends with a newline');
    assert.is(lines.at(-1), '');
    lines.slice(0, -1).forEach((l, i) => assert.equal(JSON.parse(l), recs[i], `line ${i + 1}`));
    assert.equal(await readEventLog(path), recs);
    assert.equal(parseEventLog(text), log.records());
  });
});

test('JsonlSink appends to an existing file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'events.jsonl');
    const a = new JsonlSink(path);
    a.write(open(0, '1'));
    await a.close();
    const b = new JsonlSink(path);
    b.write(ev(1, '1', { type: 'ABORT' }));
    await b.close();
    assert.equal(await readEventLog(path), [open(0, '1'), ev(1, '1', { type: 'ABORT' })]);
  });
});

test('a JsonlSink that cannot open its file does not throw on write; close() rejects with the error', async () => {
  await withTempDir(async (dir) => {
    const sink = new JsonlSink(join(dir, 'missing-dir', 'events.jsonl'));
    sink.write(open(0, '1'));
    await new Promise((r) => setTimeout(r, 5));
    sink.write(ev(1, '1', { type: 'ABORT' }));
    let error: unknown;
    await sink.close().catch((err: unknown) => (error = err));
    assert.ok(error instanceof Error, 'close() rejects');
    assert.is((error as NodeJS.ErrnoException).code, 'ENOENT');
  });
});

test('a JsonlSink opening a log torn by a crash cuts the torn last line, so the file keeps parsing strictly after more records', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'torn.jsonl');
    const whole = [open(0, '1'), ev(1, '1', { type: 'CONNECTED' })];
    const torn = JSON.stringify(ev(2, '1', { type: 'ABORT' })).slice(0, 17);
    await writeFile(path, whole.map((r) => JSON.stringify(r) + '\n').join('') + torn);
    const sink = new JsonlSink(path);
    assert.is(sink.repaired, torn.length);
    sink.write(ev(3, '1', { type: 'ABORT' }));
    await sink.close();
    assert.equal(await readEventLog(path), [...whole, ev(3, '1', { type: 'ABORT' })]);
    // A clean file is left alone.
    const again = new JsonlSink(path);
    assert.is(again.repaired, 0);
    await again.close();
  });
});

test('parseEventLog skips blank lines; line numbers count them', () => {
  assert.equal(parseEventLog(''), []);
  assert.equal(parseEventLog(`\n${OPEN}\n\n   \n${CONNECTED}\n`), [open(0, '1'), ev(1, '1', { type: 'CONNECTED' })]);
  const e = parseError(`${OPEN}\n\n${CONNECTED}\n{oops\n${CONNECTED}\n`);
  assert.is(e.line, 4);
  assert.match(e.message, 'not valid JSON');
});

test('a malformed line in the middle -> EventLogParseError with that line number', () => {
  const e = parseError(`${OPEN}\nnot json at all\n${CONNECTED}\n`);
  assert.is(e.line, 2);
  assert.match(e.message, 'event log line 2: not valid JSON');
  assert.not.match(e.message, 'truncated');
});

test('a truncated last line -> the error names that line and says truncated', () => {
  const cut = CONNECTED.slice(0, 15);
  const e = parseError(`${OPEN}\n${CONNECTED}\n${cut}`);
  assert.is(e.line, 3);
  assert.match(e.message, 'event log line 3');
  assert.match(e.message, 'truncated');
});

test('readEventLog of a file whose last record was cut off rejects naming the line', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'cut.jsonl');
    await writeFile(path, `${OPEN}\n${CONNECTED}\n${CONNECTED}\n${CONNECTED.slice(0, -3)}`);
    let error: unknown;
    await readEventLog(path).catch((err: unknown) => (error = err));
    assert.instance(error, EventLogParseError);
    assert.is((error as EventLogParseError).line, 4);
    assert.match((error as Error).message, 'truncated');
  });
});

test('a last line that is complete JSON without a final newline is accepted', () => {
  assert.equal(parseEventLog(`${OPEN}\n${CONNECTED}`), [open(0, '1'), ev(1, '1', { type: 'CONNECTED' })]);
});

test('recoverEventLog: a torn last line is left out and reported with its line, byte offset and length', () => {
  const whole = `${OPEN}\n\n${CONNECTED}\n`;
  const cut = line(ev(2, '1', { type: 'ERROR', side: 'client', code: 'Eé' })).slice(0, 30);
  const { records, torn } = recoverEventLog(whole + cut);
  assert.equal(records, [open(0, '1'), ev(1, '1', { type: 'CONNECTED' })]);
  assert.equal(torn, { line: 4, offset: Buffer.byteLength(whole), bytes: Buffer.byteLength(cut) });
  // Truncating the file at `offset` repairs it: what is left parses strictly to the same records.
  assert.equal(parseEventLog(Buffer.from(whole + cut).subarray(0, torn!.offset).toString()), records);
  assert.equal(recoverEventLog(whole), { records, torn: null });
  assert.equal(recoverEventLog(`${whole}   `), { records, torn: null }, 'a blank unterminated tail is no tear');
  // The strict parser keeps its guarantee: the same text is an error naming the line.
  assert.is(parseError(whole + cut).line, 4);
});

test('only the last, unterminated line can be torn: a malformed middle line or a terminated last line names its line', () => {
  const cut = CONNECTED.slice(0, 12);
  const cases: [text: string, line: number][] = [
    [`${OPEN}\n${cut}\n${CONNECTED}`, 2],
    [`${OPEN}\n${cut}\n${CONNECTED}\n${cut}`, 2],
    [`${OPEN}\n${CONNECTED}\n${cut}\n`, 3],
  ];
  for (const [text, at] of cases) {
    let error: unknown;
    try {
      recoverEventLog(text);
    } catch (err) {
      error = err;
    }
    assert.instance(error, EventLogParseError, JSON.stringify(text));
    assert.is((error as EventLogParseError).line, at);
    assert.match((error as Error).message, 'not valid JSON');
  }
});

test('a last line that is valid JSON without a newline is a whole record: an invalid one is an error, not a tear', () => {
  // No proper prefix of a JSON object is valid JSON, so valid JSON cannot be a record cut short.
  let error: unknown;
  try {
    recoverEventLog(`${OPEN}\n${line({ t: 1, conn: '1', kind: 'event', event: { type: 'EXPLODE' } })}`);
  } catch (err) {
    error = err;
  }
  assert.instance(error, EventLogParseError);
  assert.is((error as EventLogParseError).line, 2);
  assert.match((error as Error).message, 'unknown event type "EXPLODE"');
  assert.equal(recoverEventLog(`${OPEN}\n${CONNECTED}`), { records: [open(0, '1'), ev(1, '1', { type: 'CONNECTED' })], torn: null });
});

test('EventLogParser takes the log in chunks split anywhere, even inside a multi-byte character', () => {
  const recs = [open(0, '1', { ...DEFAULT_SETTINGS }, '127.0.0.1:1'), ev(1, '1', { type: 'ERROR', side: 'server', code: 'É€😀' }), ev(2, '1', { type: 'ABORT' })];
  const bytes = Buffer.from(recs.map(line).join('\n') + '\n' + line(ev(3, '1', { type: 'CLOSE', side: 'client' })).slice(0, 9));
  const expected = { records: recs, torn: { line: 4, offset: bytes.length - 9, bytes: 9 } };
  for (let a = 0; a <= bytes.length; a++) {
    for (const b of [a, Math.min(bytes.length, a + 1), Math.min(bytes.length, a + 7)]) {
      const parser = new EventLogParser();
      const first = Buffer.from(bytes.subarray(0, a));
      parser.write(first);
      first.fill(0); // the parser must not keep a view of a buffer the caller reuses
      parser.write(bytes.subarray(a, b));
      parser.write(bytes.subarray(b));
      assert.equal(parser.end(), expected, `split at ${a} and ${b}`);
    }
  }
  // Text in chunks split at any character, and text after bytes, give the same.
  const chars = Array.from(bytes.toString('utf8'));
  for (let a = 0; a <= chars.length; a++) {
    const parser = new EventLogParser();
    parser.write(chars.slice(0, a).join(''));
    parser.write(Buffer.from(chars.slice(a, a + 3).join('')));
    parser.write(chars.slice(a + 3).join(''));
    assert.equal(parser.end(), expected, `text split at character ${a}`);
  }
});

test('recoverEventLogStream reads a stream chunk by chunk; readEventLog of the same file stays strict', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'torn.jsonl');
    const many = Array.from({ length: 3000 }, (_, i) => ev(i + 1, '1', { type: 'ACTIVITY', clientToServer: i, serverToClient: i }));
    const text = [OPEN, ...many.map(line)].join('\n') + '\n' + CONNECTED.slice(0, -1);
    await writeFile(path, text);
    const stream = createReadStream(path, { highWaterMark: 1024 });
    let chunks = 0;
    stream.on('data', () => chunks++);
    const { records, torn } = await recoverEventLogStream(stream);
    assert.ok(chunks > 100, `read in ${chunks} chunks`);
    assert.equal(records, [open(0, '1'), ...many]);
    assert.equal(torn, { line: 3002, offset: Buffer.byteLength(text) - CONNECTED.length + 1, bytes: CONNECTED.length - 1 });
    let error: unknown;
    await readEventLog(path).catch((err: unknown) => (error = err));
    assert.instance(error, EventLogParseError);
    assert.is((error as EventLogParseError).line, 3002);
  });
});

test('invalid records each name their line and the bad field', () => {
  const cases: [unknown, RegExp][] = [
    [{ t: 1, conn: '1', kind: 'opened', settings: {} }, /kind.*"opened"/],
    [{ t: 1, conn: '1', kind: 'event', event: { type: 'EXPLODE' } }, /unknown event type "EXPLODE"/],
    [{ t: 1, conn: '1', kind: 'event', event: { type: 'END', side: 'left' } }, /event\.side.*"left"/],
    [{ t: 1, conn: '1', kind: 'event', event: { type: 'CLOSE', side: null } }, /event\.side/],
    [{ t: 1, conn: '1', kind: 'disposed', reasons: { client: 'fin', server: 'bored' }, bytes: {}, durationMs: 1 }, /close reason "bored"/],
    [{ t: 1, conn: '1', kind: 'disposed', reasons: { client: 'meh', server: null }, bytes: {}, durationMs: 1 }, /close reason "meh"/],
    [{ t: 1, conn: '1', kind: 'disposed', bytes: {}, durationMs: 1 }, /field reasons/],
    [{ t: '1', conn: '1', kind: 'event', event: { type: 'ABORT' } }, /field t/],
    [{ t: 1, conn: 1.5, kind: 'event', event: { type: 'ABORT' } }, /field conn/],
    [{ t: 1, conn: 'web1.a-1', kind: 'event', event: { type: 'ABORT' } }, /field conn must be a connection id/],
    [{ t: 1, conn: -1, kind: 'event', event: { type: 'ABORT' } }, /field conn/],
    [{ t: 1, conn: '', kind: 'event', event: { type: 'ABORT' } }, /field conn/],
    [{ t: 1, kind: 'event', event: { type: 'ABORT' } }, /field conn/],
    [{ t: 1, conn: '1', kind: 'open' }, /field settings/],
    [{ t: 1, conn: '1', kind: 'event' }, /field event/],
    [{ t: 1, conn: '1', kind: 'event', event: { side: 'client' } }, /field event/],
    [[1, 2, 3], /expected a JSON object/],
    [42, /expected a JSON object/],
  ];
  for (const [value, pattern] of cases) {
    const e = parseError(`${OPEN}\n${CONNECTED}\n${JSON.stringify(value)}\n${CONNECTED}\n`);
    assert.is(e.line, 3, JSON.stringify(value));
    assert.match(e.message, pattern);
  }
});

test('every input event type, timer events and every close reason are accepted', () => {
  const events: RuntimeEvent[] = [
    { type: 'CONNECTED' },
    { type: 'END', side: 'client' },
    { type: 'FINISHED', side: 'server' },
    { type: 'CLOSE', side: 'client' },
    { type: 'ERROR', side: 'server', code: 'EPIPE' },
    { type: 'ERROR', side: 'server' },
    { type: 'TIMEOUT', side: 'client' },
    { type: 'ACTIVITY', clientToServer: 1, serverToClient: 2 },
    { type: 'SHUTDOWN' },
    { type: 'ABORT' },
    { type: 'xstate.after.parityTimeout.connection.watch.parity.armed' },
  ];
  const recs: LogRecord[] = [open(0, '9'), ...events.map((e, i) => ev(i + 1, '9', e))];
  for (const reason of ['fin', 'peer_fin', 'closed', 'peer_closed', 'reset', 'error', 'timeout', 'idle_timeout', 'max_lifetime', 'parity_timeout', 'grace_expired', 'connect_refused', 'connect_timeout', 'connect_error', 'shutdown', 'aborted'] as const) {
    recs.push({ t: 99, conn: '9', kind: 'disposed', reasons: { client: reason, server: null }, bytes: { clientToServer: 0, serverToClient: 0 }, durationMs: 99 });
  }
  assert.equal(parseEventLog(recs.map(line).join('\n') + '\n'), recs);
});

// --- replay --------------------------------------------------------------------------------

/** Drives a MachineSim with a script (numbers advance time) and returns it with its log records. */
function drive(conn: string, settings: ConnectionSettings, script: (ConnectionInputEvent | number)[], t0 = 0) {
  const sim = new MachineSim(settings);
  sim.now = t0;
  for (const step of script) {
    if (typeof step === 'number') sim.advance(step);
    else sim.send(step);
  }
  const records: LogRecord[] = [open(t0, conn, settings, `10.0.0.${conn}:1000`), ...sim.history.map((h) => ev(h.t, conn, h.event))];
  return { sim, records };
}

/** Applies transition() to the events of one connection's records directly. */
function applyByHand(records: LogRecord[], conn: string) {
  const mine = records.filter((r) => r.conn === conn);
  const first = mine[0]!;
  assert.is(first.kind, 'open');
  let [snapshot] = initialTransition(connectionMachine, (first as Extract<LogRecord, { kind: 'open' }>).settings);
  for (const r of mine) if (r.kind === 'event') [snapshot] = transition(connectionMachine, snapshot, r.event as ConnectionInputEvent);
  return snapshot;
}

test('replay rebuilds each connection exactly as transition() applied by hand, timers included', () => {
  const settings = { ...DEFAULT_SETTINGS, gracePeriod: 200, socketTimeout: 50, timeoutBehavior: 'reset' as const };
  const one = drive('1', settings, [
    { type: 'CONNECTED' },
    30,
    { type: 'ACTIVITY', clientToServer: 100, serverToClient: 0 },
    120, // two socket timeouts fire under 'reset'
    { type: 'END', side: 'client' },
    300, // the server's grace expires
    { type: 'CLOSE', side: 'client' },
  ]);
  assert.is(one.sim.status, 'done', 'setup: connection 1 finished');
  assert.ok(one.records.some((r) => r.kind === 'event' && r.event.type.startsWith('xstate.after.gracePeriod')));
  const two = drive('2', { ...DEFAULT_SETTINGS }, [{ type: 'CONNECTED' }, { type: 'ACTIVITY', clientToServer: 5, serverToClient: 6 }], 10);
  const disposed: LogRecord = {
    t: 999,
    conn: '1',
    kind: 'disposed',
    reasons: one.sim.context.reasons,
    bytes: one.sim.context.bytes,
    durationMs: 999,
  };
  // Interleave the two connections' records by time, as a shared log would.
  const records = [...one.records, ...two.records].sort((a, b) => a.t - b.t);
  records.push(disposed);

  const { connections, incomplete } = replay(records);
  assert.equal(incomplete, []);
  assert.equal([...connections.keys()].sort(), ['1', '2']);
  for (const [id, drove] of [['1', one], ['2', two]] as const) {
    const got = connections.get(id)!;
    const byHand = applyByHand(records, id);
    assert.equal(got.value, byHand.value, `value of ${id}`);
    assert.equal(got.context, byHand.context, `context of ${id}`);
    assert.is(got.done, byHand.status === 'done', `done of ${id}`);
    assert.equal(got.output, byHand.output, `output of ${id}`);
    assert.equal(got.value, drove.sim.value, `value of ${id} equals the live sim`);
    assert.equal(got.context, drove.sim.context, `context of ${id} equals the live sim`);
    assert.is(got.id, id);
    assert.is(got.client, `10.0.0.${id}:1000`);
    assert.is(got.timeline, undefined, 'no timeline unless asked');
  }
  const c1 = connections.get('1')!;
  assert.is(c1.done, true);
  assert.equal(c1.output, { reasons: { client: 'fin', server: 'grace_expired' }, ending: { side: 'server', reason: 'grace_expired', phase: 'draining' }, errors: { client: null, server: null }, bytes: { clientToServer: 100, serverToClient: 0 } });
  assert.is(c1.openedAt, 0);
  assert.is(c1.disposedAt, 999);
  const c2 = connections.get('2')!;
  assert.is(c2.done, false);
  assert.is(c2.output, undefined);
  assert.is(c2.openedAt, 10);
  assert.is(c2.disposedAt, undefined);
  assert.equal(c2.context.bytes, { clientToServer: 5, serverToClient: 6 });
});

test('replay uses each connection\'s own settings from its open record', () => {
  const halfOpen = drive('1', { ...DEFAULT_SETTINGS, allowHalfOpen: true }, [{ type: 'CONNECTED' }, { type: 'END', side: 'client' }]);
  const noHalfOpen = drive('2', { ...DEFAULT_SETTINGS, allowHalfOpen: false }, [{ type: 'CONNECTED' }, { type: 'END', side: 'client' }]);
  const { connections } = replay([...halfOpen.records, ...noHalfOpen.records]);
  assert.equal(regionName(connections.get('1')!.value, 'client'), 'draining.readEnded');
  assert.equal(regionName(connections.get('2')!.value, 'client'), 'draining.flushing');
  assert.is(connections.get('2')!.context.settings.allowHalfOpen, false);
});

test('connections whose open record is missing are listed in incomplete and skipped', () => {
  const whole = drive('1', { ...DEFAULT_SETTINGS }, [{ type: 'CONNECTED' }, { type: 'SHUTDOWN' }]);
  const cut = drive('2', { ...DEFAULT_SETTINGS }, [{ type: 'CONNECTED' }, { type: 'END', side: 'server' }]);
  const alsoCut = drive('3', { ...DEFAULT_SETTINGS }, [{ type: 'ABORT' }]);
  // A bounded ring dropped the oldest records, including the open records of 2 and 3.
  const records = [...whole.records, ...cut.records.slice(1), ...alsoCut.records.slice(1), { t: 5, conn: '3', kind: 'disposed', reasons: { client: 'aborted', server: 'aborted' }, bytes: { clientToServer: 0, serverToClient: 0 }, durationMs: 5 } as LogRecord];
  const { connections, incomplete } = replay(records);
  assert.equal(incomplete.sort(), ['2', '3']);
  assert.equal([...connections.keys()], ['1']);
  assert.equal(connections.get('1')!.context.reasons, { client: 'shutdown', server: 'shutdown' });
});

test('a ring that wrapped replays the connections it still has whole', () => {
  const log = new EventLog({ capacity: 6 });
  const first = drive('1', { ...DEFAULT_SETTINGS }, [{ type: 'CONNECTED' }, { type: 'ACTIVITY', clientToServer: 1, serverToClient: 1 }, { type: 'ABORT' }]);
  const second = drive('2', { ...DEFAULT_SETTINGS }, [{ type: 'CONNECTED' }, { type: 'END', side: 'client' }]);
  for (const r of [...first.records, ...second.records]) log.append(r);
  assert.is(log.dropped, 1);
  const { connections, incomplete } = replay(log.records());
  assert.equal(incomplete, ['1']);
  assert.equal(connections.get('2')!.value, second.sim.value);
});

test('timeline gives each event with the client and server states it led to', () => {
  const { records, sim } = drive('7', { ...DEFAULT_SETTINGS, gracePeriod: 100 }, [
    { type: 'CONNECTED' },
    { type: 'ACTIVITY', clientToServer: 10, serverToClient: 20 },
    { type: 'END', side: 'client' },
    { type: 'ERROR', side: 'client', code: 'ECONNRESET' },
    100,
  ]);
  const { connections } = replay(records, { timeline: true });
  const timeline = connections.get('7')!.timeline!;
  assert.equal(timeline, [
    { t: 0, event: 'CONNECTED', client: 'open', server: 'open' },
    { t: 0, event: 'ACTIVITY 10/20', client: 'open', server: 'open' },
    { t: 0, event: 'END client', client: 'draining.readEnded', server: 'draining.flushing' },
    { t: 0, event: 'ERROR client ECONNRESET', client: 'closed', server: 'draining.flushing' },
    { t: 100, event: 'timer gracePeriod (server.draining.flushing)', client: 'closed', server: 'closed' },
  ]);
  assert.is(timeline.length, sim.history.length);
  assert.is(connections.get('7')!.done, true);
});

test('replay of a JSONL file equals replay of the records written to it', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'replay.jsonl');
    const sink = new JsonlSink(path);
    const { records } = drive('3', { ...DEFAULT_SETTINGS, idleTimeout: 40 }, [{ type: 'CONNECTED' }, 20, { type: 'ACTIVITY', clientToServer: 1, serverToClient: 0 }, 100]);
    for (const r of records) sink.write(r);
    await sink.close();
    const fromFile = replay(await readEventLog(path), { timeline: true });
    const fromMemory = replay(records, { timeline: true });
    assert.equal(fromFile.connections.get('3')!.value, fromMemory.connections.get('3')!.value);
    assert.equal(fromFile.connections.get('3')!.context, fromMemory.connections.get('3')!.context);
    assert.equal(fromFile.connections.get('3')!.timeline, fromMemory.connections.get('3')!.timeline);
    assert.equal(fromFile.connections.get('3')!.context.reasons, { client: 'idle_timeout', server: 'idle_timeout' });
  });
});

// --- formatting --------------------------------------------------------------------------

test('describeEvent formats each kind of event', () => {
  assert.is(describeEvent({ type: 'CONNECTED' }), 'CONNECTED');
  assert.is(describeEvent({ type: 'SHUTDOWN' }), 'SHUTDOWN');
  assert.is(describeEvent({ type: 'ABORT' }), 'ABORT');
  assert.is(describeEvent({ type: 'END', side: 'client' } as RuntimeEvent), 'END client');
  assert.is(describeEvent({ type: 'FINISHED', side: 'server' } as RuntimeEvent), 'FINISHED server');
  assert.is(describeEvent({ type: 'CLOSE', side: 'server' } as RuntimeEvent), 'CLOSE server');
  assert.is(describeEvent({ type: 'TIMEOUT', side: 'client' } as RuntimeEvent), 'TIMEOUT client');
  assert.is(describeEvent({ type: 'ERROR', side: 'server', code: 'EPIPE' } as RuntimeEvent), 'ERROR server EPIPE');
  assert.is(describeEvent({ type: 'ERROR', side: 'client' } as RuntimeEvent), 'ERROR client');
  assert.is(describeEvent({ type: 'ACTIVITY', clientToServer: 0, serverToClient: 123 } as RuntimeEvent), 'ACTIVITY 0/123');
  assert.is(describeEvent({ type: 'xstate.after.gracePeriod.connection.client.draining.flushing' }), 'timer gracePeriod (client.draining.flushing)');
  assert.is(describeEvent({ type: 'xstate.after.connectTimeout.connection.server.connecting' }), 'timer connectTimeout (server.connecting)');
  assert.is(describeEvent({ type: 'xstate.after.socketTimeout.connection.watch.timeout.armed' }), 'timer socketTimeout (watch.timeout.armed)');
});

test('regionName formats a side\'s region of a state value', () => {
  const value = { client: 'open', server: { draining: 'writeEnded' }, watch: { timeout: 'done' } };
  assert.is(regionName(value, 'client'), 'open');
  assert.is(regionName(value, 'server'), 'draining.writeEnded');
  assert.is(regionName({ client: { a: { b: 'c' } } }, 'client'), 'a.{"b":"c"}');
  assert.is(regionName({}, 'server'), 'undefined');
  const sim = new MachineSim();
  sim.send({ type: 'CONNECTED' });
  sim.send({ type: 'END', side: 'server' });
  assert.is(regionName(sim.value, 'server'), 'draining.readEnded');
  assert.is(regionName(sim.value, 'client'), 'draining.flushing');
});

test.run();
