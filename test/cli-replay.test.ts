// `proxy-lifecycle replay FILE`: the timeline of each connection of an event log written by
// `forward --log FILE`, run as a child process; also a log torn by kill -9, and `replay -`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, ROOT, accessLines, ensureBuilt, runCli, startForward, type Child } from './helpers/cli-harness.js';
import { closeServer, connect, echoServer, listen, readAll } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const tmp = mkdtempSync(join(tmpdir(), 'pl-cli-replay-'));
const logFile = join(tmp, 'run.jsonl');
const liveCopy = join(tmp, 'live.jsonl');
let access: Record<string, string>[] = [];
let froms: string[] = [];
/** What every connection id of a log starts with (`rt-<boot>-`), read from its first record. */
const prefixOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as { conn: string }).conn.replace(/\d+$/, '');
/** Connection `n` of the recorded run (`--instance rt`) and of the torn one (`--instance tn`). */
const rt = (n: number) => prefixOf(logFile) + n;
const tn = (n: number) => prefixOf(wholeFile) + n;

/** The section of replay output about one connection: from its header to the blank line. */
function section(stdout: string, id: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`connection ${id} `));
  if (start === -1) return [];
  const end = lines.indexOf('', start);
  return lines.slice(start, end === -1 ? undefined : end);
}

// uvu swallows errors thrown in hooks, so each test awaits this instead: a failed setup fails them.
let setup: Promise<void> | undefined;
const recorded = () => (setup ??= record());

/** Runs `forward` to an echo upstream with `args`, then cleans both up, whatever `run` did. */
async function withForward(args: readonly string[], run: (child: Child, port: number) => Promise<void>): Promise<void> {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  let child: Child | undefined;
  try {
    const started = await startForward(['--target', `127.0.0.1:${upstreamPort}`, ...args]);
    child = started.child;
    await run(child, started.port);
  } finally {
    await child?.dispose();
    await closeServer(upstream);
  }
}

/** A half-closed echo of `hello` through the proxy on `port`; resolves with the client's address. */
async function echoHello(port: number): Promise<string> {
  const a = await connect(port);
  const from = `127.0.0.1:${a.localPort}`;
  const got = readAll(a);
  a.end('hello');
  await got;
  a.destroy();
  return from;
}

async function record(): Promise<void> {
  // One run of the proxy: a normal half-closed echo, a client that resets, and a snapshot of
  // the log taken while a third connection is still open.
  await withForward(['--log', logFile, '--shutdown-timeout', '100', '--instance', 'rt'], async (child, port) => {
    froms.push(await echoHello(port));
    await child.waitFor('stderr', /^conn=rt-[0-9a-z]+-1 /);

    const b = await connect(port);
    froms.push(`127.0.0.1:${b.localPort}`);
    b.on('error', () => {});
    b.write('bye');
    await until(() => b.bytesRead === 3, 'the echo of bye');
    b.resetAndDestroy();
    await child.waitFor('stderr', /^conn=rt-[0-9a-z]+-2 /);

    const c = await connect(port);
    c.write('still here');
    await until(() => c.bytesRead === 10, 'the echo of still here');
    await until(() => /"conn":"rt-[0-9a-z]+-3","kind":"event"/.test(readFileSync(logFile, 'utf8')), 'connection 3 in the log');
    copyFileSync(logFile, liveCopy);
    c.on('end', () => c.end());
    child.kill('SIGTERM');
    const exit = await child.done();
    assert.equal(exit, { code: 0, signal: null });
    access = accessLines(child);
    c.destroy();
  });
}

test('replay prints each connection: timeline of both sides, then reasons and term as the access log had them', async () => {
  await recorded();
  const { code, stdout, stderr } = await runCli(['replay', logFile]);
  assert.is(code, 0, stderr);
  assert.is(stderr, '');
  const one = section(stdout, rt(1));
  assert.is(one[0], `connection ${rt(1)} from ${froms[0]}, ${one[0]!.split(', ').pop()}`);
  assert.match(one[0]!, /opened \d{4}-\d\d-\d\dT/);
  assert.match(one[1]!, /^\s+time\s+event\s+client\s+server$/);
  assert.match(one[2]!, /^\s+\+0 ms\s+open\s+open\s+connecting$/);
  assert.ok(one.some((l) => /^\s+\+\d+ ms\s+CONNECTED\s+open\s+open$/.test(l)), one.join('\n'));
  assert.ok(one.some((l) => /END client\s+draining\.readEnded\s+draining\.flushing$/.test(l)), one.join('\n'));
  assert.ok(one.some((l) => /CLOSE server\s+closed\s+closed$/.test(l) || /CLOSE client\s+closed\s+closed$/.test(l)), 'both sides end closed');
  const [a, b] = access;
  assert.is(one[one.length - 1], `  closed after ${a!.duration_ms} ms: term ${a!.term}, client ${a!.client_close}, server ${a!.server_close}, c2s 5 B, s2c 5 B`);
  assert.equal([a!.term, a!.client_close, a!.server_close], ['CO', 'fin', 'peer_fin']);

  const two = section(stdout, rt(2));
  assert.ok(two[0]!.startsWith(`connection ${rt(2)} from ${froms[1]}`));
  assert.ok(two.some((l) => /ERROR client ECONNRESET\s+closed\s+draining\.flushing$/.test(l)), two.join('\n'));
  assert.is(
    two[two.length - 1],
    `  closed after ${b!.duration_ms} ms: term ${b!.term}, client ${b!.client_close}, server ${b!.server_close}, c2s 3 B, s2c 3 B, client error ECONNRESET`,
  );
  assert.equal([b!.term, b!.client_close, b!.server_close], ['cO', 'reset', 'peer_closed']);
  assert.ok(section(stdout, rt(3)).length > 0, 'connection 3 (closed at shutdown) is there too');
});

