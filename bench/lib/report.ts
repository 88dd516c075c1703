// Medians, ratios to the bare Node proxy, the goals, and the table (text and Markdown).
import type { Workload } from './config.js';
import type { ProxyName } from './proxies.js';

/** What every trial checks, whatever its workload. */
export interface Checks {
  /** Bytes a verified lifecycle should have received and did not. */
  lostBytes: number;
  /** Bytes received beyond what was sent (duplicated). */
  extraBytes: number;
  /** Connections whose bytes did not match the pattern. */
  corrupt: number;
  /** Connections that did not close within the deadline. */
  hung: number;
  /** Verified connections that errored, lost bytes or missed their FIN. */
  unexpected: number;
  /** Proxy file descriptors above the baseline once everything closed. */
  leakedFds: number;
  /** Upstream connections still open once everything closed. */
  upstreamOpen: number;
}

export interface Trial {
  proxy: ProxyName;
  workload: Workload;
  repeat: number;
  /** Position of this proxy within its repeat (proxies alternate). */
  order: number;
  ok: boolean;
  error?: string;
  metrics: Record<string, number>;
  checks: Checks;
  detail: Record<string, unknown>;
}

export interface MetricDef {
  workload: Workload;
  key: string;
  label: string;
  /** How to compare to bare: ratio (x), difference (KiB), or not at all (a proxy's own ratio, bare's beside it). */
  compare: 'ratio' | 'diff' | 'none';
  digits: number;
}

export const METRICS: readonly MetricDef[] = [
  { workload: 'bulk', key: 'mibPerSec', label: 'bulk echo: MiB/s through the proxy (wall)', compare: 'ratio', digits: 0 },
  { workload: 'bulk', key: 'mibPerCpuSec', label: 'bulk echo: MiB per proxy CPU-second', compare: 'ratio', digits: 0 },
  { workload: 'short', key: 'connsPerSec', label: 'short conns: connections/s (wall)', compare: 'ratio', digits: 0 },
  { workload: 'short', key: 'connsPerCpuSec', label: 'short conns: connections per proxy CPU-s', compare: 'ratio', digits: 0 },
  { workload: 'idle', key: 'kibPerConn', label: 'idle: RSS KiB per connection', compare: 'diff', digits: 1 },
  { workload: 'idle', key: 'idleCpuPct', label: 'idle: proxy CPU % while holding them', compare: 'diff', digits: 2 },
  { workload: 'churn', key: 'connsPerSec', label: 'random lifecycles: connections/s (wall)', compare: 'ratio', digits: 0 },
  { workload: 'churn', key: 'connsPerCpuSec', label: 'random lifecycles: conns per proxy CPU-s', compare: 'ratio', digits: 0 },
  { workload: 'flood', key: 'p50QuietMs', label: 'flood: round trip p50, ms, no flood', compare: 'ratio', digits: 3 },
  { workload: 'flood', key: 'p99QuietMs', label: 'flood: round trip p99, ms, no flood', compare: 'ratio', digits: 3 },
  { workload: 'flood', key: 'p50FloodRatio', label: 'flood: p50 with the silent flood / without (x)', compare: 'none', digits: 2 },
  { workload: 'flood', key: 'p99FloodRatio', label: 'flood: p99 with the silent flood / without (x)', compare: 'none', digits: 2 },
  { workload: 'flood', key: 'kibPerSilentConn', label: 'flood: RSS KiB per silent connection', compare: 'diff', digits: 1 },
  { workload: 'flood', key: 'servedUsPerConn', label: 'flood: proxy CPU us per served short conn', compare: 'ratio', digits: 1 },
  { workload: 'flood', key: 'refusedUsPerConn', label: 'flood: proxy CPU us per refused conn', compare: 'ratio', digits: 1 },
  { workload: 'flood', key: 'refusedPctOfServed', label: 'flood: refused / served CPU per conn (%)', compare: 'none', digits: 1 },
  { workload: 'chatty', key: 'cpuPct', label: 'chatty: proxy CPU % while they talk', compare: 'ratio', digits: 1 },
  { workload: 'chatty', key: 'usPerMessage', label: 'chatty: proxy CPU us per echoed message', compare: 'ratio', digits: 2 },
  { workload: 'chatty', key: 'kibPerConn', label: 'chatty: RSS KiB per connection', compare: 'diff', digits: 1 },
  { workload: 'latency', key: 'p50Ms', label: 'latency: round trip p50, ms (one connection)', compare: 'ratio', digits: 3 },
  { workload: 'latency', key: 'p99Ms', label: 'latency: round trip p99, ms (one connection)', compare: 'ratio', digits: 3 },
];

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Cell {
  median: number;
  samples: number[];
  /** Median over repeats of this proxy's value / bare's value in the same repeat. */
  ratio: number | null;
  /** Median over repeats of this proxy's value - bare's value in the same repeat. */
  diff: number | null;
}

