// Bad input to the `proxy-lifecycle` binary: one clear line naming the problem, exit 2, no
// stack trace, nothing on stdout. Also what it prints without a command: usage, version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, ensureBuilt, runCli } from './helpers/cli-harness.js';

ensureBuilt();

const T = ['--target', '127.0.0.1:9'];
const L = ['--listen', '127.0.0.1:0'];
// Written out, not imported from src/cli/duration.ts: the binary's message is what is tested.
const FORMS = 'a duration such as 250ms, 30s, 5m, 1h, 1h30m or 1.5s (units ms, s, m, h, d; a plain number is milliseconds)';
/** A bad duration names the flag and the forms. */
const duration = (flag: string, text: string) => `${flag} must be ${FORMS}, at most 2147483647 ms (about 24.8 days), got ${JSON.stringify(text)}`;

const CASES: [args: string[], message: string][] = [
  [['forward', '--listen', '0', '--tagret', '127.0.0.1:9'], 'unknown flag --tagret for forward (did you mean --target?)'],
  [['forward', ...L, ...T, '-x'], 'unknown flag -x for forward'],
  [['forward', ...T], 'forward needs --listen [HOST:]PORT'],
  [['forward', ...L], 'forward needs --target HOST:PORT'],
  [['forward', '--listen', ...T], '--listen needs a value'],
  [['forward', '--listen', '70000', ...T], '--listen: port must be a whole number from 0 to 65535, got "70000"'],
  [['forward', '--listen', 'localhost:http', ...T], '--listen: port must be a whole number from 0 to 65535, got "http"'],
  [['forward', '--listen', '::1:80', ...T], '--listen: write an IPv6 address in brackets, as [::1]:PORT'],
  [['forward', ...L, '--target', 'db.internal'], '--target: expected HOST:PORT, got "db.internal"'],
  [['forward', ...L, '--target', '5432'], '--target: expected HOST:PORT, got "5432" (the host is missing)'],
  [['forward', ...L, '--target', ':5432'], '--target: the host is missing in ":5432"'],
  [['forward', ...L, '--target', 'db:0'], '--target: port must be a whole number from 1 to 65535, got "0"'],
  [['forward', ...L, '--target', 'db host:5432'], '--target: "db host" is not a host name or address'],
  [['forward', ...L, ...T, '--listen', '127.0.0.1:1'], '--listen is given more than once'],
  [['forward', ...L, ...T, '--grace-period', '-1'], duration('--grace-period', '-1')],
  [['forward', ...L, ...T, '--socket-timeout', '5sec'], duration('--socket-timeout', '5sec')],
  [['forward', ...L, ...T, '--connect-timeout', '0'], '--connect-timeout must be a number of milliseconds from 1 to 2147483647, got 0'],
  [['forward', ...L, ...T, '--parity-timeout', 'NaN'], duration('--parity-timeout', 'NaN')],
  [['forward', ...L, ...T, '--idle-timeout', '30m1h'], duration('--idle-timeout', '30m1h')],
  [['forward', ...L, ...T, '--max-lifetime', '99999999999'], duration('--max-lifetime', '99999999999')],
  [['forward', ...L, ...T, '--keep-alive', '1s1s'], duration('--keep-alive', '1s1s')],
  [['forward', ...L, ...T, '--keep-alive=soon'], `--keep-alive takes ${FORMS} or nothing, got "soon"`],
  [['forward', ...L, ...T, '--timeout-behavior', 'drop'], "--timeout-behavior must be one of 'reset', 'close', 'ignore', got \"drop\""],
  [['forward', ...L, ...T, '--shutdown-timeout', 'soon'], duration('--shutdown-timeout', 'soon')],
  [['forward', ...L, ...T, '--quiet=yes'], '--quiet takes no value'],
  [['forward', ...L, ...T, '--log', '/nonexistent-dir/x.jsonl'], '--log: cannot open /nonexistent-dir/x.jsonl: no such directory'],
  [['forward', ...L, ...T, 'extra'], 'forward takes no positional arguments, got "extra"'],
  [['forward', '--listen', '192.0.2.1:0', ...T], 'cannot listen on 192.0.2.1:0: the address is not available on this machine'],
  [['replay'], 'replay needs an event log FILE (written by forward --log FILE), or - for standard input'],
  [['replay', 'a.jsonl', 'b.jsonl'], 'replay takes one FILE, got 2 arguments'],
  [['replay', 'a.jsonl', '--connection', 'web1.x'], '--connection must be a connection id (up to 100 of A-Z a-z 0-9 _ -, e.g. web1-mf3k2a1b-7, or 7 in an older log), got "web1.x"'],
  [['forward', '--listen', '1', '--target', 'h:2', '--instance', 'a*b'], '--instance must be 1 to 32 of the characters A-Z a-z 0-9 _ - (it is part of every connection id and a NATS subject token), got "a*b"'],
  [['serve'], 'unknown command "serve"; commands: forward, replay, diagram, demo'],
  [['--listen', '80'], 'expected a command (forward, replay, diagram, demo) before --listen'],
];

for (const [args, message] of CASES) {
  test(`${args.join(' ')} -> exit 2: ${message}`, async () => {
    const { code, signal, stdout, stderr } = await runCli(args);
    assert.equal({ code, signal }, { code: 2, signal: null });
    assert.is(stdout, '');
    assert.is(stderr, `proxy-lifecycle: ${message}\n`);
  });
}

test('no command prints the usage on stderr, exit 2; --help prints it on stdout, exit 0', async () => {
  const none = await runCli([]);
  assert.is(none.code, 2);
  assert.is(none.stdout, '');
  assert.match(none.stderr, /^proxy-lifecycle: .*\n\nUsage:\n {2}proxy-lifecycle forward --listen/);
  for (const flag of ['--help', '-h', 'help']) {
    const help = await runCli([flag]);
    assert.is(help.code, 0);
    assert.is(help.stdout, none.stderr);
  }
  const forward = await runCli(['forward', '--help']);
  assert.is(forward.code, 0);
  for (const flag of ['--listen', '--target', '--grace-period', '--socket-timeout', '--timeout-behavior', '--parity-timeout', '--parity-inactivity', '--connect-timeout', '--idle-timeout', '--max-lifetime', '--no-half-open', '--shutdown-timeout', '--log', '--json', '--quiet', '--accept-proxy', '--send-proxy', '--instance']) {
    assert.ok(forward.stdout.includes(`  ${flag} `), `forward --help documents ${flag}`);
  }
  const replay = await runCli(['replay', '-h']);
  assert.is(replay.code, 0);
  assert.match(replay.stdout, /^Usage: proxy-lifecycle replay FILE\|- \[--connection ID\]/);
});

test("--version and -v print package.json's version on stdout, exit 0", async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-v']) {
    const run = await runCli([flag]);
    assert.equal({ code: run.code, stdout: run.stdout, stderr: run.stderr }, { code: 0, stdout: `${version}\n`, stderr: '' }, flag);
  }
});

test.run();
