/**
 * Admission for a listening socket: a connection limit taken from the file-descriptor budget,
 * a short back-off after running out of descriptors, and a summary of what was refused. Every
 * refusal goes through `Supervisor.refuse` (logged, counted in `stats.refused`, emitted once);
 * the guard reads them back from the supervisor's `refused` event for its counts and reports.
 */
import type net from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { CloseInfo } from '../binding/connection.js';
import { peerName, type SocketLike } from '../binding/socket-like.js';
import type { Refusal } from './refusal.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { InvalidOptionError } from '../errors.js';
import type { Supervisor } from '../supervisor.js';
import { descriptorBudget, type DescriptorBudget } from './descriptor-budget.js';

/** Error codes of a process (`EMFILE`) or a system (`ENFILE`) out of file descriptors. */
export const DESCRIPTOR_ERRORS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE']);

/** Whether `err` says the process or the system is out of file descriptors. */
export function isDescriptorError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && DESCRIPTOR_ERRORS.has(code);
}

/**
 * Why a connection was closed at accept, unserved: `max_connections` over the limit (Envoy's
 * `downstream_cx_overflow`), `backoff` during the pause after running out of descriptors.
 */
export type OverflowReason = 'max_connections' | 'backoff';
/** Every {@link OverflowReason}. */
export const OVERFLOW_REASONS: readonly OverflowReason[] = ['max_connections', 'backoff'];

/** What ran out of descriptors: an `accept` on the listener, or an upstream `connect`. */
export type ExhaustedOp = 'accept' | 'connect';
/** Every {@link ExhaustedOp}. */
export const EXHAUSTED_OPS: readonly ExhaustedOp[] = ['accept', 'connect'];

/** Options of an {@link OverflowGuard}. */
export interface OverflowGuardOptions {
  /**
   * Connections served at once; more are closed as they are accepted (`net.Server`'s
   * `maxConnections`, its `'drop'` event). Default: as many as the descriptor budget allows
   * when {@link OverflowGuard.attach} is called (see `descriptorBudget`), no limit where the
   * budget is unknown. `Infinity`: no limit.
   */
  maxConnections?: number;
  /** Descriptors the budget keeps free besides those open at `attach()`. Default 16. */
  reserve?: number;
  /** After an accept or upstream connect fails with EMFILE/ENFILE, close new connections for this long, in ms. Default 100 (HAProxy's pause). */
  backoff?: number;
  /** A `report` at most this often while connections are refused, in ms. Default 1000. */
  reportInterval?: number;
  /**
   * A connection limit the supervisor's admission hook applies (a `ConnectionLimits`'
   * `maxConnections`, as `forward --max-connections` sets it). The guard does not enforce it
   * (the server keeps the descriptor budget's limit) but reports it: both apply, so the
   * smaller is the limit in force, `limitFrom: 'option'` when it is this one.
   */
  admissionMaxConnections?: number;
  /** Default the system clock. */
  clock?: Clock;
}

/** What was refused in one report period: the `report` event. */
export interface OverflowReport {
  /** The period's length in ms: `reportInterval`, or less for the last one, at `close()`. */
  periodMs: number;
  /** Clients refused at the door at `max_connections` or `backoff` (whoever refused them), by limit. */
  refused: Record<OverflowReason, number>;
  /** Accepts and upstream connects that failed for want of a descriptor. */
  exhausted: Record<ExhaustedOp, number>;
  /** The descriptor error codes seen (`EMFILE`, `ENFILE`), in order of first sight. */
  codes: string[];
  /** The connection limit in force (`Infinity`: none). */
  maxConnections: number;
  /** Where the limit came from: the `maxConnections` option, the descriptor budget, or nowhere. */
  limitFrom: 'option' | 'descriptors' | 'none';
  /** The descriptor budget measured at `attach()`, when known. */
  budget: DescriptorBudget | null;
  /** Connections open at the last refusal or exhaustion of the period: how full the proxy was. */
  active: number;
  /** The back-off after each exhaustion, in ms. */
  backoffMs: number;
}

/** The guard's typed events. */
export interface OverflowGuardEvents {
  /** The supervisor refused a client at `max_connections` or `backoff` (see {@link OverflowGuard}). */
  refused: [reason: OverflowReason, refusal: Refusal];
  /** An accept or upstream connect failed with `code` (EMFILE or ENFILE); a back-off starts. */
  exhausted: [op: ExhaustedOp, code: string];
  /** A summary, at most once per `reportInterval`, of a period in which anything was refused or exhausted. */
  report: [report: OverflowReport];
}

