// The benchmark's settings: full sizes by default, tiny ones with --smoke; every size can be
// set by a flag (`--bulk-mb 64`) or the matching environment variable (`BENCH_BULK_MB=64`).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { childFdLimit } from './fd-limit.js';
import { fdLimit } from './procfs.js';
import { DEFAULT_PROXIES, PROXY_NAMES, ROOT, type ProxyName } from './proxies.js';

export type Workload = 'bulk' | 'short' | 'idle' | 'churn' | 'flood' | 'chatty' | 'latency';
export const WORKLOADS: readonly Workload[] = ['bulk', 'short', 'idle', 'churn', 'flood', 'chatty', 'latency'];

export interface BenchConfig {
  smoke: boolean;
  proxies: ProxyName[];
  /** A previous build's dist/cli.js to run as the `proxy-lifecycle-baseline` row, or null. */
  baseline: string | null;
  workloads: Workload[];
  repeats: Record<Workload, number>;
  bulk: { conns: number; bytes: number; warmupBytes: number };
  short: { total: number; concurrency: number; size: number; warmup: number };
  idle: { conns: number; requested: number; concurrency: number; size: number; settleMs: number; holdMs: number };
  churn: { total: number; concurrency: number; maxBytes: number; seed: number; warmup: number };
  flood: FloodConfig;
  chatty: ChattyConfig;
  latency: { trips: number; warmup: number; size: number };
  /** How long the proxy's fds and the upstream may take to come back to their baseline. */
  leakWaitMs: number;
  out: string;
  /** Files whose results block (between the bench:results markers) is rewritten. */
  docs: string[];
  install: boolean;
  profile: boolean;
  proxyCore: number | null;
  loadCore: number | null;
  notes: string[];
}

/** The flood workload's sizes (see workloads.ts). */
export interface FloodConfig {
  /** Silent connections held (capped by the open-files limit), and how many were asked. */
  silent: number;
  requested: number;
  /** Timed round trips on the one measured connection, each way of the comparison, and untimed ones first. */
  trips: number;
  warmupTrips: number;
  /** Bytes of each request (echoed). */
  size: number;
  /** Served short connections (the reference cost) and refused ones, `concurrency` in flight. */
  served: number;
  refused: number;
  concurrency: number;
  /** Silent connections opened at once. */
  openConcurrency: number;
  /** A refused connection the proxy has not closed after this long was served instead. */
  refuseWaitMs: number;
  settleMs: number;
  warmup: number;
  /** The open-files limit asked for the children (proxy, load client, upstream). */
  nofile: number;
}

/** The chatty workload's sizes: long-lived connections, each echoing a little, steadily. */
export interface ChattyConfig {
  conns: number;
  requested: number;
  /** Connections opened at once. */
  concurrency: number;
  /** Bytes each connection sends (and gets echoed) every `intervalMs`. */
  size: number;
  intervalMs: number;
  /** Wait after opening, so every connection is sending before CPU is read. */
  settleMs: number;
  /** The measured window. */
  holdMs: number;
  /** `forward`'s extra flags here: the timers a long-lived connection re-arms as it talks. */
  lifecycleArgs: string[];
  nofile: number;
}

export const USAGE = `Usage: npm run bench -- [flags]     (every flag also as BENCH_FLAG_NAME=value)

  --smoke                 tiny sizes, one repeat, no install, no docs (CI)
  --proxies LIST          comma list of ${PROXY_NAMES.join(', ')}
                          (all but the baseline; with --baseline, that too)
  --baseline FILE         a previous build's dist/cli.js, run with its default flags as the
                          proxy-lifecycle-baseline row (before/after figures from one run)
  --workloads LIST        comma list of ${WORKLOADS.join(', ')} (all)
  --repeats N             repeats of every workload (bulk 5, short 5, idle 2, churn 2, flood 3,
                          chatty 2, latency 5)
  --bulk-repeats N, --short-repeats N, --idle-repeats N, --churn-repeats N, --flood-repeats N,
  --chatty-repeats N, --latency-repeats N
  --bulk-conns N          bulk echo connections (4)
  --bulk-mb N             MiB each way per bulk connection (256)
  --short-conns N         short connections per run (20000)
  --short-concurrency N   short connections in flight (32)
  --idle-conns N          idle connections (10000, capped by the open-files limit)
  --churn-conns N         random-lifecycle connections (50000)
  --churn-concurrency N   random-lifecycle connections in flight (64)
  --churn-max-bytes N     largest payload of a random lifecycle (16384)
  --seed N                seed of the random lifecycles (1)
  --flood-silent N        silent connections held by the flood (3000, capped by the open-files limit)
  --flood-trips N         timed round trips with and without the flood (1000)
  --flood-served N        served short connections, the reference cost (5000)
  --flood-refused N       connections refused over --max-connections (10000)
  --chatty-conns N        long-lived chatty connections, each echoing 64 B a second (4000)
  --chatty-seconds N      the measured window while they talk (15)
  --latency-trips N       timed 64-byte round trips on one connection (5000)
  --out FILE              JSON results (bench/results/latest.json; smoke: bench/results/smoke.json)
  --docs FILES | --no-docs  rewrite the results block of each file (comma list; docs/bench.md;
                          e.g. docs/bench.md,README.md); never with --smoke
  --no-install            do not apt-get install haproxy / nginx when missing
  --profile               run the Node proxies with --cpu-prof and take a heap snapshot of each
                          at the idle peak (bench/results/profiles/)
  --proxy-core N, --load-core N   cores to pin to with taskset (0 and 1; -1: no pinning)
`;

