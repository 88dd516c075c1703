import { availableParallelism } from 'node:os';
import { InvalidOptionError, checkInstance, resolveOptions, type LifecycleOptions, type SupervisorOptions } from '../index.js';
import { looksLikeHostPort, parseArgs, parseListen, parseTarget, type Endpoint, type FlagSpec } from './args.js';
import { CliError } from './cli-error.js';
import { DURATION_FORMS, looksLikeDuration, parseDuration } from './duration.js';

/** Each duration flag and the library option it sets, one to one. */
const DURATION_FLAGS = {
  'grace-period': 'gracePeriod',
  'socket-timeout': 'socketTimeout',
  'parity-timeout': 'parityTimeout',
  'parity-inactivity': 'parityInactivity',
  'connect-timeout': 'connectTimeout',
  'idle-timeout': 'idleTimeout',
  'max-lifetime': 'maxLifetime',
  'first-byte-timeout': 'firstByteTimeout',
} as const satisfies Record<string, keyof LifecycleOptions>;

/** The library option behind each flag, to name the flag in the library's error messages. */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.entries(DURATION_FLAGS).map(([flag, option]) => [option, flag])),
  timeoutBehavior: 'timeout-behavior',
  allowHalfOpen: 'no-half-open',
  keepAliveInitialDelay: 'keep-alive',
};

const FLAGS: FlagSpec = {
  listen: 'string',
  target: 'string',
  ...Object.fromEntries(Object.keys(DURATION_FLAGS).map((f) => [f, 'string' as const])),
  'timeout-behavior': 'string',
  'no-half-open': 'boolean',
  'keep-alive': { optional: true, shape: looksLikeDuration, describe: DURATION_FORMS },
  'shutdown-timeout': 'string',
  'accept-proxy': { optional: true, shape: looksLikeDuration, describe: DURATION_FORMS },
  'send-proxy': 'string',
  'max-connections': 'string',
  'max-connections-per-ip': 'string',
  instance: 'string',
  log: 'string',
  'access-log': 'string',
  metrics: 'string',
  inspect: { optional: true, shape: looksLikeHostPort, describe: '[HOST:]PORT' },
  'inspect-every': 'string',
  workers: 'string',
  json: 'boolean',
  quiet: 'boolean',
  help: 'boolean',
};

/** `forward`'s command line, validated. */
export interface ForwardConfig {
  listen: Endpoint;
  target: Required<Endpoint>;
  /** Lifecycle options, exactly as the flags set them (validated by the library). */
  options: LifecycleOptions;
  shutdownTimeout: number;
  /** Connections served at once (`--max-connections`); the file-descriptor limit applies too, the smaller wins. */
  maxConnections?: number;
  /** Connections served at once from one client address (`--max-connections-per-ip`); no limit by default. */
  maxConnectionsPerIp?: number;
  logFile?: string;
  /** Where the access log goes: a file, or standard error when unset (`--access-log -`). */
  accessLogFile?: string;
  /** Where to serve Prometheus metrics (`/metrics`), if at all. */
  metrics?: Endpoint;
  /** Whether to run the Stately inspector relay, on which address (port 0: a free one), for one connection in `every`. */
  inspect?: InspectConfig;
  /** Worker processes (`--workers N|auto`); 1, the default, runs no cluster at all. */
  workers: number;
  json: boolean;
  quiet: boolean;
  /** `--instance NAME`: the first part of every connection id; the library's default (the host name) when unset. */
  instance?: string;
  /** `--accept-proxy [DURATION]` and `--send-proxy v1|v2`, as the supervisor's options. */
  proxyProtocol: Pick<SupervisorOptions, 'acceptProxy' | 'sendProxy'>;
}

/** `--accept-proxy [DURATION]` (the header timeout, default the library's) and `--send-proxy v1|v2`. */
function parseProxyProtocol(accept: string | true | undefined, send: string | undefined): ForwardConfig['proxyProtocol'] {
  const out: ForwardConfig['proxyProtocol'] = {};
  if (accept === true) out.acceptProxy = true;
  else if (accept !== undefined) {
    const timeout = parseDuration(accept, '--accept-proxy');
    if (timeout < 1) throw new CliError(`--accept-proxy's header timeout must be at least 1ms, got ${JSON.stringify(accept)}`);
    out.acceptProxy = { timeout };
  }
  if (send !== undefined) {
    if (send !== 'v1' && send !== 'v2') throw new CliError(`--send-proxy must be v1 or v2, got ${JSON.stringify(send)}`);
    out.sendProxy = send;
  }
  return out;
}

/** `--inspect [[HOST:]PORT]` and `--inspect-every N`. */
export interface InspectConfig {
  /** The relay's address; 127.0.0.1 unless given, since it shows every inspected connection. */
  host: string;
  /** The relay's port; 0 picks a free one. */
  port: number;
  /** Inspect connections 1, 1 + every, 1 + 2 × every, … (1: all of them). */
  every: number;
}

