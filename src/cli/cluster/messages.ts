/**
 * The IPC between `forward --workers N`'s primary and its workers: commands down, a few
 * reports up. Never one message per connection or per log line: lines go straight to the
 * shared files and pipes, counts at most every {@link REPORT_EVERY_MS}.
 */

/** What the primary tells a worker: the signals it received, relayed. */
export type ToWorker = { pl: 'stop' } | { pl: 'abort' } | { pl: 'reopen' } | { pl: 'status' };

/** What a worker reports to the primary. */
export type FromWorker =
  /** Accepting connections on `address` (`host:port`). */
  | { pl: 'listening'; address: string }
  /** A start-up failure (`cannot listen on …`), for the primary to print once, and its exit code. */
  | { pl: 'failed'; message: string; exitCode: number }
  /** Connections open now; sent when it changed, at most every {@link REPORT_EVERY_MS}. */
  | { pl: 'active'; active: number }
  /** The answer to `stop`: connections in flight when it stopped accepting. */
  | { pl: 'stopping'; inFlight: number }
  /** The answer to `reopen`: its log files are open again at their paths. */
  | { pl: 'reopened' }
  /** The drain is over: what finished on its own and what was destroyed at the deadline. */
  | { pl: 'stopped'; finished: number; destroyed: number };

/**
 * The primary's request for a worker's metrics, one per scrape of its `/metrics`, and the
 * worker's answer: its registry as prom-client's `getMetricsAsJSON()` gives it (null: it
 * could not collect them). Apart from {@link ToWorker} and {@link FromWorker}: the metrics
 * listener is the worker's first, before it takes commands.
 */
export type MetricsRequest = { pl: 'metrics'; id: number };
export type MetricsReply = { pl: 'metrics'; id: number; metrics: unknown[] | null };

/** Whether `m` asks for this worker's metrics. */
export function isMetricsRequest(m: unknown): m is MetricsRequest {
  return typeof m === 'object' && m !== null && (m as { pl?: unknown }).pl === 'metrics' && typeof (m as { id?: unknown }).id === 'number';
}

/** Whether `m` is a worker's answer to {@link MetricsRequest} `id`. */
export function isMetricsReply(m: unknown, id: number): m is MetricsReply {
  return isMetricsRequest(m) && m.id === id && 'metrics' in m;
}

/** The least time between two `active` reports of one worker. */
export const REPORT_EVERY_MS = 250;

/** The largest write a pipe takes whole (Linux's PIPE_BUF): lines of several processes never interleave. */
export const PIPE_BUF = 4096;

/** The worker's environment: its index (1 to N) and its boot id (distinct per worker and per restart). */
export const WORKER_INDEX_ENV = 'PL_WORKER_INDEX';
export const WORKER_BOOT_ENV = 'PL_WORKER_BOOT';

const TYPES = new Set(['listening', 'failed', 'active', 'stopping', 'reopened', 'stopped']);

/** Whether `m` is one of ours (prom-client's metrics requests share the channel). */
export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && TYPES.has((m as { pl?: unknown }).pl as string);
}

/** Whether `m` is a command from the primary. */
export function isToWorker(m: unknown): m is ToWorker {
  const pl = typeof m === 'object' && m !== null ? (m as { pl?: unknown }).pl : undefined;
  return pl === 'stop' || pl === 'abort' || pl === 'reopen' || pl === 'status';
}

/**
 * Whether this command line will share its standard output and error with other processes
 * (`--workers` other than 1, or a worker itself): its writes there must then be at most
 * {@link PIPE_BUF} bytes of whole lines. Read before the flags are parsed, to size the writers.
 */
export function sharesStdio(argv: readonly string[]): boolean {
  if (process.env[WORKER_INDEX_ENV] !== undefined) return true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a === '--workers' ? argv[i + 1] : a.startsWith('--workers=') ? a.slice(10) : undefined;
    if (value !== undefined && value !== '1') return true;
  }
  return false;
}