const BOOLEAN = new Set(['smoke', 'no-docs', 'no-install', 'profile', 'help']);
const VALUED = new Set([
  'proxies', 'workloads', 'repeats', 'bulk-repeats', 'short-repeats', 'idle-repeats', 'churn-repeats', 'flood-repeats',
  'flood-silent', 'flood-trips', 'flood-served', 'flood-refused', 'chatty-repeats', 'latency-repeats',
  'chatty-conns', 'chatty-seconds', 'latency-trips',
  'bulk-conns', 'bulk-mb', 'short-conns', 'short-concurrency', 'idle-conns', 'churn-conns', 'churn-concurrency',
  'churn-max-bytes', 'seed', 'out', 'docs', 'proxy-core', 'load-core', 'baseline',
]);

function unknown(name: string): Error {
  return new Error(`unknown flag --${name}\n\n${USAGE}`);
}

function parse(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  // Environment first, flags override.
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('BENCH_') || value === undefined) continue;
    const name = key.slice(6).toLowerCase().replace(/_/g, '-');
    // Other BENCH_ variables may belong to other scripts (bench/soak.ts): ignore them.
    if (!BOOLEAN.has(name) && !VALUED.has(name)) continue;
    out.set(name, BOOLEAN.has(name) ? (value === '' || value === '0' || value === 'false' ? 'false' : 'true') : value);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}\n\n${USAGE}`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!BOOLEAN.has(name) && !VALUED.has(name)) throw unknown(name);
    if (BOOLEAN.has(name)) {
      out.set(name, 'true');
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    out.set(name, value);
  }
  return out;
}

export function loadConfig(argv: readonly string[]): BenchConfig | 'help' {
  const flags = parse(argv);
  if (flags.get('help') === 'true') return 'help';
  const smoke = flags.get('smoke') === 'true';
  const num = (name: string, full: number, small: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return smoke ? small : full;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number from 0 up, got ${JSON.stringify(raw)}`);
    return n;
  };
  const list = <T extends string>(name: string, all: readonly T[]): T[] => {
    const raw = flags.get(name);
    if (raw === undefined) return [...all];
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) if (!all.includes(item as T)) throw new Error(`--${name}: unknown ${JSON.stringify(item)}; one of ${all.join(', ')}`);
    return items as T[];
  };

  const notes: string[] = [];
  const all = flags.get('repeats');
  const rep = (w: Workload, full: number) => num(`${w}-repeats`, all === undefined ? full : Number(all), 1);
  const limit = fdLimit();
  // The proxy holds two descriptors per connection (client and upstream) plus a few of its own.
  const fit = Math.floor((limit - 100) / 2);
  const requested = Math.round(num('idle-conns', 10_000, 200));
  const idleConns = Math.min(requested, fit);
  if (idleConns < requested) {
    notes.push(`idle connections capped at ${idleConns} (asked ${requested}): the open-files limit is ${limit} and the proxy needs 2 per connection; raise it with ulimit -n (hard limit) to measure ${requested}`);
  }
  const flood = floodConfig(num, smoke, notes);
  const chatty = chattyConfig(num, smoke, notes);
  const bulkBytes = Math.round(num('bulk-mb', 256, 16) * 1024 * 1024);
  const core = (name: string, dflt: number): number | null => {
    const n = num(name, dflt, dflt);
    return n < 0 ? null : n;
  };
  // Before the runner pins itself: the cores this process may use.
  const cores = availableParallelism();
  let proxyCore = core('proxy-core', 0);
  let loadCore = core('load-core', 1);
  if (cores < 2 && (proxyCore !== null || loadCore !== null)) {
    notes.push(`only ${cores} core: no pinning`);
    proxyCore = loadCore = null;
  }
  const profile = flags.get('profile') === 'true';
  return {
    smoke,
    // Smoke runs HAProxy and nginx too when they are installed (it never installs them).
    proxies: flags.has('proxies') ? list('proxies', PROXY_NAMES) : flags.has('baseline') ? [...PROXY_NAMES] : [...DEFAULT_PROXIES],
    baseline: flags.get('baseline') ?? null,
    workloads: list('workloads', WORKLOADS),
    repeats: {
      bulk: rep('bulk', 5),
      short: rep('short', 5),
      idle: rep('idle', 2),
      churn: rep('churn', 2),
      flood: rep('flood', 3),
      chatty: rep('chatty', 2),
      latency: rep('latency', 5),
    },
    bulk: { conns: Math.round(num('bulk-conns', 4, 2)), bytes: bulkBytes, warmupBytes: Math.min(bulkBytes, smoke ? 1 << 20 : 32 << 20) },
    short: { total: Math.round(num('short-conns', 20_000, 300)), concurrency: Math.round(num('short-concurrency', 32, 8)), size: 64, warmup: smoke ? 50 : 2000 },
    idle: { conns: idleConns, requested, concurrency: 100, size: 16, settleMs: smoke ? 200 : 1000, holdMs: smoke ? 300 : 2000 },
    churn: {
      total: Math.round(num('churn-conns', 50_000, 1000)),
      concurrency: Math.round(num('churn-concurrency', 64, 16)),
      maxBytes: Math.round(num('churn-max-bytes', 16_384, 4096)),
      seed: Math.round(num('seed', 1, 1)),
      warmup: smoke ? 100 : 2000,
    },
    flood,
    chatty,
    latency: { trips: Math.round(num('latency-trips', 5000, 100)), warmup: smoke ? 20 : 500, size: 64 },
    leakWaitMs: 10_000,
    out: flags.get('out') ?? join(ROOT, 'bench', 'results', smoke ? 'smoke.json' : 'latest.json'),
    docs: smoke || flags.get('no-docs') === 'true' ? [] : (flags.get('docs') ?? join(ROOT, 'docs', 'bench.md')).split(',').map((f) => f.trim()).filter(Boolean),
    install: !smoke && flags.get('no-install') !== 'true',
    profile,
    proxyCore,
    loadCore,
    notes,
  };
}

