// One trial: a fresh upstream, proxy and load generator; warm-up; the measured workload;
// then the leak check (proxy descriptors back to baseline, no upstream connection left).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchConfig, Workload } from './config.js';
import { NodeWorker } from './processes.js';
import { cpuSeconds, fdLimit, openFds, rssKiB } from './procfs.js';
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
  /** refusals: connections closed by the proxy unserved. */
  refused?: number;
  byLifecycle?: Record<string, { count: number; unexpected: number; hung: number }>;
}

/** What the load generator reports for `roundTrips`: latency of the timed round trips. */
interface LatencyResult extends LoadResult {
  trips: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
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

/** Waits (bounded) until the upstream holds `want` connections; returns how many it holds. */
async function upstreamActive(upstream: NodeWorker, want: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { active } = await upstream.request<UpstreamStats>({ type: 'stats' });
    if (active >= want || Date.now() > deadline) return active;
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
  if ((workload === 'idle' || workload === 'flood') && isNode) nodeArgs.push('--expose-gc', '--require', GC_ON_SIGNAL);
  if (cfg.profile && isNode) {
    profileDir = join(PROFILE_DIR, `${proxyName}-${workload}-r${repeat}`);
    mkdirSync(profileDir, { recursive: true });
    if (workload === 'idle' || workload === 'flood') nodeArgs.push('--heapsnapshot-signal=SIGUSR2');
    else nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  // The flood holds thousands of connections: every child gets the open-files limit raised.
  const nofile = workload === 'flood' ? cfg.flood.nofile : workload === 'chatty' ? cfg.chatty.nofile : undefined;
  // Its refusals need a limit that refuses: the Node proxies' --max-connections (bare Node: server.maxConnections).
  const maxConnections = workload === 'flood' && isNode ? cfg.flood.silent + 1 : undefined;
  const upstream = new NodeWorker('upstream', UPSTREAM, cfg.loadCore, [], nofile);
  let proxy: RunningProxy | null = null;
  let client: NodeWorker | null = null;
  try {
    const { port: target } = (await upstream.ready) as { port: number };
    const lifecycleArgs = workload === 'chatty' ? cfg.chatty.lifecycleArgs : undefined;
    proxy = await PROXIES[proxyName].start({ target, core: cfg.proxyCore, peerCore: cfg.loadCore, tmp, nodeArgs, cwd: profileDir, maxConnections, nofile, lifecycleArgs });
    client = new NodeWorker('client', CLIENT, cfg.loadCore, [], nofile);
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

    // Node proxies (idle, flood): a full GC before each reading (gc-on-signal.cjs), so garbage is not counted.
    const collect = async () => {
      if (!isNode) return;
      proxy!.proc.child.kill('SIGURG');
      await sleep(300);
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
      case 'flood': {
        const f = cfg.flood;
        const trips = { type: 'roundTrips', port, count: f.trips, warmup: f.warmupTrips, size: f.size, deadlineMs };
        const warm = await client.request<LoadResult>({ type: 'short', port, total: f.warmup, concurrency: f.concurrency, size: 64, deadlineMs });
        const baseline = await stableFds(pid);
        // The reference cost: served short connections (connect, one round trip, close).
        const served = await measure({ type: 'short', total: f.served, concurrency: f.concurrency, size: 64 });
        const quiet = await client.request<LatencyResult>({ ...trips, hold: false });
        await sleep(f.settleMs);
        await collect();
        const rss0 = rssKiB(pid);
        const opened = await client.request<LoadResult>({ type: 'silentOpen', port, count: f.silent, concurrency: f.openConcurrency, deadlineMs: 600_000 });
        // End to end: the upstream holds every one (the proxy connected each upstream).
        const established = await upstreamActive(upstream, f.silent, 30_000);
        await sleep(f.settleMs);
        await collect();
        const rss1 = rssKiB(pid);
        const fdsAtPeak = openFds(pid);
        if (profileDir !== undefined) {
          proxy.proc.child.kill('SIGUSR2');
          await sleep(Math.max(3000, f.silent));
        }
        // Held where there is a limit: with it, the proxy is full (silent + 1) for the refusals.
        const flooded = await client.request<LatencyResult>({ ...trips, hold: maxConnections !== undefined });
        trial.metrics = {
          p50QuietMs: quiet.p50Ms,
          p99QuietMs: quiet.p99Ms,
          p50FloodMs: flooded.p50Ms,
          p99FloodMs: flooded.p99Ms,
          p50FloodRatio: flooded.p50Ms / quiet.p50Ms,
          p99FloodRatio: flooded.p99Ms / quiet.p99Ms,
          kibPerSilentConn: established > 0 ? (rss1 - rss0) / established : NaN,
          servedUsPerConn: (served.cpu / served.r.completed) * 1e6,
          servedCpuSec: served.cpu,
        };
        const results: LoadResult[] = [warm, served.r, quiet];
        let unexpected = 0;
        let refusal: Record<string, unknown> = { skipped: `${proxyName}: no --max-connections that refuses` };
        if (maxConnections !== undefined) {
          const before = await upstream.request<UpstreamStats>({ type: 'stats' });
          const refused = await measure({ type: 'refusals', total: f.refused, concurrency: f.concurrency, waitMs: f.refuseWaitMs });
          const after = await upstream.request<UpstreamStats>({ type: 'stats' });
          const perRefusal = (refused.cpu / Math.max(1, refused.r.refused ?? 0)) * 1e6;
          trial.metrics.refusedUsPerConn = perRefusal;
          trial.metrics.refusedCpuSec = refused.cpu;
          // NaN (null in the JSON) when the served run used less than one clock tick.
          trial.metrics.refusedPctOfServed = served.cpu > 0 ? (perRefusal / trial.metrics.servedUsPerConn!) * 100 : NaN;
          results.push(refused.r);
          // A refused connection never reaches the upstream.
          const reachedUpstream = after.accepted - before.accepted;
          unexpected += reachedUpstream;
          refusal = { limit: maxConnections, asked: f.refused, refused: refused.r.refused, errors: refused.r.errors, reachedUpstream, wallSec: refused.r.wallMs / 1000 };
        }
        const closed = await client.request<LoadResult>({ type: 'idleClose' });
        results.push(closed);
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf(results, leaks);
        // Every silent connection must have been open, end to end, while measured.
        trial.checks.unexpected += unexpected + Math.max(0, f.silent - established);
        trial.detail = {
          requested: f.silent,
          open: opened.open,
          established,
          openSec: opened.wallMs / 1000,
          rssBaseMiB: rss0 / 1024,
          rssPeakMiB: rss1 / 1024,
          fdsAtPeak,
          fdBaseline: baseline,
          fdLimit: fdLimit(pid),
          trips: { quiet: quiet.trips, flood: flooded.trips, maxQuietMs: quiet.maxMs, maxFloodMs: flooded.maxMs },
          served: { completed: served.r.completed, errors: served.r.errors },
          refusal,
          errors: closed.errors,
          leakSettleMs: leaks.settleMs,
        };
        break;
      }
      case 'chatty': {
        const c = cfg.chatty;
        const warm = await client.request<LoadResult>({ type: 'short', port, total: cfg.short.warmup, concurrency: 32, size: 64, deadlineMs });
        const baseline = await stableFds(pid);
        await collect();
        const rss0 = rssKiB(pid);
        const opened = await client.request<LoadResult>({ type: 'chattyOpen', port, count: c.conns, concurrency: c.concurrency, size: c.size, intervalMs: c.intervalMs, deadlineMs: 600_000 });
        await sleep(c.settleMs);
        const up0 = await upstream.request<UpstreamStats>({ type: 'stats' });
        const cpuA = cpuSeconds(pid);
        await sleep(c.holdMs);
        const cpuB = cpuSeconds(pid);
        const up1 = await upstream.request<UpstreamStats>({ type: 'stats' });
        await collect();
        const rss1 = rssKiB(pid);
        const closed = await client.request<LoadResult>({ type: 'idleClose' });
        const open = opened.open ?? 0;
        // Messages echoed in the window, as the upstream counts them (each is `size` bytes in).
        const messages = (up1.bytesIn - up0.bytesIn) / c.size;
        const cpu = cpuB - cpuA;
        trial.metrics = {
          cpuPct: (cpu / (c.holdMs / 1000)) * 100,
          usPerMessage: messages > 0 ? (cpu / messages) * 1e6 : NaN,
          kibPerConn: open > 0 ? (rss1 - rss0) / open : NaN,
          openSec: opened.wallMs / 1000,
        };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf([warm, closed], leaks);
        if (open < c.conns) trial.checks.unexpected += c.conns - open;
        trial.detail = { open, requested: c.conns, messages, fdBaseline: baseline, errors: closed.errors, leakSettleMs: leaks.settleMs };
        break;
      }
      case 'latency': {
        const l = cfg.latency;
        const warm = await client.request<LoadResult>({ type: 'short', port, total: cfg.short.warmup, concurrency: 32, size: 64, deadlineMs });
        const baseline = await stableFds(pid);
        const r = await client.request<LatencyResult>({ type: 'roundTrips', port, count: l.trips, warmup: l.warmup, size: l.size, hold: false, deadlineMs });
        trial.metrics = { p50Ms: r.p50Ms, p99Ms: r.p99Ms };
        const leaks = await leakCheck(pid, baseline, upstream, cfg.leakWaitMs);
        trial.checks = checksOf([warm, r], leaks);
        trial.detail = { trips: r.trips, maxMs: r.maxMs, errors: r.errors, fdBaseline: baseline, leakSettleMs: leaks.settleMs };
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
