/**
 * The package as a user gets it. `npm pack` runs in a copy of the work tree (so dist/ here is
 * left alone), its tarball is installed into a fresh project without the optional peer, and
 * there: the declarations type-check with `skipLibCheck: false` under node16 (ESM and CJS)
 * and bundler resolution, every ts/js snippet of README.md and docs/ compiles and runs as
 * pasted (as ESM, and as CommonJS unless it awaits at its top level), and publint and
 * arethetypeswrong check the tarball. Installs come from npm's cache (`--prefer-offline`):
 * `npm ci` put every package there.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/cli-harness.js';
import { hasTopLevelAwait, projectSnippets, type Snippet } from './helpers/snippets.js';

const exec = promisify(execFile);
const BIN = join(ROOT, 'node_modules', '.bin');
const version = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

// Child processes write no V8 coverage for c8 to merge: tsc, tsup and npm are large.
const env: NodeJS.ProcessEnv = { ...process.env, NODE_V8_COVERAGE: undefined };

const work = mkdtempSync(join(tmpdir(), 'pl-package-'));
const consumer = join(work, 'consumer');
let tarball = '';
let packed: string[] = [];

/** Runs a command to its end; resolves with its stdout and stderr, one after the other. */
async function run(command: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  const { stdout, stderr } = await runFor(command, args, cwd, timeout);
  return stdout + stderr;
}

async function runFor(command: string, args: string[], cwd: string, timeout: number): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(command, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** Copies every file git would commit (tracked, or new and not ignored) into `to`. */
async function copyWorkTree(to: string): Promise<void> {
  const list = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], ROOT);
  for (const file of list.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)))) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'), 'dir');
}

// --- the snippets, as files of the consumer project ---

const snippets = projectSnippets(ROOT).filter((s) => s.mode.kind !== 'skip');

function fileBase(s: Snippet, i: number): string {
  return `s${String(i + 1).padStart(2, '0')}-${s.where.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
}

/** A snippet without imports or exports would be a script; this keeps its names its own. */
function asModule(code: string): string {
  return /^(import|export)\s/m.test(code) ? code : `${code}export {};\n`;
}

interface Variant {
  snippet: Snippet;
  /** The compiled file to run, relative to the consumer project. */
  file: string;
  format: 'ESM' | 'CJS';
}

const variants: Variant[] = snippets.flatMap((s, i): Variant[] => {
  const base = fileBase(s, i);
  if (s.lang === 'js') return [{ snippet: s, file: `snippets/${base}.mjs`, format: 'ESM' }];
  const esm: Variant = { snippet: s, file: `out/${base}.mjs`, format: 'ESM' };
  return hasTopLevelAwait(s.code) ? [esm] : [esm, { snippet: s, file: `out/${base}.cjs`, format: 'CJS' }];
});

/** A consumer of both entry points: the public surface, and a real connection through it. */
const SURFACE = `import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import * as pkg from 'proxy-lifecycle';
import { Supervisor, type CloseInfo, type Connection } from 'proxy-lifecycle';
// @ts-expect-error: the binding's environment is internal
import type { ConnectionEnvironment } from 'proxy-lifecycle';
import { DEFAULT_SETTINGS, closeCode, connectionMachine } from 'proxy-lifecycle/machines';

const INTERNAL = ['boundListenerCount', 'tableFor', 'TransitionTable', 'TransitionRuntime', 'createTransitionRuntime', 'diagramBlock', 'hasDiagramBlock', 'readDiagramBlock', 'replaceDiagramBlock', 'DIAGRAM_START', 'DIAGRAM_END'];

async function main(): Promise<void> {
  for (const name of INTERNAL) assert.ok(!(name in pkg), name + ' is not exported');
  assert.equal(connectionMachine.id, pkg.connectionMachine.id);
  assert.equal(closeCode(null), pkg.closeCode(null));
  assert.equal(typeof DEFAULT_SETTINGS.gracePeriod, 'number');

  const upstream = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s)).listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const target = (upstream.address() as net.AddressInfo).port;
  const supervisor = new Supervisor();
  let taken: Connection | undefined;
  supervisor.on('connection', (c) => (taken = c));
  const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
    supervisor.forward(client, () => net.connect(target, '127.0.0.1'));
  }).listen(0, '127.0.0.1');
  await once(proxy, 'listening');

  const client = net.connect((proxy.address() as net.AddressInfo).port, '127.0.0.1');
  client.end('ping');
  let echoed = '';
  client.setEncoding('utf8').on('data', (s: string) => (echoed += s));
  await once(client, 'close');
  const conn = taken!;
  const info: CloseInfo = await conn.whenClosed();
  assert.equal(echoed, 'ping');
  assert.deepEqual(info.bytes, { clientToServer: 4, serverToClient: 4 });
  assert.equal(conn.clientToServer, 4);

  // What the socket handlers and the runtime call is out of reach, and the counters read-only.
  for (const name of ['socketEvent', 'socketClosed', 'effect', 'record', 'done', 'beforeTimer', 'closed', 'paused']) {
    assert.equal((conn as unknown as Record<string, unknown>)[name], undefined, name + ' is not on Connection');
  }
  // @ts-expect-error: a counter cannot be written
  assert.throws(() => { conn.clientToServer = 0; }, TypeError);
  // @ts-expect-error: and the upstream socket not replaced
  assert.throws(() => { conn.server = null; }, TypeError);

  await supervisor.shutdown();
  proxy.close();
  upstream.close();
  console.log('surface ok');
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

