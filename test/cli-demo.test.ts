// `proxy-lifecycle demo`, run as a child process: self-contained, loopback only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuilt, runCli } from './helpers/cli-harness.js';

ensureBuilt();

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
  const { code, stdout, stderr } = await runCli(['demo'], 30_000);
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

test('demo --help prints its usage; demo with an argument is exit 2', async () => {
  const help = await runCli(['demo', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /^Usage: proxy-lifecycle demo/);
  const extra = await runCli(['demo', 'now']);
  assert.is(extra.code, 2);
  assert.is(extra.stderr, 'proxy-lifecycle: demo takes no arguments, got "now"\n');
});

test.run();
