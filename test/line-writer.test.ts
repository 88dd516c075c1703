// The buffered asynchronous writer behind the event log, the access log and the CLI's output:
// at most flushInterval late (through the injected clock), bounded when the disk fails or is
// slow (drop and count), one report per outage, and a reopen that resumes.
import fs, { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collectMetrics, InvalidOptionError, LineWriter, ManualClock, Supervisor } from '../src/index.js';
import { until } from './helpers/wait.js';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pl-line-writer-'));
  try {
    await run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const io = () => new Promise((r) => setTimeout(r, 20));

test('lines reach the file in order, each with its newline; flush() resolves once they are written', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'a.log');
    const w = new LineWriter({ dest: file });
    for (let i = 0; i < 1000; i++) assert.ok(w.write(`line ${i}`));
    await w.flush();
    assert.is(w.pending, 0);
    const lines = read(file).split('\n');
    assert.is(lines.length, 1001);
    assert.is(lines[999], 'line 999');
    assert.is(lines[1000], '');
    await w.close();
    assert.not.ok(w.write('after close'), 'a closed writer takes nothing');
    assert.is(w.dropped, 1);
  });
});

test('lines in any script are written byte for byte (encoded once into the slab, measured once)', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'utf8.log');
    const w = new LineWriter({ dest: file, minLength: 8192 });
    const lines = ['café', 'host=例え.jp', 'emoji=🚀', 'a'.repeat(70_000), 'tail'];
    for (const line of lines) assert.ok(w.write(line));
    await w.close();
    assert.is(readFileSync(file).equals(Buffer.from(lines.map((l) => l + '\n').join(''))), true);
    assert.is(w.pending, 0);
  });
});

test('buffered lines wait for the flush timer, one timer per window, armed on the injected clock', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.log');
    const clock = new ManualClock();
    const w = new LineWriter({ dest: file, minLength: 8192, flushInterval: 100, clock });
    await io(); // the file opens
    for (let i = 0; i < 50; i++) w.write(`conn=${i}`);
    assert.is(clock.pending, 1, 'one timer for fifty lines');
    await io();
    assert.is(read(file), '', 'below minLength: nothing written before the timer');
    clock.advance(99);
    await io();
    assert.is(read(file), '');
    clock.advance(1);
    await until(() => read(file).split('\n').length === 51, 'the fifty lines, at 100 ms');
    assert.is(clock.pending, 0, 'no timer while nothing waits');
    await w.close();
  });
});

test('lines written before the file opens go out when it opens, and cancel their flush timer: no stale flush after a close', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'early.log');
    const clock = new ManualClock();
    const w = new LineWriter({ dest: file, minLength: 8192, flushInterval: 100, clock });
    // Before the asynchronous open completes: the line waits, with its flush timer armed.
    w.write('early');
    assert.is(clock.pending, 1);
    await until(() => read(file) === 'early\n', 'written once the file opens, without waiting for the timer');
    assert.is(clock.pending, 0, 'the flush timer was cancelled with the write it stood for');
    await w.close();
    // A timer left behind would now flush a closed sonic-boom, which throws.
    clock.advance(1000);
    assert.is(read(file), 'early\n');
  });
});

test('a failing destination: one error event for the outage, failed writes counted, the buffer bounded and the excess dropped', async () => {
  const w = new LineWriter({ dest: '/dev/full', maxBuffer: 4096 });
  const errors: NodeJS.ErrnoException[] = [];
  w.on('error', (err) => errors.push(err));
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    if (w.write(`record ${i} ${'x'.repeat(40)}`)) accepted++;
    if (i % 100 === 0) await io();
  }
  await w.flush();
  assert.is(errors.length, 1, 'reported once');
  assert.is(errors[0]!.code, 'ENOSPC');
  assert.ok(w.failures > 1, `failed writes counted: ${w.failures}`);
  assert.ok(w.failing);
  assert.ok(w.pending <= 4096, `bounded: ${w.pending} bytes held`);
  assert.is(w.dropped, 2000 - accepted);
  assert.ok(w.dropped > 1500, `the excess dropped and counted: ${w.dropped}`);
  await w.close();
});

test('after an outage, a reopen on a working path writes what waited and reports the recovery with its cost', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'c.log');
    symlinkSync('/dev/full', file);
    const w = new LineWriter({ dest: file, maxBuffer: 1024 });
    const recovered: { failures: number; dropped: number }[] = [];
    w.on('recover', (o) => recovered.push(o));
    await io();
    for (let i = 0; i < 100; i++) w.write(`line ${String(i).padStart(3, '0')} ${'y'.repeat(20)}`);
    await w.flush();
    assert.ok(w.failing);
    const dropped = w.dropped;
    assert.ok(dropped > 0);
    unlinkSync(file);
    w.reopen();
    await until(() => recovered.length === 1, 'the recovery');
    assert.is(recovered[0]!.dropped, dropped);
    assert.ok(recovered[0]!.failures >= 1);
    assert.not.ok(w.failing);
    w.write('after');
    await w.flush();
    const lines = read(file).trimEnd().split('\n');
    assert.is(lines.length, 100 - dropped + 1, 'what waited, then the new line');
    assert.ok(lines[0]!.startsWith('line 000'), 'the oldest lines were kept, the newest dropped');
    assert.is(lines.at(-1), 'after');
    await w.close();
  });
});