function tsconfig(options: Record<string, unknown>, include: string[]): string {
  const base = { target: 'es2022', strict: true, skipLibCheck: false, esModuleInterop: true, types: ['node'] };
  return JSON.stringify({ compilerOptions: { ...base, ...options }, include }, null, 2);
}

/** Packs and installs once; every test awaits it (uvu would swallow an error in a `before` hook). */
let preparing: Promise<void> | null = null;
function prepared(): Promise<void> {
  preparing ??= prepare();
  return preparing;
}

async function prepare(): Promise<void> {
  const repo = join(work, 'repo');
  await copyWorkTree(repo);
  // The `prepack` script builds dist/ as a publish would; lifecycle output comes before the JSON.
  const { stdout } = await runFor('npm', ['pack', '--json', '--pack-destination', work], repo, 180_000);
  const json = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, json[0]!.filename);
  packed = json[0]!.files.map((f) => f.path).sort();

  mkdirSync(join(consumer, 'snippets'), { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '0.0.0', private: true }, null, 2));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `@types/node@${version('@types/node')}`], consumer, 180_000);

  snippets.forEach((s, i) => {
    const base = join(consumer, 'snippets', fileBase(s, i));
    if (s.lang === 'js') writeFileSync(`${base}.mjs`, s.code);
    else {
      writeFileSync(`${base}.mts`, asModule(s.code));
      if (!hasTopLevelAwait(s.code)) writeFileSync(`${base}.cts`, asModule(s.code));
    }
  });
  writeFileSync(join(consumer, 'snippets', 'surface.mts'), SURFACE);
  writeFileSync(join(consumer, 'snippets', 'surface.cts'), SURFACE);
  writeFileSync(join(consumer, 'tsconfig.node16.json'), tsconfig({ module: 'node16', moduleResolution: 'node16', outDir: 'out', rootDir: 'snippets' }, ['snippets/*.mts', 'snippets/*.cts']));
  writeFileSync(join(consumer, 'tsconfig.bundler.json'), tsconfig({ module: 'esnext', moduleResolution: 'bundler', noEmit: true }, ['snippets/*.mts']));
}

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds dist/ without source maps, README.md, LICENSE and package.json, and nothing else', async () => {
  await prepared();
  const allowed = /^(dist\/[\w-]+\.(js|cjs|d\.ts|d\.cts)|README\.md|LICENSE|package\.json)$/;
  const stray = packed.filter((f) => !allowed.test(f));
  assert.equal(stray, [], `unexpected files in the package: ${stray.join(', ')}`);
  for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/machines.js', 'dist/machines.cjs', 'dist/machines.d.ts', 'dist/machines.d.cts', 'dist/cli.js', 'LICENSE']) {
    assert.ok(packed.includes(f), `${f} is in the package`);
  }
  const installed = join(consumer, 'node_modules', 'proxy-lifecycle');
  for (const f of packed.filter((p) => /\.c?js$/.test(p))) {
    assert.not.match(readFileSync(join(installed, f), 'utf8'), /sourceMappingURL/, `${f} points to no source map`);
  }
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { license: string; scripts: Record<string, string> };
  assert.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), new RegExp(`^${manifest.license} License`), 'LICENSE matches package.json');
  const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter((s) => s in manifest.scripts);
  assert.equal(installScripts, [], 'no script runs when a user installs the package');
});

