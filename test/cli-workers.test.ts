// `forward --workers N` through the real binary: one listening line, one exit code, one
// /metrics summing the workers, shared log files and stderr whose lines never interleave,
// signals relayed to every worker, and a killed worker restarted with its loss reported.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Child, CLI, ensureBuilt, ROOT, runCli, startForward } from './helpers/cli-harness.js';
import { readIfPresent } from './helpers/files.js';
import { closeServer, connect, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const read = readIfPresent;
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** The forward's workers: pid, index and boot id, from /proc. */
function workers(child: Child): { pid: number; index: number; boot: string }[] {
  const out = execFileSync('ps', ['--ppid', String(child.process.pid), '-o', 'pid='], { encoding: 'utf8' });
  return lines(out).map((l) => {
    const pid = Number(l.trim());
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    return { pid, index: Number(env.PL_WORKER_INDEX), boot: env.PL_WORKER_BOOT! };
  });
}

/** One scrape, as `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  return samples(await (await fetch(url)).text());
}

/** A scrape's body as `name{labels}` → value. */
function samples(body: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const l of lines(body)) {
    if (l.startsWith('#')) continue;
    const space = l.lastIndexOf(' ');
    values.set(l.slice(0, space), Number(l.slice(space + 1)));
  }
  return values;
}

/**
 * A slow reader on a real pipe: Node gives a child's 'pipe' stdio as a socket, whose writes
 * land whole up to ~100 KiB, and a reader taking 64 KiB at once frees whole pages; small
 * reads with pauses keep the pipe full and free it a little at a time, which is what splits a
 * write longer than PIPE_BUF between two writers. Copies the pipe to its standard output.
 */
const SLOW_READER = `
const fs = require('node:fs');
const buf = Buffer.alloc(1500);
const pause = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  const n = fs.readSync(0, buf, 0, buf.length, null);
  if (n === 0) break;
  fs.writeSync(1, buf.subarray(0, n));
  Atomics.wait(pause, 0, 0, Number(process.argv[1]));
}`;
const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
const reader = (pauseMs: number) => `${quote(process.execPath)} -e ${quote(SLOW_READER)} ${pauseMs}`;

/** `forward` with its standard error on a pipe to {@link SLOW_READER} (whose output is the child's stderr). */
async function startOnSlowPipe(args: readonly string[]): Promise<{ child: Child; port: number }> {
  const command = [process.execPath, CLI, 'forward', '--listen', '127.0.0.1:0', ...args].map(quote).join(' ');
  const child = new Child('bash', ['-c', `exec ${command} 2> >(${reader(5)} >&2)`]);
  const m = await child.waitFor('stdout', /^listening on 127\.0\.0\.1:(\d+)$/);
  return { child, port: Number(m[1]) };
}

async function withWorkers(args: string[], run: (child: Child, port: number) => Promise<void>, slowPipe = false): Promise<void> {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  let child: Child | undefined;
  try {
    const timeout = args.includes('--shutdown-timeout') ? [] : ['--shutdown-timeout', '1000'];
    const all = ['--target', `127.0.0.1:${upstreamPort}`, '--workers', '2', ...timeout, ...args];
    const started = await (slowPipe ? startOnSlowPipe(all) : startForward(all));
    child = started.child;
    await run(child, started.port);
  } finally {
    await child?.dispose();
    await closeServer(upstream);
  }
}

/** Holds `n` connections open through the proxy, each echoed once. */
async function hold(port: number, n: number): Promise<net.Socket[]> {
  const held: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await connect(port);
    s.on('error', () => {});
    // Flowing, so that a FIN is seen ('end') and the socket leaves readyState 'open'.
    s.resume();
    s.write('x');
    await until(() => s.bytesRead === 1, 'the echo of a held connection');
    held.push(s);
  }
  return held;
}

