// The proxies under test, each started as its own process pinned to the proxy core:
// proxy-lifecycle's `forward` command (with its default flags, and with --quiet), the bare
// Node proxy (plain, and with an access log: bare-node-log), HAProxy and nginx (stream); and,
// when asked, a previous build of `forward`, and `forward --workers 2` (proxy-lifecycle-2w: a
// primary and two workers, on no pinned core).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, Proc } from './processes.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
/** The package's built entry point, which bare-proxy.mjs imports LineWriter from for --access-log. */
const LIBRARY = join(ROOT, 'dist', 'index.js');
const BARE = join(ROOT, 'bench', 'proxies', 'bare-proxy.mjs');

export type ProxyName =
  | 'bare-node'
  | 'bare-node-log'
  | 'proxy-lifecycle'
  | 'proxy-lifecycle-quiet'
  | 'proxy-lifecycle-baseline'
  | 'proxy-lifecycle-2w'
  | 'proxy-lifecycle-logfile'
  | 'proxy-lifecycle-nats'
  | 'haproxy'
  | 'nginx';
/** What `--proxies` may name; all but the baseline and the two-worker row run by default. */
export const PROXY_NAMES: readonly ProxyName[] = [
  'bare-node',
  'bare-node-log',
  'proxy-lifecycle',
  'proxy-lifecycle-quiet',
  'proxy-lifecycle-baseline',
  'proxy-lifecycle-2w',
  'proxy-lifecycle-logfile',
  'proxy-lifecycle-nats',
  'haproxy',
  'nginx',
];
/** Rows that run only when named in --proxies: the cluster, and the event-log sinks compared. */
const OPT_IN: readonly ProxyName[] = ['proxy-lifecycle-baseline', 'proxy-lifecycle-2w', 'proxy-lifecycle-logfile', 'proxy-lifecycle-nats'];
/**
 * The two-worker row needs as many cores for itself as the machine has to spare: on the
 * 2-core machines this runs on, it shares them with the load generator (docs/bench.md).
 */
export const DEFAULT_PROXIES: readonly ProxyName[] = PROXY_NAMES.filter((n) => !OPT_IN.includes(n));

/** The proxies that are Node processes (profiled with --cpu-prof, GC'd on SIGURG for the idle workload). */
export function isNodeProxy(name: ProxyName): boolean {
  return isBare(name) || name.startsWith('proxy-lifecycle');
}

/** The bare Node proxy's rows: bench/proxies/bare-proxy.mjs, which takes none of `forward`'s flags. */
function isBare(name: ProxyName): boolean {
  return name === 'bare-node' || name === 'bare-node-log';
}

/** A previous build's dist/cli.js, for the `proxy-lifecycle-baseline` row (`--baseline`). */
let baselineCli: string | null = null;
/** Whether the baseline build has `--access-log`: then it writes its access log as `forward` does, not through stderr. */
let baselineAccessLog = false;
export function setBaselineCli(path: string | null): void {
  baselineCli = path;
  baselineAccessLog = false;
  if (path === null || !existsSync(path)) return;
  const help = spawnSync(process.execPath, [path, 'forward', '--help'], { encoding: 'utf8' });
  baselineAccessLog = `${help.stdout}${help.stderr}`.includes('--access-log');
}

export interface StartOptions {
  /** Upstream port on 127.0.0.1. */
  target: number;
  /** Core to pin to, or null. */
  core: number | null;
  /** A scratch directory for configs. */
  tmp: string;
  /** Node proxies only: extra node flags (profiling). */
  nodeArgs?: readonly string[];
  /** Working directory (heap snapshots land there). */
  cwd?: string;
  /** Node proxies only: refuse connections beyond this many (`--max-connections`). */
  maxConnections?: number;
  /** Raise the proxy's open-files limit towards this many. */
  nofile?: number;
  /** proxy-lifecycle only: more `forward` flags (the chatty workload's timeouts). */
  lifecycleArgs?: readonly string[];
  /** proxy-lifecycle-nats: the port of the nats-server its spec started. */
  natsPort?: number;
  /** The core of servers beside the proxy (nats-server): the load generator's, not the proxy's. */
  peerCore?: number | null;
}

export interface RunningProxy {
  name: ProxyName;
  port: number;
  /** The pid whose process tree is measured. */
  pid: number;
  proc: Proc;
  stop(): Promise<void>;
}

