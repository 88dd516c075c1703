// `npm run bench`: the same workloads through proxy-lifecycle's `forward`, a bare Node proxy,
// HAProxy and nginx (stream), on loopback, proxy pinned to one core and the load to another.
// Proxies alternate run by run; medians of the repeats; the proxy's own CPU time
// (/proc/PID/stat) per unit of work as well as wall throughput. See docs/bench.md.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { loadConfig, USAGE, type BenchConfig, type Workload } from './lib/config.js';
import { hasTaskset, pinSelf } from './lib/processes.js';
import { cpuModel, fdLimit } from './lib/procfs.js';
import { ensureCliBuilt, installMissing, PROXIES, setBaselineCli, type ProxyName } from './lib/proxies.js';
import { checkTotals, goals, markdownTable, summarise, tableRows, textTable, type Trial } from './lib/report.js';
import { runTrial } from './lib/workloads.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

function machine() {
  return {
    nproc: availableParallelism(),
    cpu: cpuModel(),
    node: process.version,
    kernel: release(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    openFilesLimit: fdLimit(),
    taskset: hasTaskset(),
  };
}

function describeSizes(cfg: BenchConfig): Record<Workload, string> {
  return {
    bulk: `${cfg.bulk.conns} connections x ${cfg.bulk.bytes / 2 ** 20} MiB each way, half-close echo`,
    short: `${cfg.short.total} connections, ${cfg.short.concurrency} concurrent: connect, ${cfg.short.size}-byte echo, close`,
    idle: `${cfg.idle.conns} idle connections (each after a ${cfg.idle.size}-byte echo), RSS delta / connection`,
    churn: `${cfg.churn.total} connections, ${cfg.churn.concurrency} concurrent, random lifecycles (seed ${cfg.churn.seed}, payloads up to ${cfg.churn.maxBytes} B)`,
    flood: `${cfg.flood.silent} silent connections held (never a byte sent) while one client does ${cfg.flood.trips} ${cfg.flood.size}-byte round trips, against the same without them; RSS delta / silent connection; then, --max-connections ${cfg.flood.silent + 1} full, ${cfg.flood.refused} refused connections against ${cfg.flood.served} served short ones (proxy CPU each)`,
    chatty: `${cfg.chatty.conns} long-lived connections, each echoing ${cfg.chatty.size} B every ${cfg.chatty.intervalMs} ms, proxy CPU over ${cfg.chatty.holdMs / 1000} s; forward with ${cfg.chatty.lifecycleArgs.join(' ')}`,
    latency: `${cfg.latency.trips} timed ${cfg.latency.size}-byte round trips, one at a time, on one connection (after ${cfg.latency.warmup} untimed)`,
  };
}

const DOC_START = '<!-- bench:results:start -->';
const DOC_END = '<!-- bench:results:end -->';

function writeDocs(file: string, section: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = `# Benchmark\n\nRun it with \`npm run bench\` (see bench/run.ts).\n\n${DOC_START}\n${DOC_END}\n`;
  }
  const a = text.indexOf(DOC_START);
  const b = text.indexOf(DOC_END);
  const block = `${DOC_START}\n${section}\n${DOC_END}`;
  text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + DOC_END.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
}