test('--workers 2: one listening line, both workers serve, /metrics sums them, SIGTERM drains both, exit 0', async () => {
  await withWorkers(['--metrics', '127.0.0.1:0'], async (child, port) => {
    const [, url] = (await child.waitFor('stdout', /^metrics on (http:\/\/\S+)$/))!;
    assert.equal(child.stdoutLines().filter((l) => l.startsWith('listening on')).length, 1);
    const ws = workers(child);
    assert.equal(ws.map((w) => w.index).sort(), [1, 2]);
    assert.is(new Set(ws.map((w) => w.boot)).size, 2, `distinct boot ids: ${ws.map((w) => w.boot).join(', ')}`);
    for (let i = 0; i < 10; i++) assert.is(await roundTrip(port, `hello ${i}`), `hello ${i}`);
    const held = await hold(port, 4);
    const m = await scrape(url!);
    assert.is(m.get('proxy_lifecycle_downstream_cx_total'), 14, 'the counter is summed over the workers');
    assert.is(m.get('proxy_lifecycle_downstream_cx_active'), 4);
    const perWorker = [m.get('proxy_lifecycle_worker_cx_active{worker="1"}'), m.get('proxy_lifecycle_worker_cx_active{worker="2"}')];
    assert.is(perWorker[0]! + perWorker[1]!, 4);
    assert.ok(perWorker[0]! > 0 && perWorker[1]! > 0, `both workers hold connections: ${perWorker.join(', ')}`);
    assert.is(m.get('proxy_lifecycle_cx_termination_total{code="SO"}') ?? 0, 0);
    assert.is(m.get('proxy_lifecycle_workers'), 2);
    child.kill('SIGUSR2');
    await child.waitFor('stderr', /^status: 2 of 2 workers running, 0 restarts$/);
    for (const w of [1, 2]) await child.waitFor('stderr', new RegExp(`^worker ${w}: status: ${perWorker[w - 1]} connections open, \\d+ accepted, 0 refused;`));
    for (const s of held) s.end();
    await until(() => child.stderrLines().filter((l) => l.startsWith('conn=')).length === 14, 'the access-log lines of all 14');
    // Connection ids are unique across the workers: each carries its worker's boot id.
    const ids = child.stderrLines().filter((l) => l.startsWith('conn=')).map((l) => /^conn=(\S+)/.exec(l)![1]!);
    assert.is(new Set(ids).size, 14, `unique ids: ${ids.join(' ')}`);
    const boots = new Set(ids.map((id) => id.split('-').at(-2)));
    assert.equal([...boots].sort(), ws.map((w) => w.boot).sort(), `ids carry both workers' boot ids: ${ids.join(' ')}`);
    child.kill('SIGTERM');
    const exit = await child.done();
    assert.equal(exit, { code: 0, signal: null }, child.stderr);
    assert.match(child.stderr, /^SIGTERM: not accepting connections; 0 in flight, destroying what is left in 1000 ms$/m);
    assert.match(child.stderr, /^stopped: 0 finished, 0 destroyed$/m);
    assert.equal(child.stdoutLines().length, 2, child.stdout);
  });
});

test('LineWriter maxWrite 4096: two processes writing one full pipe as fast as they can never split a line', async () => {
  const index = join(ROOT, 'dist', 'index.js');
  // Each writes 8 000 lines of 300 bytes as fast as it can (what the buffer cannot hold is dropped and counted).
  const writer = (id: string) =>
    `${quote(process.execPath)} --input-type=module -e ${quote(`
      const { LineWriter } = await import(${JSON.stringify(index)});
      const w = new LineWriter({ dest: 1, maxWrite: 4096, minLength: 2048 });
      let i = 0;
      const burst = () => {
        for (let k = 0; k < 500 && i < 8000; k++, i++) w.write('${id} ' + String(i).padStart(6, '0') + ' ' + 'p'.repeat(284) + ' end');
        if (i < 8000) setImmediate(burst); else void w.close();
      };
      burst();`)}`;
  const child = new Child('bash', ['-c', `{ ${writer('A')} & ${writer('B')} & wait; } | ${reader(0)}`]);
  assert.equal(await child.done(60_000), { code: 0, signal: null }, child.stderr);
  const got = child.stdoutLines();
  assert.ok(got.length > 1000, `lines came through: ${got.length}`);
  const torn = got.filter((l) => !/^[AB] \d{6} p{284} end$/.test(l));
  assert.equal(torn.slice(0, 3), [], `${torn.length} torn lines of ${got.length}`);
  for (const id of ['A', 'B']) {
    const seq = got.filter((l) => l.startsWith(id)).map((l) => Number(l.slice(2, 8)));
    assert.ok(seq.every((n, i) => i === 0 || n > seq[i - 1]!), `${id}'s lines in order`);
  }
});

