/**
 * Third-party peers the real-peer tests start on loopback (HAProxy, nginx stream), each in a
 * temp dir, in the foreground, stopped by the test. scripts/install-peers.sh installs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';

/**
 * `test` when `binary` runs, else a skip with a message naming the install script. In CI
 * (`CI=true`) a missing peer fails instead: a run that skipped them must not pass as green.
 */
export function peerTest(file: string, binary: string, versionArgs: string[] = ['-v']): typeof test | typeof test.skip {
  if (spawnSync(binary, versionArgs).status === 0) return test;
  if (process.env.CI === 'true') {
    test(`${binary} is installed (CI=true: the real-peer tests do not skip)`, () => {
      throw new Error(`${binary} is not installed; run bash scripts/install-peers.sh`);
    });
  } else console.log(`  ${file}: ${binary} is not installed, its real-peer tests are skipped (bash scripts/install-peers.sh)`);
  return test.skip;
}

/** Resolves once `port` accepts a connection; throws if `proc` exits first or after 10 s. */
export async function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${proc.spawnfile} exited ${proc.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.spawnfile} did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A peer process with its output; `stop()` ends it and removes its temp dir. */
export interface Peer {
  output(): string;
  stop(): Promise<void>;
}

async function run(command: string, args: (dir: string) => string[], files: Record<string, string>, ports: number[]): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `pl-${command}-`));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text.replaceAll('$DIR', dir));
  let output = '';
  const proc = spawn(command, args(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const peer: Peer = {
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await once(proc, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) await waitForPort(port, proc, () => output);
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

/** HAProxy in the foreground (`-db`) on `config` (lines after `global`/`defaults`, tcp mode), once every port in `ports` listens. */
export function startHaproxy(config: string[], ports: number[]): Promise<Peer> {
  const cfg = ['global', '  nbthread 1', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 10s', '  timeout server 10s', ...config, ''].join('\n');
  return run('haproxy', (dir) => ['-f', join(dir, 'haproxy.cfg'), '-db'], { 'haproxy.cfg': cfg }, ports);
}

/** Where Debian's libnginx-mod-stream puts the stream module (null: built in, or missing). */
function streamModule(): string | null {
  if (/--with-stream(\s|$)/.test(spawnSync('nginx', ['-V'], { encoding: 'utf8' }).stderr ?? '')) return null;
  return ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so'].find((p) => existsSync(p)) ?? null;
}

/**
 * nginx in the foreground on a temp prefix (its pid and error log there, `-e` so it never
 * opens /var/log), with the stream module and one `stream { … }` block, once `ports` listen.
 */
export function startNginx(stream: string, ports: number[]): Promise<Peer> {
  const module = streamModule();
  const conf = [
    module === null ? '' : `load_module ${module};`,
    'daemon off;',
    'worker_processes 1;',
    // As root, workers drop to `nobody`, whose group differs across distributions: stay root.
    process.getuid?.() === 0 ? 'user root root;' : '',
    'pid $DIR/nginx.pid;',
    'error_log $DIR/error.log info;',
    'events { worker_connections 64; }',
    `stream { ${stream} }`,
    '',
  ].join('\n');
  return run('nginx', (dir) => ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { 'nginx.conf': conf }, ports);
}

/** A nats-server with JetStream, restartable on the same port and store (a crash and its recovery). */
export interface NatsPeer extends Peer {
  /** `127.0.0.1:PORT`, for `servers`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory, kept across {@link kill} and {@link restart}. */
  readonly dir: string;
  /** SIGKILL: no shutdown, no goodbye to clients (what a crash or an OOM kill does). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and store, once it listens. */
  restart(): Promise<void>;
  /** SIGSTOP: the server hangs with its connections open (nothing answered, nothing refused); resolves once it is stopped. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): void;
}

/** A free loopback port (listened on once, then closed). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `nats-server -js` on a free loopback port, its store in a temp dir, once it listens; `args` are more flags (`--user`, `--pass`), kept across restarts. */
export async function startNats(args: readonly string[] = []): Promise<NatsPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'pl-nats-'));
  const port = await freePort();
  let output = '';
  let proc: ChildProcess;
  const spawnServer = async () => {
    proc = spawn('nats-server', ['-js', '-sd', join(dir, 'store'), '-a', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    await waitForPort(port, proc, () => output);
  };
  const end = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      await once(proc, 'exit');
    }
  };
  try {
    await spawnServer();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `127.0.0.1:${port}`,
    port,
    dir,
    output: () => output,
    kill: () => end('SIGKILL'),
    restart: spawnServer,
    async pause() {
      proc.kill('SIGSTOP');
      // kill() returns before the signal lands: a server running on the other core would still
      // answer what is sent right after. /proc says when it is stopped (state T).
      const stat = `/proc/${proc.pid}/stat`;
      while (!/^\d+ \(.*\) T /.test(readFileSync(stat, 'utf8'))) await new Promise((r) => setTimeout(r, 1));
    },
    resume: () => proc.kill('SIGCONT'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
