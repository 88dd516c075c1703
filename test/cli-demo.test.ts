// `proxy-lifecycle demo`, run as a child process: self-contained, loopback only.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readEventLog, replay } from '../src/index.js';
import { spawn } from 'node:child_process';
import { CLI, ensureBuilt, runCli } from './helpers/cli-harness.js';

ensureBuilt();

const tmp = mkdtempSync(join(tmpdir(), 'pl-cli-demo-'));
const logFile = join(tmp, 'demo.jsonl');
// One demo run (about 3 s) for every test that needs it, with its event log. uvu swallows
// errors thrown in hooks, so each test awaits this instead: a failed run fails them.
let run: ReturnType<typeof runCli> | undefined;
const demo = () => (run ??= runCli(['demo', '--log', logFile], 30_000));

interface TableRow {
  scenario: string;
  cells: string[];
}

/** Parses the summary table: columns are separated by two or more spaces. */
function table(stdout: string): TableRow[] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('scenario ') && l.includes('delivered'));
  assert.ok(header !== -1, `no summary table in:\n${stdout}`);
  const rows: TableRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (line.trim() === '') break;
    const cells = line.split(/\s{2,}/);
    rows.push({ scenario: cells[0]!, cells });
  }
  return rows;
}

test('demo runs every scenario against real sockets, shows lifecycles as they happen, and every check passes', async () => {
  const { code, stdout, stderr } = await demo();
  assert.is(code, 0, `exit code; stdout:\n${stdout}\nstderr:\n${stderr}`);
  assert.is(stderr, '');
  const rows = table(stdout);
  assert.equal(rows.map((r) => r.scenario), [
    'half-close echo',
    "stream after the request's FIN",
    'idle connection, socket timeouts',
    'peer reset',
    'shutdown: response in flight',
    'shutdown: idle at the deadline',
    'shutdown: new connection',
  ]);
  for (const { scenario, cells } of rows) {
    const [, expected, delivered, , , , result] = cells;
    assert.is(delivered, expected, `${scenario}: delivered what was expected`);
    assert.ok(result!.startsWith('ok'), `${scenario}: ${cells.join(' | ')}`);
  }
  const by = new Map(rows.map((r) => [r.scenario, r.cells]));
  assert.equal(by.get('half-close echo')!.slice(1, 6), ['1048576 B', '1048576 B', 'fin', 'peer_fin', 'CO']);
  assert.equal(by.get("stream after the request's FIN")!.slice(1, 6), ['10240 B', '10240 B', 'fin', 'peer_fin', 'CO']);
  assert.equal(by.get('peer reset')!.slice(3, 6), ['peer_closed', 'reset', 'sO']);
  assert.equal(by.get('shutdown: idle at the deadline')!.slice(3, 6), ['aborted', 'aborted', 'AO']);
  assert.equal(by.get('shutdown: new connection')!.slice(1, 3), ['refused', 'refused']);
  const survived = /survived (\d+) socket timeouts?/.exec(by.get('idle connection, socket timeouts')!.join(' '));
  assert.ok(survived !== null && Number(survived[1]) >= 1, 'the idle connection survived socket timeouts');
  // The lifecycle is shown as it happens: the events that make each scenario.
  assert.match(stdout, /^\s+#\d+\s+\+\d+ ms\s+END client\s+draining\.readEnded\s+draining\.flushing$/m);
  assert.match(stdout, /^\s+#\d+\s+\+\d+ ms\s+timer socketTimeout \(watch\.timeout\.armed\)\s+open\s+open$/m);
  assert.match(stdout, /^\s+#\d+\s+\+\d+ ms\s+ERROR server ECONNRESET\s+draining\.flushing\s+closed$/m);
  assert.match(stdout, /^\s+#\d+\s+\+\d+ ms\s+ABORT\s+closed\s+closed$/m);
  assert.match(stdout, /^all 7 checks passed$/m);
});

test('demo --log FILE appends the event log: replay reads one complete connection per demo connection, with the endings the demo printed', async () => {
  const { code, stdout } = await demo();
  assert.is(code, 0);
  // What the demo printed live: each connection's id, and its termination code when it closed.
  const shown = new Set([...stdout.matchAll(/^\s+#(\d+)\s/gm)].map((m) => Number(m[1])));
  const printedCodes = new Map([...stdout.matchAll(/^\s+#(\d+)\s+closed after \d+ ms: term (\S+),/gm)].map((m) => [Number(m[1]), m[2]!]));
  assert.ok(shown.size >= 6, `the demo shows its connections (${[...shown].join(', ')})`);
  assert.equal([...printedCodes.keys()].sort((a, b) => a - b), [...shown].sort((a, b) => a - b), 'every connection the demo shows closes');
  assert.ok(stdout.includes(`\nevent log of ${shown.size} connections appended to ${logFile} (proxy-lifecycle replay ${logFile})\n`), 'the demo says where the log is');

  // The library reads it: one connection per demo connection, each replayed to its end.
  const records = await readEventLog(logFile);
  const { connections, incomplete } = replay(records);
  assert.equal(incomplete, []);
  const counterOf = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));
  assert.equal([...connections.keys()].map(counterOf).sort((a, b) => a - b), [...shown].sort((a, b) => a - b), 'one logged connection per demo connection');
  for (const [id, c] of connections) {
    assert.ok(c.done, `connection ${id} is complete in the log`);
    const disposed = records.find((r) => r.kind === 'disposed' && r.conn === id);
    assert.ok(disposed !== undefined && disposed.kind === 'disposed', `connection ${id} has a disposed record`);
    assert.is(disposed.code, printedCodes.get(counterOf(id)), `connection ${id}: the logged code is the one the demo printed`);
  }
  // The demo's endings are all there: a clean close, a server reset, a server-side close, an abort.
  const codes = new Set(records.flatMap((r) => (r.kind === 'disposed' ? [r.code] : [])));
  for (const code of ['CO', 'sO', 'SO', 'AO']) assert.ok(codes.has(code), `code ${code} in the log (${[...codes].join(', ')})`);

  // The command line reads it too: a complete timeline per connection, nothing skipped.
  const replayed = await runCli(['replay', logFile]);
  assert.is(replayed.code, 0, replayed.stderr);
  assert.is(replayed.stderr, '');
  const headers = [...replayed.stdout.matchAll(/^connection [A-Za-z0-9_-]+-[0-9a-z]+-(\d+) from 127\.0\.0\.1:\d+, opened /gm)].map((m) => Number(m[1]));
  assert.equal(headers.sort((a, b) => a - b), [...shown].sort((a, b) => a - b));
  const closedCodes = [...replayed.stdout.matchAll(/^\s+closed after \d+ ms: term (\S+),/gm)].map((m) => m[1]);
  assert.is(closedCodes.length, shown.size, 'each timeline ends closed');
  assert.not.match(replayed.stdout, /still open|skipped connection|no close record/);
});

test('demo --help prints its usage; demo with an argument or an unwritable --log is exit 2', async () => {
  const help = await runCli(['demo', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /^Usage: proxy-lifecycle demo \[--log FILE\]/);
  assert.match(help.stdout, /^\s+--log FILE\s+append the proxy's event log to FILE/m);
  const extra = await runCli(['demo', 'now']);
  assert.is(extra.code, 2);
  assert.is(extra.stderr, 'proxy-lifecycle: demo takes no arguments, got "now"\n');
  // Refused before anything starts: no output, nothing run.
  const missingDir = join(tmp, 'no-such-dir', 'demo.jsonl');
  const bad = await runCli(['demo', '--log', missingDir]);
  assert.is(bad.code, 2);
  assert.is(bad.stderr, `proxy-lifecycle: --log: cannot open ${missingDir}: no such directory\n`);
  assert.is(bad.stdout, '');
  const dir = await runCli(['demo', '--log', tmp]);
  assert.is(dir.code, 2);
  assert.is(dir.stderr, `proxy-lifecycle: --log: cannot open ${tmp}: it is a directory\n`);
  const empty = await runCli(['demo', '--log']);
  assert.is(empty.code, 2);
  assert.is(empty.stderr, 'proxy-lifecycle: --log needs a value\n');
  assert.not.ok(existsSync(missingDir));
});

test.after(async () => {
  // A test that failed before the run finished still leaves no child behind.
  await run?.catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

test('a reader that goes away (demo | head -1) is no crash: the demo finishes and exits 0', async () => {
  const child = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Like head: read the first chunk, then close the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.is(code, 0, stderr);
  assert.not.match(stderr, 'EPIPE');
});

test.run();