/** Counts since the guard was created: the supervisor's refusals at the guard's limits, not a count of their own. */
export interface OverflowTotals {
  refused: Record<OverflowReason, number>;
  exhausted: Record<ExhaustedOp, number>;
}

function checkMs(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(name, `${name} must be a number of milliseconds from ${min} up, got ${String(value)}`);
  }
  return value;
}

function checkLimit(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && value !== Infinity && (!Number.isInteger(value) || value < 1)) {
    throw new InvalidOptionError(name, `${name} must be a whole number from 1 up, or Infinity, got ${String(value)}`);
  }
  return value;
}

const zeroRefused = (): Record<OverflowReason, number> => ({ max_connections: 0, backoff: 0 });
const zeroExhausted = (): Record<ExhaustedOp, number> => ({ accept: 0, connect: 0 });
const OVERFLOW: ReadonlySet<string> = new Set(OVERFLOW_REASONS);


/**
 * Keeps a proxy from walking into EMFILE, and makes what it refuses visible. Node (libuv)
 * answers an accept that fails with EMFILE by closing a spare descriptor, accepting every
 * pending connection and closing it at once, and usually never tells JavaScript: those clients
 * leave no trace. The guard refuses early instead, at a limit that leaves each served
 * connection its two descriptors, and has the supervisor refuse each one
 * (`Supervisor.refuse`: logged, counted and emitted once). It counts and summarises the
 * supervisor's refusals at `max_connections` and `backoff`, whoever refused them (its own, a
 * `ConnectionLimits`'). Library code: it only emits events; a command decides how to print
 * its reports.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor({ admit: () => guard.check() });
 * const guard = new OverflowGuard(supervisor);
 * const server = net.createServer({ allowHalfOpen: true }, (client) => {
 *   if (supervisor.admit(client)) supervisor.forward(client, () => net.connect(6379, '127.0.0.1'));
 * });
 * server.listen(6380, () => guard.attach(server));
 * guard.on('report', (r) => logger.warn('connections refused', r));
 * ```
 */
export class OverflowGuard extends EventEmitter<OverflowGuardEvents> {
  /** The connection limit in force (`Infinity`: none); set by {@link attach}. */
  maxConnections = Infinity;
  /** Where {@link maxConnections} came from. */
  limitFrom: OverflowReport['limitFrom'] = 'none';
  /** The descriptor budget measured by {@link attach}, when known. */
  budget: DescriptorBudget | null = null;
  /** Everything refused (by the supervisor, at the guard's limits) and exhausted so far. */
  readonly totals: OverflowTotals = { refused: zeroRefused(), exhausted: zeroExhausted() };

  private readonly clock: Clock;
  private readonly option: number | undefined;
  private readonly admissionMax: number;
  private readonly reserve: number | undefined;
  private readonly backoff: number;
  private readonly interval: number;
  private server: net.Server | null = null;
  private shedUntil = -Infinity;
  private period: { start: number; refused: Record<OverflowReason, number>; exhausted: Record<ExhaustedOp, number>; codes: string[]; active: number } | null = null;
  private timer: TimerHandle | null = null;
  private closed = false;

  /** @throws {InvalidOptionError} for an option out of range. */
  constructor(private readonly supervisor: Supervisor, options: OverflowGuardOptions = {}) {
    super();
    this.option = checkLimit('maxConnections', options.maxConnections);
    this.admissionMax = checkLimit('admissionMaxConnections', options.admissionMaxConnections) ?? Infinity;
    this.reserve = options.reserve;
    this.backoff = checkMs('backoff', options.backoff, 100, 0);
    this.interval = checkMs('reportInterval', options.reportInterval, 1000, 1);
    this.clock = options.clock ?? systemClock;
    supervisor.on('close', this.onClose);
    supervisor.on('refused', this.onRefused);
  }