export interface ProxySpec {
  name: ProxyName;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  version(): string;
  start(options: StartOptions): Promise<RunningProxy>;
}

/** A free loopback port (for proxies that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once `port` accepts a connection (the probe is closed at once). */
async function waitForPort(port: number, proc: Proc, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!proc.running) throw new Error(`${proc.name} exited at start-up: ${proc.stderr.trim().slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} does not accept on port ${port} after ${ms} ms: ${proc.stderr.trim().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let started = 0;

/**
 * Starts a Node proxy. `forward` runs with its default flags (the access log on) writing the
 * access log to a file, as a production proxy would: through `--access-log` (a baseline build
 * too, when it has the flag), or, for a baseline build that predates it, its standard error
 * redirected to the file.
 */
async function startNode(name: ProxyName, script: string, extra: readonly string[], o: StartOptions): Promise<RunningProxy> {
  const args = [...(o.nodeArgs ?? []), script, ...extra, '--listen', '127.0.0.1:0', '--target', `127.0.0.1:${o.target}`];
  let stderrFd: number | null = null;
  if (!isBare(name)) args.push('--shutdown-timeout', '1000');
  if (o.maxConnections !== undefined) args.push('--max-connections', String(o.maxConnections));
  if (!isBare(name) && o.lifecycleArgs !== undefined) args.push(...o.lifecycleArgs);
  const accessLog = join(o.tmp, `access-${name}-${++started}.log`);
  if (name === 'proxy-lifecycle-quiet') args.push('--quiet');
  else if (name === 'proxy-lifecycle' || name === 'bare-node-log') args.push('--access-log', accessLog);
  else if (name === 'proxy-lifecycle-2w') args.push('--workers', '2', '--access-log', accessLog);
  else if (name === 'proxy-lifecycle-logfile') args.push('--access-log', accessLog, '--log', join(o.tmp, `events-${started}.jsonl`));
  else if (name === 'proxy-lifecycle-nats') args.push('--access-log', accessLog, '--log', `nats://127.0.0.1:${o.natsPort}/BENCH?instance=bench`);
  else if (name === 'proxy-lifecycle-baseline') {
    if (baselineAccessLog) args.push('--access-log', accessLog);
    else stderrFd = openSync(accessLog, 'a');
  }
  const stdio = stderrFd === null ? {} : { stdio: ['ignore', 'pipe', stderrFd] as ['ignore', 'pipe', number] };
  const proc = new Proc(name, process.execPath, args, o.core, { cwd: o.cwd ?? ROOT, nofile: o.nofile, ...stdio });
  if (stderrFd !== null) closeSync(stderrFd);
  const m = await proc.waitForOutput(/listening on \S+:(\d+)/, 15_000);
  return { name, port: Number(m[1]), pid: proc.pid, proc, stop: () => proc.stop() };
}

/** Builds dist/cli.js with tsup when it is missing or older than a source file (shared with the CLI tests). */
export { ensureBuilt as ensureCliBuilt } from '../../tools/build.js';

const lifecycle: ProxySpec = {
  name: 'proxy-lifecycle',
  unavailable: () => (existsSync(CLI) ? null : 'dist/cli.js is missing (npx tsup)'),
  version: () => `proxy-lifecycle forward (dist/cli.js) with its default flags, access log to a file, node ${process.version}`,
  start: (o) => startNode('proxy-lifecycle', CLI, ['forward'], o),
};

const lifecycleQuiet: ProxySpec = {
  name: 'proxy-lifecycle-quiet',
  unavailable: lifecycle.unavailable,
  version: () => `proxy-lifecycle forward (dist/cli.js) --quiet: no access log, node ${process.version}`,
  start: (o) => startNode('proxy-lifecycle-quiet', CLI, ['forward'], o),
};

// Not pinned: two workers on one core would measure nothing but the hand-off. The primary and
// its workers are one process tree, measured whole (the primary's accepts and hand-offs included).
const lifecycle2w: ProxySpec = {
  name: 'proxy-lifecycle-2w',
  unavailable: lifecycle.unavailable,
  version: () => `proxy-lifecycle forward --workers 2 (dist/cli.js; node:cluster, ${process.env.NODE_CLUSTER_SCHED_POLICY === 'none' ? 'SCHED_NONE' : 'SCHED_RR'}), access log to a file, on no pinned core, node ${process.version}`,
  start: (o) => startNode('proxy-lifecycle-2w', CLI, ['forward'], { ...o, core: null }),
};