test('replay --connection ID prints that connection only; an unknown id is exit 2', async () => {
  await recorded();
  const only = await runCli(['replay', logFile, '--connection', rt(2)]);
  assert.is(only.code, 0, only.stderr);
  assert.is(section(only.stdout, rt(1)).length, 0);
  assert.ok(section(only.stdout, rt(2)).length > 3);
  assert.is(section(only.stdout, rt(3)).length, 0);

  const missing = await runCli(['replay', '--connection', rt(9), logFile]);
  assert.is(missing.code, 2);
  assert.is(missing.stdout, '');
  assert.is(missing.stderr, `proxy-lifecycle: connection ${rt(9)} is not in ${logFile} (it has connections ${rt(1)}, ${rt(2)}, ${rt(3)})\n`);
  const bad = await runCli(['replay', logFile, '--connection', 'a.b']);
  assert.equal([bad.code, bad.stdout], [2, '']);
  assert.match(bad.stderr, /^proxy-lifecycle: --connection must be a connection id \(up to 100 of A-Z a-z 0-9 _ -/);
});

test('a log cut while a connection was open shows it as still open', async () => {
  await recorded();
  const { code, stdout } = await runCli(['replay', liveCopy, '--connection', rt(3)]);
  assert.is(code, 0);
  const three = section(stdout, rt(3));
  assert.is(three[three.length - 1], '  still open at the end of the log: client open, server open, term so far --');
});

/** Runs `replay - ...args` with `input` on its standard input. */
async function replayStdin(input: Buffer, args: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'replay', '-', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const closed = once(child, 'close');
  // In two writes, so the log arrives in more than one chunk.
  child.stdin.write(input.subarray(0, input.length >> 1));
  child.stdin.end(input.subarray(input.length >> 1));
  const [code] = (await closed) as [number | null];
  return { code, stdout, stderr };
}

// A log torn the way a crash tears it: a proxy killed with SIGKILL while a connection is
// open, its log then cut in the middle of the last line (a write the kernel got only part of).
const tornFile = join(tmp, 'torn.jsonl');
const wholeFile = join(tmp, 'whole.jsonl');
let tornLine = 0;
let tornBytes = 0;
let tornSetup: Promise<void> | undefined;
const torn = () => (tornSetup ??= tear());

async function tear(): Promise<void> {
  await withForward(['--log', tornFile, '--quiet', '--instance', 'tn'], async (child, port) => {
    await echoHello(port);
    await until(() => /"conn":"tn-[0-9a-z]+-1","kind":"disposed"/.test(readFileSync(tornFile, 'utf8')), 'connection 1 closed in the log');
    const b = await connect(port);
    b.on('error', () => {});
    b.write('mid-flight');
    await until(() => b.bytesRead === 10, 'the echo of mid-flight');
    await until(() => /"conn":"tn-[0-9a-z]+-2","kind":"event".*ACTIVITY/.test(readFileSync(tornFile, 'utf8')), 'connection 2 active in the log');
    child.kill('SIGKILL');
    assert.equal(await child.done(), { code: null, signal: 'SIGKILL' });
    b.destroy();
  });
  const text = readFileSync(tornFile, 'utf8');
  assert.ok(text.endsWith('\n'), 'SIGKILL itself left whole lines');
  const lines = text.slice(0, -1).split('\n');
  const last = lines[lines.length - 1]!;
  tornLine = lines.length;
  tornBytes = Buffer.byteLength(last) >> 1;
  truncateSync(tornFile, Buffer.byteLength(text) - Buffer.byteLength(last) - 1 + tornBytes);
  // The same log without its torn line: the whole records only.
  writeFileSync(wholeFile, lines.slice(0, -1).join('\n') + '\n');
  assert.is(statSync(tornFile).size, statSync(wholeFile).size + tornBytes);
}

const tornMessage = (name: string) =>
  `proxy-lifecycle: ${name}: line ${tornLine} is torn (${tornBytes} bytes without an end of line, as a crash mid-write leaves it); replayed the ${tornLine - 1} records before it\n`;

test('replay of a log torn by kill -9 replays every whole record and exits 0, saying on stderr which line was torn', async () => {
  await torn();
  const { code, stdout, stderr } = await runCli(['replay', tornFile]);
  assert.is(code, 0, stderr);
  assert.is(stderr, tornMessage(tornFile));
  const whole = await runCli(['replay', wholeFile]);
  assert.equal([whole.code, whole.stderr], [0, '']);
  assert.is(stdout, whole.stdout, 'the same timelines as the log of whole records');
  assert.match(section(stdout, tn(1)).at(-1)!, /^ {2}closed after \d+ ms: term CO, client fin, server peer_fin, c2s 5 B, s2c 5 B$/);
  const two = section(stdout, tn(2));
  // Connection 2's whole records are there, up to the torn one.
  assert.ok(two.some((l) => /^\s+\+\d+ ms\s+CONNECTED\s+open\s+open$/.test(l)), two.join('\n'));
  assert.match(two.at(-1)!, /^ {2}still open at the end of the log: /);
  // --html and --connection read the torn log the same way.
  const page = join(tmp, 'torn.html');
  const html = await runCli(['replay', tornFile, '--html', page, '--connection', tn(2)]);
  assert.equal([html.code, html.stdout, html.stderr], [0, `wrote ${page} (1 connection)\n`, tornMessage(tornFile)]);
});

test('a malformed middle line is exit 2 with its line number, as is a complete malformed last line; no stack trace', async () => {
  await torn();
  const lines = readFileSync(wholeFile, 'utf8').split('\n').filter(Boolean);
  // A torn line followed by more records is corruption, not a tear: it is not the last line.
  const middle = join(tmp, 'middle.jsonl');
  writeFileSync(middle, [lines[0], lines[1]!.slice(0, 20), ...lines.slice(2)].join('\n') + '\n');
  const cut = await runCli(['replay', middle]);
  assert.equal([cut.code, cut.stdout], [2, '']);
  assert.match(cut.stderr, new RegExp(`^proxy-lifecycle: ${middle}: event log line 2: not valid JSON \\([^\\n]+\\)\\n$`));
  // A cut last line that still has its newline is not a tear either.
  const ended = join(tmp, 'ended.jsonl');
  writeFileSync(ended, [...lines.slice(0, -1), lines.at(-1)!.slice(0, 20)].join('\n') + '\n');
  const terminated = await runCli(['replay', ended]);
  assert.is(terminated.code, 2);
  assert.match(terminated.stderr, new RegExp(`^proxy-lifecycle: ${ended}: event log line ${lines.length}: not valid JSON`));

  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(bad, `${lines[0]}\n{"t":1,"conn":1,"kind":"event","event":{"type":"EXPLODE"}}\n`);
  const malformed = await runCli(['replay', bad]);
  assert.is(malformed.code, 2);
  assert.is(malformed.stderr, `proxy-lifecycle: ${bad}: event log line 2: unknown event type "EXPLODE"\n`);

  const none = await runCli(['replay', join(tmp, 'nope.jsonl')]);
  assert.is(none.code, 2);
  assert.is(none.stderr, `proxy-lifecycle: cannot read ${join(tmp, 'nope.jsonl')}: no such file\n`);
  const dir = await runCli(['replay', tmp]);
  assert.equal([dir.code, dir.stderr], [2, `proxy-lifecycle: cannot read ${tmp}: it is a directory\n`]);
});

test('replay - reads the log from standard input, with --connection and --html too', async () => {
  await recorded();
  const log = readFileSync(logFile);
  const fromFile = await runCli(['replay', logFile]);
  const piped = await replayStdin(log);
  assert.equal(piped, { code: 0, stdout: fromFile.stdout, stderr: '' });
  const two = await replayStdin(log, ['--connection', rt(2)]);
  assert.equal(two, { code: 0, stdout: (await runCli(['replay', logFile, '--connection', rt(2)])).stdout, stderr: '' });
  const page = join(tmp, 'stdin.html');
  const html = await replayStdin(log, ['--html', page]);
  assert.equal(html, { code: 0, stdout: `wrote ${page} (3 connections)\n`, stderr: '' });
  assert.match(readFileSync(page, 'utf8'), /<title>standard input/);
  const missing = await replayStdin(log, ['--connection', rt(9)]);
  assert.equal(missing, { code: 2, stdout: '', stderr: `proxy-lifecycle: connection ${rt(9)} is not in standard input (it has connections ${rt(1)}, ${rt(2)}, ${rt(3)})\n` });

  await torn();
  const tornPiped = await replayStdin(readFileSync(tornFile));
  assert.equal(tornPiped, { code: 0, stdout: (await runCli(['replay', wholeFile])).stdout, stderr: tornMessage('standard input') });
  const empty = await replayStdin(Buffer.alloc(0));
  assert.equal(empty, { code: 0, stdout: 'standard input holds no connections\n', stderr: '' });
});

test('a log whose open records were dropped says which connections it skipped', async () => {
  await recorded();
  const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  const withoutOpen1 = join(tmp, 'no-open.jsonl');
  writeFileSync(withoutOpen1, lines.filter((l) => !(l.includes(`"conn":"${rt(1)}",`) && l.includes('"kind":"open"'))).join('\n') + '\n');
  const { code, stdout } = await runCli(['replay', withoutOpen1]);
  assert.is(code, 0);
  assert.is(section(stdout, rt(1)).length, 0);
  assert.ok(stdout.includes(`\nskipped connection ${rt(1)}: the log lost its open record\n`), stdout);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