test('a file that cannot be opened: one error, lines dropped and counted, never a throw; a reopen once the directory exists writes again', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'later', 'd.log');
    const w = new LineWriter({ dest: file });
    const errors: string[] = [];
    w.on('error', (err) => errors.push(err.code ?? ''));
    await io();
    for (let i = 0; i < 10; i++) w.write(`lost ${i}`);
    assert.equal(errors, ['ENOENT']);
    assert.is(w.dropped, 10);
    mkdirSync(join(dir, 'later'));
    w.reopen();
    w.write('kept');
    await until(() => read(file) === 'kept\n', 'the line after the reopen');
    await w.close();
  });
});

test('log_records_dropped_total counts each sink from zero', async () => {
  const supervisor = new Supervisor();
  const failing = new LineWriter({ dest: '/dev/full', maxBuffer: 256 });
  const healthy = { dropped: 0 };
  const metrics = await collectMetrics(supervisor, { sinks: { access_log: failing, event_log: healthy } });
  const value = async (sink: string) => {
    const metric = await metrics.register.getSingleMetric('proxy_lifecycle_log_records_dropped_total')!.get();
    return metric.values.find((v) => v.labels.sink === sink)?.value;
  };
  assert.is(await value('access_log'), 0);
  assert.is(await value('event_log'), 0);
  for (let i = 0; i < 50; i++) failing.write(`line ${i} ${'z'.repeat(30)}`);
  assert.ok(failing.dropped > 0);
  assert.is(await value('access_log'), failing.dropped);
  assert.is(await value('event_log'), 0);
  metrics.stop();
  await failing.close();
});

test('bad options are refused with the field named', () => {
  const refused = (options: ConstructorParameters<typeof LineWriter>[0], field: string) => {
    try {
      new LineWriter(options);
    } catch (err) {
      assert.ok(err instanceof InvalidOptionError);
      assert.is(err.option, field);
      return;
    }
    assert.unreachable(`${field} accepted`);
  };
  refused({ dest: -1 }, 'dest');
  refused({ dest: {} as unknown as string }, 'dest');
  refused({ dest: 2, minLength: 16 * 1024 }, 'minLength');
  refused({ dest: 2, minLength: 100, maxBuffer: 50 }, 'maxBuffer');
  refused({ dest: 2, flushInterval: 2 ** 31 }, 'flushInterval');
  refused({ dest: 2, maxWrite: 0 }, 'maxWrite');
  refused({ dest: 2, maxWrite: 16 * 1024 + 1 }, 'maxWrite');
  refused({ dest: 2, maxWrite: 4096, minLength: 4096 }, 'minLength');
});

test('lines are gathered up to minLength and handed to sonic-boom as one buffer each time, not one per line', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'a.log');
    const handed: number[] = [];
    const w = new LineWriter({ dest: file, minLength: 8192 });
    // The writer's sonic-boom (private): what each of its write() calls is given.
    const boom = (w as unknown as { boom: { write(data: string | Buffer): boolean } }).boom;
    const original = boom.write;
    boom.write = function (this: unknown, data: string | Buffer) {
      handed.push(Buffer.byteLength(data));
      return original.call(this, data);
    };
    const line = (i: number) => `${String(i).padStart(6, '0')} ${'x'.repeat(90)}`; // 98 bytes a line
    for (let i = 0; i < 1000; i++) w.write(line(i));
    await w.close();
    assert.is(handed.reduce((a, b) => a + b, 0), 1000 * 98, 'every line handed');
    assert.is(handed.length, Math.ceil(1000 / 84), 'one hand per 84 lines (the first 8192 bytes or more), and the rest at close');
    assert.ok(handed.slice(0, -1).every((n) => n >= 8192 && n < 8192 + 98), `each hand just past minLength: ${handed.join(' ')}`);
    // 98 KB: past the first 64 KB slab, whose last lines move to the next one.
    assert.is(read(file), Array.from({ length: 1000 }, (_, i) => line(i) + '\n').join(''));
  });
});

test('maxWrite: every write() carries whole lines and at most maxWrite bytes (a pipe shared by workers)', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'a.log');
    // sonic-boom calls fs.write at each write: record what each one carried.
    const sizes: string[] = [];
    const original = fs.write;
    fs.write = ((fd: number, data: unknown, ...rest: unknown[]) => {
      // Buffers (the writer's) or strings: the lines they carry.
      if (typeof data === 'string' || Buffer.isBuffer(data)) sizes.push(data.toString());
      return (original as (...a: unknown[]) => void)(fd, data, ...rest);
    }) as typeof fs.write;
    try {
      for (const minLength of [0, 3000]) {
        sizes.length = 0;
        const w = new LineWriter({ dest: file, maxWrite: 4096, minLength });
        // 97 + 1 bytes a line: 4096 is not a multiple, so a cut by size alone would tear one.
        for (let i = 0; i < 2000; i++) w.write(`${String(i).padStart(6, '0')} ${'x'.repeat(90)}`);
        await w.close();
        const total = sizes.reduce((n, s) => n + Buffer.byteLength(s), 0);
        assert.is(total, 2000 * 98, 'every line written');
        assert.ok(sizes.length >= (2000 * 98) / 4096, `at least ${Math.ceil((2000 * 98) / 4096)} writes, got ${sizes.length}`);
        for (const s of sizes) {
          assert.ok(Buffer.byteLength(s) <= 4096, `a write of ${Buffer.byteLength(s)} bytes`);
          assert.ok(s.endsWith('\n'), 'a write ends on a line boundary');
        }
      }
    } finally {
      fs.write = original;
    }
    assert.is(read(file).split('\n').length, 2 * 2000 + 1);
  });
});

test.run();
