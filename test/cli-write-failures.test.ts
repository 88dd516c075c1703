// Write failures never kill the proxy: standard error on a full device, --log and --access-log
// on a full disk (/dev/full behind a symlink). The first failure of each sink is one line,
// repeats are counted, and writing resumes after a reopen (SIGHUP) once the sink works again.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEventLog, replay } from '../src/index.js';
import { CLI, ensureBuilt, startForward, type Child } from './helpers/cli-harness.js';
import { closeServer, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const count = (text: string, pattern: RegExp) => text.split('\n').filter((l) => pattern.test(l)).length;

test('standard error on a full device: the proxy keeps proxying, says so once on stdout, and exits after a clean drain', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const full = openSync('/dev/full', 'w');
  const child = spawn(process.execPath, [CLI, 'forward', '--listen', '127.0.0.1:0', '--target', `127.0.0.1:${upstreamPort}`], {
    stdio: ['ignore', 'pipe', full],
  });
  closeSync(full);
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    await until(() => /listening on 127\.0\.0\.1:\d+/.test(stdout), 'listening on');
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
    // Enough connections for the access log to fail many times over.
    for (let i = 0; i < 20; i++) assert.is(await roundTrip(port, `hello ${i}`), `hello ${i}`);
    await until(() => /access log \(stderr\): write failed/.test(stdout), 'the access log failure, reported');
    assert.is(child.exitCode, null, 'still running');
    child.kill('SIGTERM');
    assert.is(await exited, 1, 'access-log lines were lost: exit 1, after a clean drain');
    assert.is(count(stdout, /^access log \(stderr\): write failed \(ENOSPC/), 1, `one line for the whole outage:\n${stdout}`);
    assert.match(stdout, /^stopped: 0 finished, 0 destroyed$/m);
    assert.match(stdout, /^access log \(stderr\): \d+ lines dropped, \d+ bytes unwritten$/m);
  } finally {
    child.kill('SIGKILL');
    await exited;
    await closeServer(upstream);
  }
});

for (const [flag, sinkName] of [
  ['--log', (f: string) => `--log ${f}`],
  ['--access-log', (f: string) => `access log ${f}`],
] as const) {
  test(`${flag} on a full disk: reported once, the proxy carries on, and a reopen after the disk is back writes everything`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-full-'));
    const file = join(dir, 'out.log');
    symlinkSync('/dev/full', file);
    const upstream = echoServer();
    const upstreamPort = await listen(upstream);
    let child: Child | undefined;
    try {
      const started = await startForward(['--target', `127.0.0.1:${upstreamPort}`, flag, file, '--shutdown-timeout', '200']);
      child = started.child;
      for (let i = 0; i < 10; i++) assert.is(await roundTrip(started.port, `x${i}`), `x${i}`);
      const failed = new RegExp(`^${sinkName(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: write failed \\(ENOSPC`);
      await child.waitFor('stderr', failed);
      for (let i = 0; i < 10; i++) assert.is(await roundTrip(started.port, `y${i}`), `y${i}`);
      // The disk is back (the path now leads to a real file); SIGHUP reopens it.
      unlinkSync(file);
      child.kill('SIGHUP');
      await child.waitFor('stderr', /writing again after \d+ failed writes?; 0 lines dropped$/);
      assert.is(count(child.stderr, failed), 1, `one failure line for the outage:\n${child.stderr}`);
      child.kill('SIGTERM');
      assert.is((await child.done()).code, 0, child.stderr);
      const text = readFileSync(file, 'utf8');
      if (flag === '--log') {
        // Nothing was lost: the records buffered during the outage came first.
        const { connections } = replay(parseEventLog(text));
        assert.is(connections.size, 20);
        for (const c of connections.values()) assert.ok(c.done);
      } else {
        assert.is(count(text, /^conn=[A-Za-z0-9_-]+-\d+ /), 20);
      }
    } finally {
      await child?.dispose();
      await closeServer(upstream);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