test('--workers 2 under load: lines on the shared stderr pipe and in the shared files never interleave or tear', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-workers-'));
  const log = join(dir, 'events.jsonl');
  const access = join(dir, 'access.jsonl');
  try {
    for (const where of ['stderr', 'file'] as const) {
      const args = ['--json', '--log', log, ...(where === 'file' ? ['--access-log', access] : [])];
      await withWorkers(args, async (child, port) => {
        const total = 1500;
        let next = 0;
        // 40 clients at once, each sending a long line: many lines per write, from both workers.
        const client = async () => {
          while (next < total) {
            const i = next++;
            const text = `${i} ${'y'.repeat(200)}`;
            assert.is(await roundTrip(port, text), text);
          }
        };
        await Promise.all(Array.from({ length: 40 }, client));
        child.kill('SIGTERM');
        assert.is((await child.done()).code, 0, child.stderr.slice(-2000));
        const accessText = where === 'file' ? read(access) : child.stderr;
        const entries = lines(accessText)
          .filter((l) => l.includes('"conn"'))
          .map((l) => {
            try {
              return JSON.parse(l) as Record<string, unknown>;
            } catch {
              throw new Error(`a torn or interleaved access-log line (${where}): ${l.slice(0, 300)}`);
            }
          });
        assert.is(entries.length, total, `every connection has its line (${where})`);
        assert.ok(accessText.endsWith('\n'));
        const records = lines(read(log)).map((l) => {
          try {
            return JSON.parse(l) as { kind: string };
          } catch {
            throw new Error(`a torn or interleaved event-log line: ${l.slice(0, 300)}`);
          }
        });
        assert.is(records.filter((r) => r.kind === 'disposed').length, total);
        if (where === 'stderr') {
          // Every other line on stderr is a whole notice.
          for (const l of child.stderrLines()) assert.not.throws(() => JSON.parse(l), l.slice(0, 200));
        }
      }, where === 'stderr');
      rmSync(log, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a killed worker is restarted with a new boot id; its loss is one line and two metrics; the others keep serving', async () => {
  await withWorkers(['--metrics', '127.0.0.1:0'], async (child, port) => {
    const [, url] = (await child.waitFor('stdout', /^metrics on (http:\/\/\S+)$/))!;
    const held = await hold(port, 4);
    const before = workers(child);
    const victim = before.find((w) => w.index === 1)!;
    let m = await scrape(url!);
    const victimHeld = m.get('proxy_lifecycle_worker_cx_active{worker="1"}')!;
    assert.ok(victimHeld > 0 && victimHeld < 4, `worker 1 holds some: ${victimHeld}`);
    // Past a report interval (250 ms): the primary knows what worker 1 holds.
    await new Promise((r) => setTimeout(r, 600));
    process.kill(victim.pid, 'SIGKILL');
    await child.waitFor('stderr', new RegExp(`^worker 1 \\(pid ${victim.pid}\\) exited with signal SIGKILL: ${victimHeld} connection\\(s\\) lost$`));
    // ps and /proc race the fork: a pid listed may be gone or not yet exec'd.
    const current = () => {
      try {
        return workers(child);
      } catch {
        return [];
      }
    };
    await child.waitFor('stderr', /^worker 1 restarted \(pid \d+\)$/);
    await until(() => current().some((w) => w.index === 1 && w.pid !== victim.pid), 'the new worker 1');
    const after = current();
    const reborn = after.find((w) => w.index === 1)!;
    assert.is.not(reborn.boot, victim.boot, 'a restarted worker has a boot id of its own');
    assert.is(after.find((w) => w.index === 2)!.pid, before.find((w) => w.index === 2)!.pid, 'worker 2 untouched');
    // The victim's connections are gone; worker 2's still echo; new connections are served.
    await until(() => held.filter((s) => s.readyState === 'open').length === 4 - victimHeld, "the victim's connections closed");
    for (const s of held.filter((s) => s.readyState === 'open')) {
      const had = s.bytesRead;
      s.write('z');
      await until(() => s.bytesRead === had + 1, 'a survivor still echoes');
    }
    for (let i = 0; i < 4; i++) assert.is(await roundTrip(port, `after ${i}`), `after ${i}`);
    m = await scrape(url!);
    assert.is(m.get('proxy_lifecycle_worker_restarts_total'), 1);
    assert.is(m.get('proxy_lifecycle_worker_lost_connections_total'), victimHeld);
    for (const s of held) s.destroy();
    child.kill('SIGTERM');
    assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
  });
});

test('/metrics while a worker is stopped, killed and restarting: every scrape answers with the live workers, and the summed counters never go backwards', async () => {
  await withWorkers(['--metrics', '127.0.0.1:0'], async (child, port) => {
    const [, url] = (await child.waitFor('stdout', /^metrics on (http:\/\/\S+)$/))!;
    /** A scrape that must succeed, as `name{labels}` → value. */
    const ok = async () => {
      const res = await fetch(url!);
      const body = await res.text();
      assert.is(res.status, 200, body);
      return samples(body);
    };
    for (let i = 0; i < 10; i++) assert.is(await roundTrip(port, `hello ${i}`), `hello ${i}`);
    const held = await hold(port, 4);
    const total = 'proxy_lifecycle_downstream_cx_total';
    const before = await ok();
    assert.is(before.get(total), 14);
    const ws = workers(child);
    const w1 = ws.find((w) => w.index === 1)!;
    const w2 = ws.find((w) => w.index === 2)!;
    const held1 = before.get('proxy_lifecycle_worker_cx_active{worker="1"}')!;
    assert.ok(held1 > 0 && held1 < 4, `worker 1 holds some: ${held1}`);

    // Stopped: alive, but it answers nothing. The scrape has worker 2's gauges and both workers' counts.
    process.kill(w1.pid, 'SIGSTOP');
    try {
      const stopped = await ok();
      assert.is(stopped.get('proxy_lifecycle_worker_cx_active{worker="1"}'), undefined);
      assert.is(stopped.get('proxy_lifecycle_worker_cx_active{worker="2"}'), 4 - held1);
      assert.is(stopped.get(total), 14, "worker 1's last counts stand in");
    } finally {
      process.kill(w1.pid, 'SIGCONT');
    }

    // Killed: scraped until it is back; what it counted stays in the sum, what it held leaves the gauge.
    await new Promise((r) => setTimeout(r, 600)); // past a report interval: the loss line says what it held
    process.kill(w1.pid, 'SIGKILL');
    const seen: number[] = [];
    while (!child.stderrLines().some((l) => /^worker 1 restarted /.test(l))) {
      seen.push((await ok()).get(total)!);
      assert.ok(child.running, child.stderr);
    }
    assert.ok(seen.every((n) => n >= 14), `the total never dipped: ${seen.join(' ')}`);
    await until(() => held.filter((s) => s.readyState === 'open').length === 4 - held1, "worker 1's connections closed");
    for (let i = 0; i < 4; i++) assert.is(await roundTrip(port, `after ${i}`), `after ${i}`);
    const after = await ok();
    assert.is(after.get(total), 14 + 4, 'the 14 counted before the kill, and the 4 since');
    assert.is(after.get('proxy_lifecycle_downstream_cx_active'), 4 - held1, "a gauge keeps nothing of the dead worker's");
    assert.is(after.get('proxy_lifecycle_worker_cx_active{worker="1"}'), 0, 'the new worker 1 holds none');
    assert.is(workers(child).find((w) => w.index === 2)!.pid, w2.pid);
    for (const s of held) s.destroy();
    child.kill('SIGTERM');
    assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);
  });
});

test('a worker killed during the drain: non-zero exit, one line naming it', async () => {
  await withWorkers(['--shutdown-timeout', '600000'], async (child, port) => {
    const held = await hold(port, 2);
    const ws = workers(child);
    child.kill('SIGTERM');
    await child.waitFor('stderr', /^SIGTERM: not accepting connections; 2 in flight/);
    const victim = ws.find((w) => w.index === 2)!;
    process.kill(victim.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    // The second signal ends the other worker's drain now.
    child.kill('SIGINT');
    const exit = await child.done();
    assert.is(exit.code, 1, child.stderr);
    assert.match(child.stderr, new RegExp(`^worker 2 \\(pid ${victim.pid}\\) exited with signal SIGKILL: 1 connection\\(s\\) lost$`, 'm'));
    assert.not.match(child.stderr, /^worker 1 /m);
    for (const s of held) s.destroy();
  });
});

test('SIGHUP reopens the shared --log and --access-log in every worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-workers-rotate-'));
  const log = join(dir, 'events.jsonl');
  const access = join(dir, 'access.log');
  const accessCount = (f: string) => lines(read(f)).filter((l) => l.startsWith('conn=')).length;
  const disposedCount = (f: string) => lines(read(f)).filter((l) => (JSON.parse(l) as { kind: string }).kind === 'disposed').length;
  try {
    await withWorkers(['--log', log, '--access-log', access], async (child, port) => {
      for (let i = 0; i < 4; i++) assert.is(await roundTrip(port, `before ${i}`), `before ${i}`);
      await until(() => accessCount(access) === 4 && disposedCount(log) === 4, 'the first four connections on disk');
      const held = await hold(port, 2);
      renameSync(log, `${log}.1`);
      renameSync(access, `${access}.1`);
      child.kill('SIGHUP');
      await child.waitFor('stderr', new RegExp(`^SIGHUP: reopened ${log}, ${access}$`));
      assert.is(child.stderrLines().filter((l) => l.startsWith('SIGHUP')).length, 1, 'one notice for all workers');
      for (const s of held) {
        s.write('!');
        await until(() => s.bytesRead === 2, 'a held connection carries on across the reopen');
      }
      for (let i = 0; i < 4; i++) assert.is(await roundTrip(port, `after ${i}`), `after ${i}`);
      for (const s of held) s.end();
      child.kill('SIGTERM');
      assert.is((await child.done()).code, 0, child.stderr);
      assert.is(accessCount(`${access}.1`), 4, 'the rotated access log keeps what came before');
      assert.is(disposedCount(`${log}.1`), 4);
      // Both workers write the new files: 4 short connections (2 each) and the 2 held ones.
      assert.is(accessCount(access), 6);
      assert.is(disposedCount(log), 6);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--workers 2 on a port in use: one line from the primary, exit 2; bad --workers values are refused', async () => {
  const holder = net.createServer();
  const port = await listen(holder);
  try {
    const result = await runCli(['forward', '--listen', `127.0.0.1:${port}`, '--target', '127.0.0.1:9', '--workers', '2']);
    assert.is(result.code, 2);
    assert.is(result.stdout, '');
    assert.is(result.stderr, `proxy-lifecycle: cannot listen on 127.0.0.1:${port}: the address is already in use\n`);
  } finally {
    await closeServer(holder);
  }
  for (const bad of ['0', 'two', '1.5', '257']) {
    const r = await runCli(['forward', '--listen', '0', '--target', '127.0.0.1:9', '--workers', bad]);
    assert.is(r.code, 2);
    assert.is(r.stderr, `proxy-lifecycle: --workers must be auto or a whole number from 1 to 256, got ${JSON.stringify(bad)}\n`);
  }
  const inspect = await runCli(['forward', '--listen', '0', '--target', '127.0.0.1:9', '--workers', '2', '--inspect']);
  assert.is(inspect.stderr, 'proxy-lifecycle: --inspect needs --workers 1: the relay runs in one process\n');
});

test('a worker killed while the primary answers its listen: one line, exit 1, no crash of the primary', async () => {
  // Node's cluster writes the answer to the worker's channel itself; to a dead worker that
  // write fails (EPIPE) and is emitted on its Worker, which threw in the primary without a
  // listener. The fixture kills each worker right after it asks (a race: five starts).
  const fixture = join(ROOT, 'test', 'fixtures', 'worker-dies-on-listen.cjs');
  for (let i = 0; i < 5; i++) {
    const child = new Child(process.execPath, ['--require', fixture, CLI, 'forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--workers', '2']);
    const exit = await child.done(20_000);
    assert.match(child.stderr, /^proxy-lifecycle: worker [12] \(pid \d+\) exited with signal SIGKILL before listening\n$/, `start ${i}: ${child.stderr}`);
    assert.is(exit.code, 1, `start ${i}`);
  }
});

test.run();