export type Summary = Record<string, Partial<Record<ProxyName, Cell>>>;

/** Medians per metric and proxy, and paired (same repeat) ratios and differences to bare. */
export function summarise(trials: readonly Trial[], proxies: readonly ProxyName[]): Summary {
  const out: Summary = {};
  for (const m of METRICS) {
    const row: Partial<Record<ProxyName, Cell>> = {};
    const ok = trials.filter((t) => t.ok && t.workload === m.workload && Number.isFinite(t.metrics[m.key]));
    const bareByRepeat = new Map(ok.filter((t) => t.proxy === 'bare-node').map((t) => [t.repeat, t.metrics[m.key]!]));
    for (const p of proxies) {
      const mine = ok.filter((t) => t.proxy === p);
      if (mine.length === 0) continue;
      const ratios: number[] = [];
      const diffs: number[] = [];
      for (const t of mine) {
        const b = bareByRepeat.get(t.repeat);
        if (b === undefined) continue;
        if (b !== 0) ratios.push(t.metrics[m.key]! / b);
        diffs.push(t.metrics[m.key]! - b);
      }
      const samples = mine.map((t) => t.metrics[m.key]!);
      row[p] = {
        median: median(samples),
        samples,
        ratio: ratios.length > 0 ? median(ratios) : null,
        diff: diffs.length > 0 ? median(diffs) : null,
      };
    }
    out[`${m.workload}.${m.key}`] = row;
  }
  return out;
}

/** Totals of the checks over every trial of each proxy. */
export function checkTotals(trials: readonly Trial[], proxies: readonly ProxyName[]): Partial<Record<ProxyName, Checks & { failedTrials: number }>> {
  const out: Partial<Record<ProxyName, Checks & { failedTrials: number }>> = {};
  for (const p of proxies) {
    const mine = trials.filter((t) => t.proxy === p);
    if (mine.length === 0) continue;
    const sum = (k: keyof Checks) => mine.reduce((a, t) => a + t.checks[k], 0);
    out[p] = {
      lostBytes: sum('lostBytes'),
      extraBytes: sum('extraBytes'),
      corrupt: sum('corrupt'),
      hung: sum('hung'),
      unexpected: sum('unexpected'),
      leakedFds: sum('leakedFds'),
      upstreamOpen: sum('upstreamOpen'),
      failedTrials: mine.filter((t) => !t.ok).length,
    };
  }
  return out;
}

export interface Goal {
  goal: string;
  measured: string;
  target: string;
  holds: boolean | null;
}