async function main(): Promise<number> {
  let cfg: BenchConfig | 'help';
  try {
    cfg = loadConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (cfg === 'help') {
    log(USAGE);
    return 0;
  }
  const started = Date.now();
  const info = machine();
  // The runner is light, but keep it off the proxy's core.
  pinSelf(cfg.loadCore);
  const loadStart = loadavg();
  const notes = [...cfg.notes];
  if (cfg.proxyCore === null) notes.push('no CPU pinning (taskset missing or one core)');
  else if (!hasTaskset()) notes.push('taskset is missing: processes are not pinned');

  if (cfg.install) for (const n of installMissing(cfg.proxies, log)) notes.push(n);
  setBaselineCli(cfg.baseline);
  if (cfg.proxies.some((p) => p === 'proxy-lifecycle' || p === 'proxy-lifecycle-quiet')) {
    try {
      ensureCliBuilt();
    } catch (err) {
      notes.push(`could not build dist/cli.js: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const proxies: ProxyName[] = [];
  const versions: Partial<Record<ProxyName, string>> = {};
  for (const p of cfg.proxies) {
    const why = PROXIES[p].unavailable();
    if (why !== null) {
      notes.push(`${p} skipped: ${why}`);
      continue;
    }
    proxies.push(p);
    versions[p] = PROXIES[p].version();
  }
  if (proxies.length === 0) {
    process.stderr.write('bench: no proxy to run\n');
    return 2;
  }

  const sizes = describeSizes(cfg);
  log(`proxy-lifecycle benchmark${cfg.smoke ? ' (smoke)' : ''}: ${info.nproc} cores, ${info.cpu}, node ${info.node}, load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  log(`proxies: ${proxies.join(', ')}; proxy on core ${cfg.proxyCore ?? '-'}, load on core ${cfg.loadCore ?? '-'}`);
  for (const w of cfg.workloads) log(`  ${w}: ${sizes[w]}; ${cfg.repeats[w]} repeat(s)`);
  for (const n of notes) log(`note: ${n}`);

  const tmp = mkdtempSync(join(tmpdir(), 'pl-bench-'));
  const trials: Trial[] = [];
  try {
    for (const workload of cfg.workloads) {
      for (let repeat = 0; repeat < cfg.repeats[workload]; repeat++) {
        // Alternate: each repeat starts one proxy later, and every other repeat runs backwards.
        const rotated = proxies.map((_, i) => proxies[(i + repeat) % proxies.length]!);
        const order = repeat % 2 === 1 ? rotated.reverse() : rotated;
        for (let i = 0; i < order.length; i++) {
          const t0 = Date.now();
          const trial = await runTrial(cfg, order[i]!, workload, repeat, i, tmp);
          trials.push(trial);
          const m = Object.entries(trial.metrics)
            .map(([k, v]) => `${k}=${Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : v}`)
            .join(' ');
          const c = trial.checks;
          const bad = c.lostBytes + c.extraBytes + c.corrupt + c.hung + c.unexpected + c.leakedFds + c.upstreamOpen;
          log(
            `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${workload} #${repeat + 1} ${trial.proxy.padEnd(15)} ` +
              (trial.ok ? m : `FAILED: ${trial.error}`) +
              (bad > 0 ? `  CHECKS: ${JSON.stringify(c)}` : '') +
              ` (${((Date.now() - t0) / 1000).toFixed(1)}s)`,
          );
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const summary = summarise(trials, proxies);
  const totals = checkTotals(trials, proxies);
  const goalList = proxies.includes('bare-node') && proxies.includes('proxy-lifecycle') ? goals(summary, totals) : [];
  const header = ['metric (median of repeats)', ...proxies];
  const rows = tableRows(summary, proxies, totals);
  const loadEnd = loadavg();
  const elapsed = (Date.now() - started) / 1000;
  const date = new Date().toISOString();

  log('');
  log(textTable(header, rows));
  log('ratios (x) and differences (+/-) are to bare-node in the same repeat, median over repeats');
  if (goalList.length > 0) {
    log('');
    log(textTable(['goal (proxy-lifecycle vs bare-node)', 'measured', 'target', 'holds'], goalList.map((g) => [g.goal, g.measured, g.target, g.holds === null ? 'n/a' : g.holds ? 'yes' : 'NO'])));
  }
  log('');
  log(`load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}; ${elapsed.toFixed(0)} s`);

  const result = {
    date,
    smoke: cfg.smoke,
    elapsedSec: elapsed,
    machine: { ...info, loadAverageStart: loadStart, loadAverageEnd: loadEnd },
    pinning: { proxyCore: cfg.proxyCore, loadCore: cfg.loadCore },
    proxies: versions,
    workloads: sizes,
    repeats: cfg.repeats,
    notes,
    summary,
    totals,
    goals: goalList,
    table: { header, rows },
    trials,
  };
  mkdirSync(dirname(cfg.out), { recursive: true });
  writeFileSync(cfg.out, `${JSON.stringify(result, null, 2)}\n`);
  log(`results: ${relative(process.cwd(), cfg.out) || cfg.out}`);

  if (cfg.docs.length > 0) {
    const section = [
      `Measured ${date.slice(0, 10)} on ${info.nproc} cores (${info.cpu}), ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}; proxy pinned to core ${cfg.proxyCore ?? '-'}, load to core ${cfg.loadCore ?? '-'}. Load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(2)).join(' ')} at end; ${elapsed.toFixed(0)} s.`,
      '',
      ...cfg.workloads.map((w) => `- **${w}**: ${sizes[w]}; ${cfg.repeats[w]} repeat(s)`),
      '',
      markdownTable(header, rows),
      '',
      'Ratios (x) and differences (+/-) are to bare-node in the same repeat, median over repeats.',
      ...(goalList.length > 0
        ? ['', markdownTable(['goal (proxy-lifecycle vs bare-node)', 'measured', 'target', 'holds'], goalList.map((g) => [g.goal, g.measured, g.target, g.holds === null ? 'n/a' : g.holds ? 'yes' : 'no']))]
        : []),
      '',
      ...Object.entries(versions).map(([p, v]) => `- ${p}: ${v}`),
      ...notes.map((n) => `- note: ${n}`),
    ].join('\n');
    for (const file of cfg.docs) {
      writeDocs(file, section);
      log(`table written to ${relative(process.cwd(), file) || file}`);
    }
  }
  const failed = trials.filter((t) => !t.ok).length;
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
