/**
 * The soak (bench/soak.ts) in a CI-sized run: 300 connections with random lifecycles over a
 * simulated 2 hours on real loopback sockets, in a child process with --expose-gc (the test
 * runner has no gc of its own). The child asserts and exits 1 on failure; this test checks
 * the exit code and the printed figures too.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runSoak(args: string[], ms = 180_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/soak.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`soak did not finish within ${ms} ms\n${stdout}\n${stderr}`));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function figures(run: Run): Record<string, any> {
  const line = run.stdout.split('\n').find((l) => l.startsWith('SOAK_RESULT '));
  assert.ok(line, `no SOAK_RESULT line in:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(line!.slice('SOAK_RESULT '.length));
}

test('soak: 300 connections over a simulated 2 h leave nothing behind and a flat heap', async () => {
  const run = await runSoak(['--connections', '300', '--hours', '2', '--json']);
  const f = figures(run);
  assert.is(run.code, 0, `exit code (output:\n${run.stdout}\n${run.stderr})`);
  assert.match(run.stdout, /^RESULT PASS$/m);
  assert.equal(f.failures, []);
  assert.is(f.connections, 300, 'every connection ran');
  assert.ok(f.peakConcurrent > 150, `most of them at once: peak ${f.peakConcurrent}`);
  assert.is(f.simulatedHours, 2);
  assert.ok(f.gcExposed, 'the heap was measured after gc');
  assert.ok(f.heapGrowthPct <= f.maxHeapGrowthPct, `heap growth ${f.heapGrowthPct} %`);
  assert.ok(f.supervisorEmpty, 'supervisor empty');
  assert.equal(f.stats, { active: 0, total: 300 + f.warmupConnections, closed: 300 + f.warmupConnections, refused: 0 });
  assert.is(f.clockTimers, 0, 'no timer left on the clock');
  assert.is(f.leakedHandles, 0, 'no handle leaked');
  assert.is(f.releaseFailures, 0, 'every connection released its sockets, listeners and timers');
  assert.is(f.peersClosedByTheSoak, 0, 'every test peer closed on its own');
  // Every connection was logged from open to disposed, with its events in between.
  assert.is(f.records.open, f.stats.total);
  assert.is(f.records.disposed, f.stats.total);
  assert.ok(f.records.event > 10 * f.stats.total, `events: ${f.records.event}`);
  // ...and each one replays from its own records to the reasons and code it was disposed with.
  assert.is(f.replayed, f.stats.total, 'every connection replayed');
  assert.is(f.replayMismatches, 0, 'every replay ends where the live connection did');
  // The lifecycles were varied: closes by either side, resets, timers, refusals, the shutdown.
  const codes = Object.keys(f.codes);
  for (const code of ['CO', 'SO', 'cO', 'sO', 'iO', 'pH', 'lO', 'RK']) assert.ok(codes.includes(code), `code ${code} seen (${codes.join(' ')})`);
  assert.ok(f.liveAtShutdown > 0, 'some connections were live at the final shutdown');
});

// The open-files limit is read from /proc (Linux).
const withLimits = existsSync('/proc/self/limits') ? test : test.skip;
withLimits('soak: exits 1 when asked for more concurrency than the open-files limit allows', async () => {
  const run = await runSoak(['--connections', '20', '--hours', '0.05', '--warmup', '10', '--concurrency', '100000000', '--json']);
  assert.is(run.code, 1, `exit code (output:\n${run.stdout}\n${run.stderr})`);
  assert.match(run.stdout, /^RESULT FAIL$/m);
  assert.ok(figures(run).failures.some((x: string) => x.includes('file descriptors')));
});

test.run();