test('the CLI is one ASCII script that carries rxjs, xstate and eventemitter3 instead of importing them', async () => {
  await prepared();
  // What a long-running proxy keeps on its heap: its script, as a one-byte string when ASCII,
  // and not the whole CommonJS builds of its dependencies (see tsup.config.ts).
  const cli = readFileSync(join(consumer, 'node_modules', 'proxy-lifecycle', 'dist', 'cli.js'), 'utf8');
  const nonAscii = cli.search(/[^\x00-\x7f]/);
  assert.is(nonAscii, -1, `non-ASCII at ${nonAscii}: ${JSON.stringify(cli.slice(nonAscii - 40, nonAscii + 40))}`);
  // Static imports only: prom-client and nats.js are imported when asked for.
  const imported = [...cli.matchAll(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?"([^"]+)"/g)].map((m) => m[1]!).filter((m) => !isBuiltin(m));
  assert.equal([...new Set(imported)], ['sonic-boom'], 'the one package imported is sonic-boom (CommonJS that requires Node modules)');
});

test('publint finds no error or warning in the tarball', async () => {
  await prepared();
  // --strict: a warning fails too (publint exits non-zero); suggestions are only printed.
  const out = await run(join(BIN, 'publint'), ['run', '--strict', '--level', 'warning', tarball], work);
  assert.not.match(out, /Errors:|Warnings:/, out);
});

test('arethetypeswrong: types resolve for node10, node16 (CJS and ESM) and bundler, both entry points', async () => {
  await prepared();
  // --no-definitely-typed: there is no @types package to compare with (and no lookup for one).
  const out = await run(join(BIN, 'attw'), ['--no-definitely-typed', '--no-color', '--no-emoji', '--format', 'table-flipped', tarball], work);
  assert.match(out, /No problems found/, out);
});

test('a fresh project type-checks the snippets under node16 (ESM and CJS), skipLibCheck off, no optional peer', async () => {
  await prepared();
  assert.not.ok(existsSync(join(consumer, 'node_modules', '@statelyai', 'inspect')), 'the optional peer is not installed');
  await run(join(BIN, 'tsc'), ['-p', 'tsconfig.node16.json'], consumer);
  assert.ok(existsSync(join(consumer, 'out', 'surface.cjs')) && existsSync(join(consumer, 'out', 'surface.mjs')), 'compiled both module kinds');
});

test('a fresh project type-checks the snippets under bundler resolution, skipLibCheck off', async () => {
  await prepared();
  await run(join(BIN, 'tsc'), ['-p', 'tsconfig.bundler.json'], consumer);
});

for (const format of ['mjs', 'cjs'] as const) {
  test(`the public surface from the installed package (${format === 'mjs' ? 'ESM' : 'CJS'}): no internals, Connection's hooks out of reach`, async () => {
    await prepared();
    const out = await run(process.execPath, [join('out', `surface.${format}`)], consumer, 30_000);
    assert.match(out, /surface ok/);
  });
}

/** Runs a server snippet: it must accept a connection on `port`, then exit 0 on SIGTERM. */
async function runServer(file: string, cwd: string, port: number): Promise<void> {
  const child = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    output += s;
    errors += s;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let running = true;
  void exited.then(() => (running = false));
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      assert.ok(running, `exited before listening on ${port}: ${output}`);
      const socket = net.connect(port, '127.0.0.1');
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('connect', () => resolve(true));
        socket.once('error', () => resolve(false));
      });
      socket.destroy();
      if (ok) break;
      assert.ok(Date.now() < deadline, `nothing listened on ${port} within 15 s: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    assert.equal({ code, signal }, { code: 0, signal: null }, `exit on SIGTERM: ${output}`);
    assert.is(errors, '', 'nothing on stderr (no warning, no error)');
  } finally {
    if (running) child.kill('SIGKILL');
  }
}

let peerInstalled = false;
for (const v of variants) {
  const how = v.snippet.mode.kind === 'serves' ? `serves on ${v.snippet.mode.port} and ends on SIGTERM` : 'runs to a clean exit';
  test(`${v.snippet.where} ${how} as pasted (${v.format})`, async () => {
    await prepared();
    // The inspector snippet needs the optional peer: installed only after the type-checks.
    if (!peerInstalled && /@statelyai\/inspect|startInspectorServer/.test(v.snippet.code)) {
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-save', `@statelyai/inspect@${version('@statelyai/inspect')}`], consumer, 180_000);
      peerInstalled = true;
    }
    const cwd = mkdtempSync(join(work, 'run-'));
    const file = join(consumer, v.file);
    if (v.snippet.mode.kind === 'serves') await runServer(file, cwd, v.snippet.mode.port);
    else {
      const { stderr } = await runFor(process.execPath, [file], cwd, 30_000);
      assert.is(stderr, '', 'nothing on stderr (no warning, no error)');
    }
  });
}

test.run();