  /**
   * Applies the limit to `server` and watches it: a `'drop'` (over the limit; Node closed the
   * client unserved) is refused through the supervisor,
   * an `'error'` with EMFILE/ENFILE starts a back-off. Other errors are left to the server's
   * other listeners: keep one. Call it once the long-lived descriptors (listening sockets, log
   * files) are open, as the budget counts what is open then.
   */
  attach(server: net.Server): this {
    if (this.server !== null) throw new Error('OverflowGuard.attach: already attached to a server');
    this.server = server;
    this.budget = descriptorBudget({ reserve: this.reserve });
    let own = Infinity;
    if (this.option !== undefined) {
      own = this.option;
      this.limitFrom = this.option === Infinity ? 'none' : 'option';
    } else if (this.budget !== null) {
      // Node reads 0 as "no limit": a budget with no room at all still serves one.
      own = Math.max(1, this.budget.connections);
      this.limitFrom = 'descriptors';
    }
    if (own !== Infinity) server.maxConnections = own;
    // Both limits apply; the smaller is the one that refuses.
    this.maxConnections = Math.min(own, this.admissionMax);
    if (this.admissionMax < own) this.limitFrom = 'option';
    server.on('drop', this.onDrop);
    server.on('error', this.onError);
    return this;
  }

  /**
   * Whether a client accepted now may be served: `true`, or `'backoff'` during a back-off.
   * It decides only, for an admission hook (`SupervisorOptions.admit`), whose supervisor then
   * refuses the client.
   */
  check(): true | 'backoff' {
    return this.clock.now() >= this.shedUntil ? true : 'backoff';
  }

  /**
   * Whether to serve `client`, accepted just now, for a server that does not go through
   * `Supervisor.admit`: `false` during a back-off, when the supervisor has refused it
   * (`Supervisor.refuse`: destroyed, logged, counted).
   *
   * HAProxy answers EMFILE by disabling the listener for 100 ms, so new connections wait in
   * the kernel's backlog instead of failing one accept after another. Node cannot stop a
   * listener without closing it (losing the port, refusing with RST); holding accepted sockets
   * unserved would spend the very descriptors that ran out. Closing them at once is the Node
   * equivalent: the descriptor is back immediately and the client learns promptly.
   */
  admit(client: SocketLike): boolean {
    const verdict = this.check();
    if (verdict === true) return true;
    this.supervisor.refuse(client, { limit: verdict });
    return false;
  }

  /** Emits the pending report now, stops watching the server and the supervisor. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.supervisor.off('close', this.onClose);
    this.supervisor.off('refused', this.onRefused);
    this.server?.off('drop', this.onDrop);
    this.server?.off('error', this.onError);
  }

  // Node closed the client already: the supervisor only records the refusal.
  private readonly onDrop = (data?: net.DropArgument) => {
    this.supervisor.refuse(null, { client: data === undefined ? null : (peerName(data) ?? null), limit: 'max_connections' });
  };

  private readonly onError = (err: Error) => {
    if (isDescriptorError(err)) this.exhaust('accept', (err as NodeJS.ErrnoException).code!);
  };

  private readonly onClose = (info: CloseInfo) => {
    const code = info.errors.server;
    if (info.reasons.server === 'connect_error' && code !== null && DESCRIPTOR_ERRORS.has(code)) this.exhaust('connect', code);
  };

  private readonly onRefused = (refusal: Refusal) => {
    if (refusal.reason !== 'rejected' || !OVERFLOW.has(refusal.limit)) return;
    const reason = refusal.limit as OverflowReason;
    this.totals.refused[reason]++;
    this.open().refused[reason]++;
    this.emit('refused', reason, refusal);
  };

  private exhaust(op: ExhaustedOp, code: string): void {
    this.shedUntil = this.clock.now() + this.backoff;
    this.totals.exhausted[op]++;
    const period = this.open();
    period.exhausted[op]++;
    if (!period.codes.includes(code)) period.codes.push(code);
    this.emit('exhausted', op, code);
  }

  /** The current report period, started (with its timer) by the first thing to report. */
  private open(): NonNullable<OverflowGuard['period']> {
    if (this.period === null) {
      this.period = { start: this.clock.now(), refused: zeroRefused(), exhausted: zeroExhausted(), codes: [], active: 0 };
      if (!this.closed) this.timer = this.clock.setTimeout(() => this.flush(), this.interval);
    }
    this.period.active = this.supervisor.connections.size;
    return this.period;
  }

  private flush(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const period = this.period;
    if (period === null) return;
    this.period = null;
    this.emit('report', {
      periodMs: this.clock.now() - period.start,
      refused: period.refused,
      exhausted: period.exhausted,
      codes: period.codes,
      maxConnections: this.maxConnections,
      limitFrom: this.limitFrom,
      budget: this.budget,
      active: period.active,
      backoffMs: this.backoff,
    });
  }
}
