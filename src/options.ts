import { DEFAULT_SETTINGS, type ConnectionSettings, type TimeoutBehavior } from '../machines/connection-settings.js';
import { systemClock, type Clock } from './clock.js';
import { InvalidOptionError } from './errors.js';
import { checkDuration, show } from './validate.js';
import { EventLog } from './log/event-log.js';
import type { Logger } from './logger.js';
import type { RuntimeFactory } from './runtime/machine-runtime.js';
import { createTableRuntime } from './runtime/table-runtime.js';

/**
 * Per-connection lifecycle options. Every field is optional; see docs/options.md for the table
 * of defaults. Durations are milliseconds.
 */
export interface LifecycleOptions extends Partial<ConnectionSettings> {
  /**
   * TCP keep-alive on both sockets, so the kernel finds dead peers of long-lived connections.
   * Default `false`, as in HAProxy (`option clitcpka`), nginx (`so_keepalive`) and Node: it
   * costs four `setsockopt` calls per socket. Turn it on (or set `idleTimeout`) when open
   * connections may outlive a peer that vanished without a RST.
   */
  keepAlive?: boolean;
  /** Initial delay of TCP keep-alive probes. Default 60 000 ms. */
  keepAliveInitialDelay?: number;
  /** Disable Nagle on both sockets. Default `true`: a proxy should not add latency. */
  noDelay?: boolean;
  /**
   * Read the client's address when a connection opens, for `CloseInfo.client` and the log's
   * `open` record. Default `true`; `false` saves a `getpeername` call per connection.
   */
  clientAddress?: boolean;
  /** Legacy alias of {@link ConnectionSettings.gracePeriod} (SmartProxy's `socketCleanupGracePeriod`). */
  socketCleanupGracePeriod?: number;
  /** Legacy alias of {@link ConnectionSettings.allowHalfOpen} (SmartProxy's `allowHalfOpenConnections`). */
  allowHalfOpenConnections?: boolean;
  /** Legacy alias of {@link ConnectionSettings.parityTimeout} (SmartProxy's `parityCheckTimeout`). */
  parityCheckTimeout?: number;
}

/** Options after validation and defaults. */
export interface ResolvedLifecycleOptions {
  settings: ConnectionSettings;
  keepAlive: boolean;
  keepAliveInitialDelay: number;
  noDelay: boolean;
  clientAddress: boolean;
}

/** Legacy aliases: the option names of the SmartProxy code this engine replaces, still accepted. */
const ALIASES: Readonly<Record<string, keyof ConnectionSettings>> = {
  socketCleanupGracePeriod: 'gracePeriod',
  allowHalfOpenConnections: 'allowHalfOpen',
  parityCheckTimeout: 'parityTimeout',
};

/** Renamed or commonly guessed options, with the name to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  timeout: 'socketTimeout',
  halfOpen: 'allowHalfOpen',
  graceTimeout: 'gracePeriod',
  connectionTimeout: 'connectTimeout',
  keepAliveTimeout: 'idleTimeout',
};

const TIMEOUT_BEHAVIORS: readonly TimeoutBehavior[] = ['reset', 'close', 'ignore'];

type Kind = 'duration' | 'positive' | 'boolean';
const KINDS: Readonly<Record<keyof ConnectionSettings | 'keepAlive' | 'keepAliveInitialDelay' | 'noDelay' | 'clientAddress', Kind | 'behavior'>> = {
  socketTimeout: 'duration',
  timeoutBehavior: 'behavior',
  allowHalfOpen: 'boolean',
  gracePeriod: 'duration',
  parityTimeout: 'positive',
  parityInactivity: 'duration',
  connectTimeout: 'positive',
  idleTimeout: 'duration',
  maxLifetime: 'duration',
  firstByteTimeout: 'duration',
  keepAlive: 'boolean',
  keepAliveInitialDelay: 'duration',
  noDelay: 'boolean',
  clientAddress: 'boolean',
};

function check(name: string, kind: Kind | 'behavior', value: unknown): void {
  switch (kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw new InvalidOptionError(name, `${name} must be true or false, got ${show(value)}`);
      return;
    case 'behavior':
      if (!TIMEOUT_BEHAVIORS.includes(value as TimeoutBehavior)) {
        throw new InvalidOptionError(name, `${name} must be one of 'reset', 'close', 'ignore', got ${show(value)}`);
      }
      return;
    default:
      checkDuration(name, value, kind === 'positive' ? 1 : 0);
  }
}


/**
 * Validates options and fills in defaults.
 *
 * @throws {InvalidOptionError} (a `TypeError`) naming the option and what it allows, for an
 * unknown key, a negative, NaN or infinite duration, or an unknown `timeoutBehavior`.
 */
