// Every command's output reaches a slow pipe whole: the process exits only once its lines are
// out (`replay big.jsonl | wc -l` used to print a few hundred of thousands of lines).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SETTINGS, type LogRecord } from '../src/index.js';
import { CLI, ensureBuilt, runCli } from './helpers/cli-harness.js';

ensureBuilt();

/** A log of `n` connections, each opened, connected, closed by both sides and disposed. */
function bigLog(n: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    const t = i * 10;
    const conn = `big-b-${i}`;
    const records: LogRecord[] = [
      { t, conn, kind: 'open', settings: DEFAULT_SETTINGS },
      { t: t + 1, conn, kind: 'event', event: { type: 'CONNECTED' } },
      { t: t + 2, conn, kind: 'event', event: { type: 'END', side: 'client' } },
      { t: t + 3, conn, kind: 'event', event: { type: 'END', side: 'server' } },
    ];
    for (const r of records) lines.push(JSON.stringify(r));
  }
  return lines.join('\n') + '\n';
}

/** Runs the CLI with its stdout on a pipe read slowly: paused for `pauseMs` after every chunk. */
function readSlowly(args: readonly string[], pauseMs: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), pauseMs);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

test('replay to a slow pipe prints every line, the same as to a fast reader', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-slow-pipe-'));
  try {
    const file = join(dir, 'big.jsonl');
    writeFileSync(file, bigLog(3000));
    const fast = await runCli(['replay', file]);
    assert.is(fast.code, 0, fast.stderr);
    const lines = fast.stdout.split('\n').length;
    assert.ok(lines > 10_000, `a big output (${lines} lines) that overflows the pipe buffer many times`);
    const slow = await readSlowly(['replay', file], 20);
    assert.is(slow.code, 0);
    assert.is(slow.stdout.length, fast.stdout.length, 'nothing cut');
    assert.ok(slow.stdout === fast.stdout, 'the same lines in the same order');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a command whose reader goes away (replay | head) exits quietly, code 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-slow-pipe-'));
  try {
    const file = join(dir, 'big.jsonl');
    writeFileSync(file, bigLog(3000));
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'replay', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.stdout.once('data', () => child.stdout.destroy());
      child.once('close', (c) => resolve({ code: c, stderr: err }));
    });
    assert.is(code, 0);
    assert.is(stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