/**
 * The flood's sizes. Its children get their open-files limit raised (fd-limit.ts); where even
 * the raised limit is short (a hard limit below what 2 descriptors per held connection in the
 * proxy need), the flood is capped, with a note saying so.
 */
function floodConfig(num: (name: string, full: number, small: number) => number, smoke: boolean, notes: string[]): FloodConfig {
  const requested = Math.round(num('flood-silent', 3000, 50));
  const concurrency = 32;
  // Proxy: 2 per held connection (the measured one too), 2 per refusal in flight, its own few.
  const need = (n: number) => 2 * (n + 1) + 2 * concurrency + 200;
  const nofile = Math.max(need(requested), 1024);
  const limit = childFdLimit(nofile);
  const fit = Math.max(0, Math.floor((limit - 2 * concurrency - 200) / 2) - 1);
  const silent = Math.min(requested, fit);
  if (silent < requested) {
    notes.push(`flood capped at ${silent} silent connections (asked ${requested}): the children's open-files limit is ${limit} (raising it to ${nofile} failed) and the proxy needs 2 per connection; raise the hard limit (ulimit -Hn) to measure ${requested}`);
  }
  return {
    silent,
    requested,
    trips: Math.round(num('flood-trips', 1000, 50)),
    warmupTrips: smoke ? 20 : 200,
    size: 64,
    served: Math.round(num('flood-served', 5000, 300)),
    refused: Math.round(num('flood-refused', 10_000, 300)),
    concurrency: Math.min(concurrency, Math.max(1, silent)),
    openConcurrency: 100,
    refuseWaitMs: 3000,
    settleMs: smoke ? 200 : 1000,
    warmup: smoke ? 50 : 1000,
    nofile,
  };
}

/** The chatty workload's sizes, capped (with a note) where the open-files limit is short. */
function chattyConfig(num: (name: string, full: number, small: number) => number, smoke: boolean, notes: string[]): ChattyConfig {
  const requested = Math.round(num('chatty-conns', 4000, 100));
  const nofile = Math.max(2 * requested + 300, 1024);
  const limit = childFdLimit(nofile);
  const conns = Math.min(requested, Math.max(0, Math.floor((limit - 300) / 2)));
  if (conns < requested) {
    notes.push(`chatty capped at ${conns} connections (asked ${requested}): the children's open-files limit is ${limit} and the proxy needs 2 per connection; raise the hard limit (ulimit -Hn) to measure ${requested}`);
  }
  return {
    conns,
    requested,
    concurrency: 100,
    size: 64,
    intervalMs: 1000,
    settleMs: smoke ? 1200 : 2000,
    holdMs: Math.round(num('chatty-seconds', 15, 1) * 1000),
    lifecycleArgs: ['--socket-timeout', '30s', '--idle-timeout', '60s'],
    nofile,
  };
}