/** `--inspect` alone or with `[HOST:]PORT` (host 127.0.0.1 when not given), and `--inspect-every`. */
function parseInspect(value: string | true | undefined, everyText: string | undefined): InspectConfig | undefined {
  if (value === undefined) {
    if (everyText !== undefined) throw new CliError('--inspect-every needs --inspect');
    return undefined;
  }
  const { host = '127.0.0.1', port } = value === true ? { port: 0 } : parseListen(value, '--inspect');
  let every = 1;
  if (everyText !== undefined) {
    every = Number(everyText);
    if (!/^\d+$/.test(everyText) || every < 1 || every > 2 ** 31 - 1) {
      throw new CliError(`--inspect-every must be a whole number from 1 (every connection) to ${2 ** 31 - 1}, got ${JSON.stringify(everyText)}`);
    }
  }
  return { host, port, every };
}

const MAX_COUNT = 2 ** 31 - 1;

/** The most `--workers` takes: far past any core count, short of a fork bomb. */
const MAX_WORKERS = 256;

/** `--workers N|auto`: 1 when not given; `auto` is one per core the process may use. */
function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === 'auto') return availableParallelism();
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_WORKERS) throw new CliError(`--workers must be auto or a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(text)}`);
  return n;
}

/** A `--flag N` connection count: a whole number from 1 to 2^31 − 1, or undefined when not given. */
function parseConnectionCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_COUNT) throw new CliError(`--${flag} must be a whole number from 1 to ${MAX_COUNT}, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Parses and validates `forward`'s flags: ports, addresses and the syntax of durations
 * ({@link parseDuration}) here, lifecycle options' ranges by the library itself, its
 * `InvalidOptionError` turned into a one-line error naming the flag.
 * Returns `'help'` for `--help`.
 */
export function parseForwardArgs(argv: readonly string[]): ForwardConfig | 'help' {
  const { flags, positionals } = parseArgs(argv, FLAGS, 'forward');
  if (flags.has('help')) return 'help';
  if (positionals.length > 0) throw new CliError(`forward takes no positional arguments, got ${JSON.stringify(positionals[0])}`);
  const str = (name: string) => flags.get(name) as string | undefined;
  const listen = str('listen');
  const target = str('target');
  if (listen === undefined) throw new CliError('forward needs --listen [HOST:]PORT');
  if (target === undefined) throw new CliError('forward needs --target HOST:PORT');
  const options: Record<string, unknown> = {};
  for (const [flag, option] of Object.entries(DURATION_FLAGS)) {
    const value = str(flag);
    if (value !== undefined) options[option] = parseDuration(value, `--${flag}`);
  }
  if (flags.has('timeout-behavior')) options.timeoutBehavior = str('timeout-behavior');
  if (flags.has('no-half-open')) options.allowHalfOpen = false;
  const keepAlive = flags.get('keep-alive');
  if (keepAlive !== undefined) {
    options.keepAlive = true;
    if (keepAlive !== true) options.keepAliveInitialDelay = parseDuration(keepAlive, '--keep-alive');
  }
  try {
    resolveOptions(options as LifecycleOptions);
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    const flag = FLAG_OF_OPTION[err.option] ?? err.option;
    const rest = err.message.startsWith(`${err.option} `) ? err.message.slice(err.option.length + 1) : err.message;
    throw new CliError(`--${flag} ${rest}`);
  }
  const shutdownText = str('shutdown-timeout');
  const shutdownTimeout = shutdownText === undefined ? 30_000 : parseDuration(shutdownText, '--shutdown-timeout');
  const inspect = parseInspect(flags.get('inspect'), str('inspect-every'));
  const maxConnections = parseConnectionCount('max-connections', str('max-connections'));
  const maxConnectionsPerIp = parseConnectionCount('max-connections-per-ip', str('max-connections-per-ip'));
  const accessLog = str('access-log');
  if (accessLog !== undefined && flags.has('quiet')) {
    throw new CliError('--quiet turns the access log off; give --quiet or --access-log, not both');
  }
  if (accessLog === '') throw new CliError('--access-log needs a FILE, or - for standard error');
  const instance = str('instance');
  if (instance !== undefined) {
    try {
      checkInstance('--instance', instance);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  const workers = parseWorkers(str('workers'));
  if (workers > 1 && inspect !== undefined) throw new CliError('--inspect needs --workers 1: the relay runs in one process');
  return {
    listen: parseListen(listen),
    target: parseTarget(target),
    options: options as LifecycleOptions,
    shutdownTimeout,
    maxConnections,
    maxConnectionsPerIp,
    logFile: str('log'),
    accessLogFile: accessLog === '-' ? undefined : accessLog,
    metrics: str('metrics') === undefined ? undefined : parseListen(str('metrics')!, '--metrics'),
    inspect,
    workers,
    json: flags.has('json'),
    quiet: flags.has('quiet'),
    instance,
    proxyProtocol: parseProxyProtocol(flags.get('accept-proxy') as string | true | undefined, str('send-proxy')),
  };
}