// The event log's two destinations, each with the default flags otherwise: a local file, and a
// JetStream stream on a nats-server started for the trial, outside the proxy's tree and pinned
// to the load generator's core: a fleet's NATS runs on other hosts, and a server on the proxy's
// core would charge the proxy for its cache misses. What is measured is the proxy's own cost of
// shipping its log.
const lifecycleLogfile: ProxySpec = {
  name: 'proxy-lifecycle-logfile',
  unavailable: lifecycle.unavailable,
  version: () => `proxy-lifecycle forward (dist/cli.js) --log FILE (event log to a local file), access log to a file, node ${process.version}`,
  start: (o) => startNode('proxy-lifecycle-logfile', CLI, ['forward'], o),
};

const lifecycleNats: ProxySpec = {
  name: 'proxy-lifecycle-nats',
  unavailable: () => lifecycle.unavailable() ?? (hasCommand('nats-server') ? null : 'nats-server is not installed (bash scripts/install-peers.sh)'),
  version: () => `proxy-lifecycle forward (dist/cli.js) --log nats://… (event log to JetStream, ${firstLine('nats-server', ['--version'])}), access log to a file, node ${process.version}`,
  async start(o) {
    const natsPort = await freePort();
    const nats = new Proc('nats-server', 'nats-server', ['-js', '-sd', join(o.tmp, `nats-${natsPort}`), '-a', '127.0.0.1', '-p', String(natsPort)], o.peerCore ?? null, { cwd: o.tmp });
    await waitForPort(natsPort, nats, 10_000);
    try {
      const proxy = await startNode('proxy-lifecycle-nats', CLI, ['forward'], { ...o, natsPort });
      return {
        ...proxy,
        async stop() {
          await proxy.stop();
          await nats.stop();
        },
      };
    } catch (err) {
      await nats.stop();
      throw err;
    }
  },
};

const lifecycleBaseline: ProxySpec = {
  name: 'proxy-lifecycle-baseline',
  unavailable: () => (baselineCli === null ? 'no --baseline build given' : existsSync(baselineCli) ? null : `${baselineCli} is missing`),
  version: () => `proxy-lifecycle forward (${baselineCli}) with its default flags, ${baselineAccessLog ? 'access log to a file' : 'stderr to a file'}, node ${process.version}`,
  start: (o) => startNode('proxy-lifecycle-baseline', baselineCli!, ['forward'], o),
};

const bare: ProxySpec = {
  name: 'bare-node',
  unavailable: () => null,
  version: () => `bench/proxies/bare-proxy.mjs, node ${process.version}`,
  start: (o) => startNode('bare-node', BARE, [], o),
};

// What an access log costs a Node proxy that has nothing else: with it beside bare-node,
// `forward`'s default-flags rows split into the log's share and the engine's.
const bareLog: ProxySpec = {
  name: 'bare-node-log',
  unavailable: () => (existsSync(LIBRARY) ? null : 'dist/index.js is missing (npx tsup)'),
  version: () => `bench/proxies/bare-proxy.mjs --access-log FILE (a line per connection through the package's LineWriter, dist/), node ${process.version}`,
  start: (o) => startNode('bare-node-log', BARE, [], o),
};

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

const haproxy: ProxySpec = {
  name: 'haproxy',
  unavailable: () => (hasCommand('haproxy') ? null : 'haproxy is not installed'),
  version: () => firstLine('haproxy', ['-v']),
  async start(o) {
    const port = await freePort();
    const cfg = join(o.tmp, `haproxy-${port}.cfg`);
    // One thread; maxconn is left to HAProxy, which derives it from the open-files limit.
    writeFileSync(
      cfg,
      [
        'global',
        '  nbthread 1',
        'defaults',
        '  mode tcp',
        '  timeout connect 10s',
        '  timeout client 1h',
        '  timeout server 1h',
        'frontend bench',
        `  bind 127.0.0.1:${port}`,
        '  default_backend upstream',
        'backend upstream',
        `  server echo 127.0.0.1:${o.target}`,
        '',
      ].join('\n'),
    );
    const proc = new Proc('haproxy', 'haproxy', ['-f', cfg, '-db'], o.core, { cwd: o.tmp, nofile: o.nofile });
    await waitForPort(port, proc, 10_000);
    return { name: 'haproxy', port, pid: proc.pid, proc, stop: () => proc.stop() };
  },
};