/** The issue's goals for proxy-lifecycle, as ratios to bare Node in the same run. */
export function goals(summary: Summary, totals: ReturnType<typeof checkTotals>): Goal[] {
  const cell = (key: string) => summary[key]?.['proxy-lifecycle'];
  // `at least` for work per CPU-second; `at most` for CPU and latency, where lower is better.
  const ratioGoal = (key: string, label: string, bound: number, at: 'least' | 'most' = 'least'): Goal => {
    const r = cell(key)?.ratio;
    return {
      goal: label,
      measured: r == null ? 'n/a' : `${r.toFixed(3)}x`,
      target: `${at === 'least' ? '>=' : '<='} ${bound.toFixed(2)}x`,
      holds: r == null ? null : at === 'least' ? r >= bound : r <= bound,
    };
  };
  const idle = cell('idle.kibPerConn');
  const t = totals['proxy-lifecycle'];
  const clean = t === undefined ? null : t.lostBytes === 0 && t.leakedFds === 0 && t.upstreamOpen === 0 && t.hung === 0 && t.corrupt === 0 && t.extraBytes === 0 && t.unexpected === 0;
  // The flood's goals are proxy-lifecycle's own ratios (flood / no flood, refused / served); bare's beside them.
  const ownGoal = (key: string, label: string, target: string, holds: (v: number) => boolean, show: (v: number) => string): Goal => {
    const v = cell(key)?.median;
    const bare = summary[key]?.['bare-node']?.median;
    const ok = v !== undefined && Number.isFinite(v);
    return {
      goal: label,
      measured: ok ? `${show(v)}${bare !== undefined && Number.isFinite(bare) ? ` (bare-node ${show(bare)})` : ''}` : 'n/a',
      target,
      holds: ok ? holds(v) : null,
    };
  };
  return [
    ratioGoal('bulk.mibPerCpuSec', 'bulk bytes per proxy CPU-second', 1.05),
    ratioGoal('short.connsPerCpuSec', 'short connections per proxy CPU-second (default flags, access log to a file)', 1.0),
    ratioGoal('churn.connsPerCpuSec', 'random lifecycles per proxy CPU-second', 1.0),
    ratioGoal('chatty.cpuPct', 'proxy CPU with long-lived chatty connections (--socket-timeout, --idle-timeout)', 1.0, 'most'),
    {
      goal: 'idle memory per connection',
      measured: idle?.diff == null ? 'n/a' : `${idle.diff >= 0 ? '+' : ''}${idle.diff.toFixed(2)} KiB vs bare`,
      target: '< bare',
      holds: idle?.diff == null ? null : idle.diff < 0,
    },
    ratioGoal('latency.p50Ms', 'round-trip p50, one connection', 1.05, 'most'),
    ratioGoal('latency.p99Ms', 'round-trip p99, one connection', 1.05, 'most'),
    {
      goal: 'zero bytes lost, zero leaked handles',
      measured:
        t === undefined
          ? 'n/a'
          : `lost ${t.lostBytes} B, leaked fds ${t.leakedFds}, upstream left open ${t.upstreamOpen}, hung ${t.hung}, corrupt ${t.corrupt}, unexpected ${t.unexpected}`,
      target: 'all 0',
      holds: clean,
    },
    ownGoal('flood.p99FloodRatio', 'round-trip p99 with a flood of silent connections / without', '<= 1.50x', (v) => v <= 1.5, (v) => `${v.toFixed(2)}x`),
    ownGoal('flood.refusedPctOfServed', 'proxy CPU per refused connection (over --max-connections) / per served short one', '<= 25%', (v) => v <= 25, (v) => `${v.toFixed(1)}%`),
  ];
}

function fmt(n: number, digits: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cellText(m: MetricDef, c: Cell | undefined, proxy: ProxyName): string {
  if (c === undefined) return '-';
  const value = fmt(c.median, m.digits);
  if (proxy === 'bare-node' || m.compare === 'none') return value;
  if (m.compare === 'ratio') return c.ratio == null ? value : `${value} (${c.ratio.toFixed(2)}x)`;
  return c.diff == null ? value : `${value} (${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(m.digits === 1 ? 1 : 2)})`;
}

/** Rows of the results table: metric label, then one cell per proxy. */
export function tableRows(summary: Summary, proxies: readonly ProxyName[], totals: ReturnType<typeof checkTotals>): string[][] {
  const rows: string[][] = [];
  for (const m of METRICS) {
    const row = summary[`${m.workload}.${m.key}`];
    if (row === undefined || Object.keys(row).length === 0) continue;
    rows.push([m.label, ...proxies.map((p) => cellText(m, row[p], p))]);
  }
  rows.push([
    'all runs: bytes lost / leaked fds / hung',
    ...proxies.map((p) => {
      const t = totals[p];
      return t === undefined ? '-' : `${t.lostBytes} / ${t.leakedFds + t.upstreamOpen} / ${t.hung}${t.failedTrials > 0 ? ` (${t.failedTrials} failed)` : ''}`;
    }),
  ]);
  return rows;
}

export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}
