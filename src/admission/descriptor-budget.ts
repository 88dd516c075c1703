/**
 * How many proxied connections the process's file-descriptor limit leaves room for.
 *
 * Node has no `getrlimit()`, and the packages that add one are native addons (a compiler at
 * install time) for two numbers Linux already publishes as text: the soft `RLIMIT_NOFILE` in
 * `/proc/self/limits` and the open descriptors in `/proc/self/fd`. Elsewhere the budget is
 * unknown (`null`) and nothing is limited by it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { InvalidOptionError } from '../errors.js';

/** What {@link descriptorBudget} measured. */
export interface DescriptorBudget {
  /** The soft limit on open file descriptors (`ulimit -n`). */
  limit: number;
  /** Descriptors open below the limit when measured (listening sockets, log files, the event loop's own). */
  open: number;
  /** Kept free for what is not a proxied connection: metrics scrapes, a log reopen, DNS lookups. */
  reserve: number;
  /** Proxied connections that fit: `(limit − open − reserve) / 2`, as each needs a client and an upstream socket. */
  connections: number;
}

/** Options of {@link descriptorBudget}. */
export interface DescriptorBudgetOptions {
  /** Descriptors to keep free besides those already open. Default {@link DEFAULT_DESCRIPTOR_RESERVE}. */
  reserve?: number;
}

/**
 * Enough for a few scrapes, a log file reopened, the threadpool's DNS sockets and one accept
 * in flight (Node accepts a connection before it can refuse it).
 */
export const DEFAULT_DESCRIPTOR_RESERVE = 16;

/** Descriptors per proxied connection: the client's socket and the upstream's. */
const PER_CONNECTION = 2;

/**
 * Measures the descriptor budget now, synchronously (two small reads of `/proc`, meant for
 * start-up: call it once everything long-lived is open). Returns `null` where it cannot be
 * known: not Linux, no `/proc`, or no limit (`unlimited`).
 *
 * @example
 * ```ts
 * const budget = descriptorBudget();
 * if (budget !== null) server.maxConnections = budget.connections;
 * ```
 * @throws {InvalidOptionError} for a `reserve` that is not a whole number from 0 up.
 */
export function descriptorBudget(options: DescriptorBudgetOptions = {}): DescriptorBudget | null {
  const reserve = options.reserve ?? DEFAULT_DESCRIPTOR_RESERVE;
  if (!Number.isInteger(reserve) || reserve < 0) {
    throw new InvalidOptionError('reserve', `reserve must be a whole number of descriptors from 0 up, got ${String(reserve)}`);
  }
  let limits: string;
  let entries: string[];
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
    entries = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(limits);
  if (soft === null) return null;
  const limit = Number(soft[1]);
  // The limit caps descriptor numbers, not a count: one inherited above it (a shell's high
  // pipe) takes no room below. The listing includes readdir's own descriptor on the directory.
  const open = Math.max(0, entries.filter((name) => Number(name) < limit).length - 1);
  const connections = Math.max(0, Math.floor((limit - open - reserve) / PER_CONNECTION));
  return { limit, open, reserve, connections };
}