export function resolveOptions(input: LifecycleOptions = {}, base?: ResolvedLifecycleOptions): ResolvedLifecycleOptions {
  if (input === null || typeof input !== 'object') {
    throw new InvalidOptionError('options', `options must be an object, got ${show(input)}`);
  }
  const out: ResolvedLifecycleOptions = base
    ? { ...base, settings: { ...base.settings } }
    : { settings: { ...DEFAULT_SETTINGS }, keepAlive: false, keepAliveInitialDelay: 60_000, noDelay: true, clientAddress: true };
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    // Own properties only: `constructor` or `__proto__` must not find Object.prototype members.
    const name = Object.hasOwn(ALIASES, key) ? ALIASES[key]! : key;
    const kind = Object.hasOwn(KINDS, name) ? KINDS[name as keyof typeof KINDS] : undefined;
    if (kind === undefined) {
      const hint = Object.hasOwn(HINTS, key) ? `; did you mean ${HINTS[key]}?` : '';
      throw new InvalidOptionError(key, `unknown option ${key}${hint} Allowed: ${Object.keys(KINDS).concat(Object.keys(ALIASES)).join(', ')}`);
    }
    check(key, kind, value);
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      const current = name in out.settings ? out.settings[name as keyof ConnectionSettings] : undefined;
      if (current !== value) throw new InvalidOptionError(key, `${key} and ${earlier} are the same option with different values`);
    }
    seen.set(name, key);
    if (name in DEFAULT_SETTINGS) (out.settings as unknown as Record<string, unknown>)[name] = value;
    else (out as unknown as Record<string, unknown>)[name] = value;
  }
  return out;
}

/** Where a connection's time, log and runtime come from. */
export interface EnvironmentOptions {
  /** The clock for every timer. Default: the system clock for `forward()`; a supervisor makes its own `TimerWheel`. */
  clock?: Clock;
  /** Append every lifecycle event here. Default: none for `forward()`; a supervisor makes its own. */
  log?: EventLog | null;
  /** The machine runtime. Default: the lean table runtime derived from the XState machine. */
  runtime?: RuntimeFactory;
  /** Optional logger; the library never writes to the console. */
  logger?: Logger;
}

/** The environment after validation and defaults: what every connection runs on. */
export interface ResolvedEnvironment {
  clock: Clock;
  log: EventLog | null;
  runtime: RuntimeFactory;
  logger: Logger | undefined;
}

const hasMethods = (value: unknown, names: readonly string[]): boolean =>
  typeof value === 'object' && value !== null && names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

/**
 * Takes the environment fields off an options object, validates them and fills in the
 * defaults (`defaultClock()`, the table runtime, no log), leaving the other options to their
 * own validation. The one place the environment is resolved, for `forward()` and the supervisor.
 *
 * @throws {InvalidOptionError} naming the option: `options` that is not an object; a `clock`
 * without `now`, `setTimeout` and `clearTimeout`; a `log` that is not an `EventLog` (or
 * `null`); a `runtime` that is not a factory function; a `logger` whose `debug`, `warn` or
 * `error` is not a function.
 */
export function resolveEnvironment<T extends EnvironmentOptions>(options: T, defaultClock: () => Clock = () => systemClock): [Omit<T, keyof EnvironmentOptions>, ResolvedEnvironment] {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', `options must be an object, got ${show(options)}`);
  }
  const { clock, log, runtime, logger, ...rest } = options;
  if (clock !== undefined && !hasMethods(clock, ['now', 'setTimeout', 'clearTimeout'])) {
    throw new InvalidOptionError('clock', `clock must be a Clock (an object with now(), setTimeout() and clearTimeout()), got ${show(clock)}`);
  }
  if (log !== undefined && log !== null && !(log instanceof EventLog)) throw new InvalidOptionError('log', `log must be an EventLog or null, got ${show(log)}`);
  if (runtime !== undefined && typeof runtime !== 'function') throw new InvalidOptionError('runtime', `runtime must be a RuntimeFactory function, got ${show(runtime)}`);
  if (logger !== undefined) checkLogger(logger);
  return [rest, { clock: clock ?? defaultClock(), log: log ?? null, runtime: runtime ?? createTableRuntime, logger }];
}

function checkLogger(value: unknown): void {
  const bad = typeof value !== 'object' || value === null ? [] : (['debug', 'warn', 'error'] as const).filter((m) => (value as Record<string, unknown>)[m] !== undefined && typeof (value as Record<string, unknown>)[m] !== 'function');
  if (typeof value !== 'object' || value === null || bad.length > 0) {
    const why = bad.length > 0 ? `its ${bad.join(', ')} must be functions` : `got ${show(value)}`;
    throw new InvalidOptionError('logger', `logger must be an object with optional debug(), warn() and error() functions: ${why}`);
  }
}
