// One trial: a fresh upstream, proxy and load generator; warm-up; the measured workload;
// then the leak check (proxy descriptors back to baseline, no upstream connection left).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchConfig, Workload } from './config.js';
import { NodeWorker } from './processes.js';
import { cpuSeconds, openFds, rssKiB } from './procfs.js';
import { isNodeProxy, PROXIES, ROOT, type ProxyName, type RunningProxy } from './proxies.js';
import type { Checks, Trial } from './report.js';

const UPSTREAM = join(ROOT, 'bench', 'load', 'upstream.mjs');
const CLIENT = join(ROOT, 'bench', 'load', 'client.mjs');
const PROFILE_DIR = join(ROOT, 'bench', 'results', 'profiles');
const GC_ON_SIGNAL = join(ROOT, 'bench', 'proxies', 'gc-on-signal.cjs');

/** What the load generator reports for one command. */
interface LoadResult {
  completed: number;
  expectedBytes: number;
  receivedBytes: number;
  lostBytes: number;
  extraBytes: number;
  corrupt: number;
  hung: number;
  unexpected: number;
  errors: Record<string, number>;
  wallMs: number;
  open?: number;
  byLifecycle?: Record<string, { count: number; unexpected: number; hung: number }>;
}

interface UpstreamStats {
  active: number;
  accepted: number;
  bytesIn: number;
  bytesOut: number;
  errors: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Work per proxy CPU-second; NaN (null in the JSON) when the run used less than one clock tick. */
const perCpu = (work: number, cpu: number) => (cpu > 0 ? work / cpu : NaN);

/** Waits until the proxy's descriptor count stops moving; returns it. */
async function stableFds(pid: number, ms = 300): Promise<number> {
  let last = openFds(pid);
  let since = Date.now();
  const deadline = Date.now() + 5000;
  while (Date.now() - since < ms && Date.now() < deadline) {
    await sleep(50);
    const now = openFds(pid);
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return last;
}

/** After a workload: waits (bounded) for the proxy's fds to return to `baseline` and the upstream to have no connection. */
async function leakCheck(pid: number, baseline: number, upstream: NodeWorker, waitMs: number): Promise<{ leakedFds: number; upstreamOpen: number; settleMs: number }> {
  const start = Date.now();
  for (;;) {
    const fds = openFds(pid);
    const up = await upstream.request<UpstreamStats>({ type: 'stats' });
    const leakedFds = Math.max(0, fds - baseline);
    if ((leakedFds === 0 && up.active === 0) || Date.now() - start > waitMs) {
      return { leakedFds, upstreamOpen: up.active, settleMs: Date.now() - start };
    }
    await sleep(100);
  }
}

function checksOf(results: readonly LoadResult[], leaks: { leakedFds: number; upstreamOpen: number }): Checks {
  const sum = (k: 'lostBytes' | 'extraBytes' | 'corrupt' | 'hung' | 'unexpected') => results.reduce((a, r) => a + r[k], 0);
  return {
    lostBytes: sum('lostBytes'),
    extraBytes: sum('extraBytes'),
    corrupt: sum('corrupt'),
    hung: sum('hung'),
    unexpected: sum('unexpected'),
    leakedFds: leaks.leakedFds,
    upstreamOpen: leaks.upstreamOpen,
  };
}

const ZERO: Checks = { lostBytes: 0, extraBytes: 0, corrupt: 0, hung: 0, unexpected: 0, leakedFds: 0, upstreamOpen: 0 };

export async function runTrial(cfg: BenchConfig, proxyName: ProxyName, workload: Workload, repeat: number, order: number, tmp: string): Promise<Trial> {
  const trial: Trial = { proxy: proxyName, workload, repeat, order, ok: false, metrics: {}, checks: { ...ZERO }, detail: {} };
  const isNode = isNodeProxy(proxyName);
  let profileDir: string | undefined;
  const nodeArgs: string[] = [];
  if (workload === 'idle' && isNode) nodeArgs.push('--expose-gc', '--require', GC_ON_SIGNAL);
  if (cfg.profile && isNode) {
    profileDir = join(PROFILE_DIR, `${proxyName}-${workload}-r${repeat}`);
    mkdirSync(profileDir, { recursive: true });
    if (workload === 'idle') nodeArgs.push('--heapsnapshot-signal=SIGUSR2');
    else nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const upstream = new NodeWorker('upstream', UPSTREAM, cfg.loadCore);
  let proxy: RunningProxy | null = null;
  let client: NodeWorker | null = null;
  try {
    const { port: target } = (await upstream.ready) as { port: number };
    proxy = await PROXIES[proxyName].start({ target, core: cfg.proxyCore, tmp, nodeArgs, cwd: profileDir });
    client = new NodeWorker('client', CLIENT, cfg.loadCore);
    await client.ready;
    const port = proxy.port;
    const pid = proxy.pid;
    const deadlineMs = 60_000;

    /** Runs one measured command: proxy CPU seconds before and after. */
    const measure = async (msg: Record<string, unknown>) => {
      const cpu0 = cpuSeconds(pid);
      const r = await client!.request<LoadResult>({ ...msg, port, deadlineMs });
      const cpu = cpuSeconds(pid) - cpu0;
      return { r, cpu };
    };

    switch (workload) {
      case 'bulk': {
        const { conns, bytes, warmupBytes } = cfg.bulk;
        const warm = await client.request<LoadResult>({ type: 'bulk', port, conns: 1, bytes: warmupBytes, deadlineMs });
        const baseline = await stableFds(pid);
        const { r, cpu } = await measure({ type: 'bulk', conns, bytes, deadlineMs: 600_000 });
        const through = conns * bytes + r.receivedBytes;
        const mib = through / 2 ** 20;
        trial.metrics = { mibPerSec: mib / (r.wallMs / 1000), mibPerCpuSec: perCpu(mib, cpu), cpuSec: cpu, wallSec: r.wallMs / 1000 };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf([warm, r], leaks);
        trial.detail = { bytesThroughProxy: through, errors: r.errors, fdBaseline: baseline, leakSettleMs: leaks.settleMs };
        break;
      }
      case 'short': {
        const { total, concurrency, size, warmup } = cfg.short;
        const warm = await client.request<LoadResult>({ type: 'short', port, total: warmup, concurrency, size, deadlineMs });
        const baseline = await stableFds(pid);
        const { r, cpu } = await measure({ type: 'short', total, concurrency, size });
        trial.metrics = { connsPerSec: r.completed / (r.wallMs / 1000), connsPerCpuSec: perCpu(r.completed, cpu), cpuSec: cpu, wallSec: r.wallMs / 1000 };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf([warm, r], leaks);
        trial.detail = { completed: r.completed, errors: r.errors, fdBaseline: baseline, leakSettleMs: leaks.settleMs };
        break;
      }
      case 'idle': {
        const { conns, concurrency, size, settleMs, holdMs } = cfg.idle;
        const warm = await client.request<LoadResult>({ type: 'short', port, total: cfg.short.warmup, concurrency: 32, size: 64, deadlineMs });
        const baseline = await stableFds(pid);
        // Node proxies: a full GC before each reading (gc-on-signal.cjs), so garbage is not counted.
        const collect = async () => {
          if (!isNode) return;
          proxy!.proc.child.kill('SIGURG');
          await sleep(300);
        };
        await sleep(settleMs);
        await collect();
        const rss0 = rssKiB(pid);
        const opened = await client.request<LoadResult>({ type: 'idleOpen', port, count: conns, concurrency, size, deadlineMs: 600_000 });
        await sleep(settleMs);
        const cpuA = cpuSeconds(pid);
        await sleep(holdMs);
        const cpuB = cpuSeconds(pid);
        const rssNoGc = rssKiB(pid);
        await collect();
        const rss1 = rssKiB(pid);
        const fdsOpen = openFds(pid);
        if (profileDir !== undefined) {
          // A heap snapshot at the idle peak (written to the proxy's cwd, the profile dir).
          proxy.proc.child.kill('SIGUSR2');
          await sleep(Math.max(3000, conns));
        }
        const open = opened.open ?? 0;
        const closed = await client.request<LoadResult>({ type: 'idleClose', size });
        trial.metrics = {
          kibPerConn: open > 0 ? (rss1 - rss0) / open : NaN,
          kibPerConnBeforeGc: open > 0 ? (rssNoGc - rss0) / open : NaN,
          idleCpuPct: ((cpuB - cpuA) / (holdMs / 1000)) * 100,
          rssBaseMiB: rss0 / 1024,
          rssPeakMiB: rss1 / 1024,
          openSec: opened.wallMs / 1000,
        };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf([warm, closed], leaks);
        // Every idle connection must have been open at the peak.
        if (open < conns) trial.checks.unexpected += conns - open;
        trial.detail = { open, requested: conns, fdsAtPeak: fdsOpen, fdBaseline: baseline, errors: closed.errors, leakSettleMs: leaks.settleMs };
        break;
      }
      case 'churn': {
        const { total, concurrency, maxBytes, seed, warmup } = cfg.churn;
        const warm = await client.request<LoadResult>({ type: 'churn', port, total: warmup, concurrency, maxBytes, seed: seed + 1_000_003, deadlineMs });
        const baseline = await stableFds(pid);
        const rss0 = rssKiB(pid);
        const { r, cpu } = await measure({ type: 'churn', total, concurrency, maxBytes, seed });
        trial.metrics = {
          connsPerSec: r.completed / (r.wallMs / 1000),
          connsPerCpuSec: perCpu(r.completed, cpu),
          cpuSec: cpu,
          wallSec: r.wallMs / 1000,
        };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.metrics.rssGrowthMiB = (rssKiB(pid) - rss0) / 1024;
        trial.checks = checksOf([warm, r], leaks);
        const up = await upstream.request<UpstreamStats>({ type: 'stats' });
        trial.detail = {
          completed: r.completed,
          byLifecycle: r.byLifecycle,
          clientErrors: r.errors,
          upstreamAccepted: up.accepted,
          upstreamErrors: up.errors,
          fdBaseline: baseline,
          leakSettleMs: leaks.settleMs,
        };
        break;
      }
    }
    trial.ok = true;
  } catch (err) {
    trial.error = err instanceof Error ? err.message : String(err);
  } finally {
    await client?.stop();
    await proxy?.stop();
    await upstream.stop();
    if (proxy !== null && proxy.proc.stderr.trim() !== '' && proxyName !== 'nginx') {
      // nginx warns about worker_connections above the open-files limit; others should be silent.
      trial.detail.proxyStderr = proxy.proc.stderr.trim().slice(-1000);
    }
  }
  return trial;
}
