import { DEFAULT_SETTINGS, type ConnectionSettings, type TimeoutBehavior } from '../machines/connection-settings.js';
import { InvalidOptionError } from './errors.js';

/**
 * Per-connection lifecycle options. Every field is optional; see README.md for the table
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
  /** Seed's name for {@link ConnectionSettings.gracePeriod}. */
  socketCleanupGracePeriod?: number;
  /** Seed's name for {@link ConnectionSettings.allowHalfOpen}. */
  allowHalfOpenConnections?: boolean;
  /** Seed's name for {@link ConnectionSettings.parityTimeout}. */
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

/** The seed plan's names, accepted as aliases. */
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
  keepAlive: 'boolean',
  keepAliveInitialDelay: 'duration',
  noDelay: 'boolean',
  clientAddress: 'boolean',
};

/** The largest delay Node's timers accept (about 24.8 days). */
const MAX_DELAY = 2 ** 31 - 1;

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
    default: {
      const min = kind === 'positive' ? 1 : 0;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DELAY) {
        const range = kind === 'positive' ? `from 1 to ${MAX_DELAY}` : `from 0 (off) to ${MAX_DELAY}`;
        throw new InvalidOptionError(name, `${name} must be a number of milliseconds ${range}, got ${show(value)}`);
      }
    }
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
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