/** Where the stream module is: a dynamic module of nginx-light, or built in. */
function nginxStreamModule(): { load: string | null; error: string | null } {
  const v = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  const flags = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  if (/--with-stream(\s|$)/.test(flags)) return { load: null, error: null };
  const candidates: string[] = [];
  const dpkg = spawnSync('dpkg', ['-L', 'libnginx-mod-stream'], { encoding: 'utf8' });
  if (dpkg.status === 0) candidates.push(...dpkg.stdout.split('\n').filter((l) => l.endsWith('ngx_stream_module.so')));
  candidates.push('/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so');
  const found = candidates.find((p) => existsSync(p));
  return found ? { load: found, error: null } : { load: null, error: 'the nginx stream module is not installed (libnginx-mod-stream)' };
}

const nginx: ProxySpec = {
  name: 'nginx',
  unavailable: () => (!hasCommand('nginx') ? 'nginx is not installed' : nginxStreamModule().error),
  version: () => firstLine('nginx', ['-v']),
  async start(o) {
    const port = await freePort();
    const dir = join(o.tmp, `nginx-${port}`);
    mkdirSync(dir, { recursive: true });
    const cfg = join(dir, 'nginx.conf');
    const { load } = nginxStreamModule();
    writeFileSync(
      cfg,
      [
        load ? `load_module ${load};` : '',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 65536; }',
        'stream {',
        '  server {',
        `    listen 127.0.0.1:${port} backlog=4096;`,
        `    proxy_pass 127.0.0.1:${o.target};`,
        '    proxy_half_close on;',
        '    proxy_timeout 1h;',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    // The master stays in the foreground; its one worker is measured with it (process tree).
    const proc = new Proc('nginx', 'nginx', ['-p', dir, '-e', 'stderr', '-c', cfg, '-g', 'daemon off;'], o.core, { cwd: dir, nofile: o.nofile });
    await waitForPort(port, proc, 10_000);
    return { name: 'nginx', port, pid: proc.pid, proc, stop: () => proc.stop() };
  },
};

export const PROXIES: Record<ProxyName, ProxySpec> = {
  'bare-node': bare,
  'bare-node-log': bareLog,
  'proxy-lifecycle': lifecycle,
  'proxy-lifecycle-quiet': lifecycleQuiet,
  'proxy-lifecycle-baseline': lifecycleBaseline,
  'proxy-lifecycle-2w': lifecycle2w,
  'proxy-lifecycle-logfile': lifecycleLogfile,
  'proxy-lifecycle-nats': lifecycleNats,
  haproxy,
  nginx,
};

/**
 * Installs HAProxy and nginx (stream) from Debian packages when missing. Returns what it did
 * (or why it could not); never throws, the benchmark goes on without them.
 */
export function installMissing(wanted: readonly ProxyName[], log: (line: string) => void): string[] {
  const notes: string[] = [];
  const need = wanted.filter((n) => (n === 'haproxy' || n === 'nginx') && PROXIES[n].unavailable() !== null);
  if (need.length === 0) return notes;
  if (!hasCommand('apt-get')) return [`${need.join(', ')}: not installed, and there is no apt-get here`];
  if (process.getuid?.() !== 0) return [`${need.join(', ')}: not installed, and installing needs root`];
  const packages = need.flatMap((n) => (n === 'haproxy' ? ['haproxy'] : ['nginx-light', 'libnginx-mod-stream']));
  log(`installing ${packages.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env, timeout: 180_000 });
  if (update.status !== 0) notes.push(`apt-get update failed: ${(update.stderr ?? '').trim().split('\n').pop()}`);
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { encoding: 'utf8', env, timeout: 300_000 });
  if (install.status !== 0) notes.push(`apt-get install ${packages.join(' ')} failed: ${(install.stderr ?? '').trim().split('\n').pop()}`);
  else notes.push(`installed ${packages.join(' ')}`);
  return notes;
}
