import { CliError } from './cli-error.js';

/**
 * A flag whose value may be left out (`--inspect`, `--inspect 4242`, `--inspect=4242`).
 * `shape` decides whether the next token is the flag's value, so that `--inspect --quiet`
 * and `--inspect` before a positional both leave the flag alone.
 */
export interface OptionalValue {
  readonly optional: true;
  /** Whether `text` looks like this flag's value. */
  readonly shape: (text: string) => boolean;
  /** The allowed values, for error messages (`[HOST:]PORT`). */
  readonly describe: string;
}

/**
 * What a flag takes: a value (`--listen 8080`, `--listen=8080`), nothing (`--quiet`), or a
 * value that may be left out ({@link OptionalValue}).
 */
export type FlagKind = 'string' | 'boolean' | OptionalValue;

/** The flags a command accepts, by long name without the dashes. */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/**
 * A parsed command line: flag values by name (`true` for a boolean flag, or an optional-value
 * flag given alone), and the positional arguments in order.
 */
export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

/**
 * A small strict parser: unknown flags, repeated flags, a missing value, a value given to a
 * boolean flag and a value of the wrong shape given to an optional-value flag are errors
 * ({@link CliError}, exit 2). `--` ends the flags. An optional-value flag takes the next
 * token only when it does not start with `-` and has the flag's shape; otherwise it stands
 * alone.
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec, command: string): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new CliError(`unknown flag ${arg} for ${command}${suggestion(arg.replace(/^-+/, ''), spec)}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) throw new CliError(`unknown flag --${name} for ${command}${suggestion(name, spec)}`);
    if (flags.has(name)) throw new CliError(`--${name} is given more than once`);
    if (kind === 'boolean') {
      if (eq !== -1) throw new CliError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    if (kind !== 'string') {
      if (eq === -1) {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('-') && kind.shape(next)) {
          flags.set(name, next);
          i++;
        } else flags.set(name, true);
        continue;
      }
      const given = arg.slice(eq + 1);
      // `--inspect=` asks for a value explicitly: a wrong one is an error, not "no value".
      if (!kind.shape(given)) throw new CliError(`--${name} takes ${kind.describe} or nothing, got ${JSON.stringify(given)}`);
      flags.set(name, given);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value !== undefined && value.startsWith('--')) value = undefined;
      else i++;
    }
    if (value === undefined || value === '') throw new CliError(`--${name} needs a value`);
    flags.set(name, value);
  }
  return { flags, positionals };
}

/** ` (did you mean --grace-period?)` when a known flag is close to the unknown one. */
function suggestion(name: string, spec: FlagSpec): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of Object.keys(spec)) {
    const d = distance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean --${best}?)`;
}

/** Levenshtein distance, for short flag names only. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** A host and a port, as given on the command line. `host` is absent for "all interfaces". */
export interface Endpoint {
  host?: string;
  port: number;
}

function parsePort(text: string, flag: string, min: number): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < min || Number(text) > 65535) {
    throw new CliError(`${flag}: port must be a whole number from ${min} to 65535, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Splits `HOST:PORT` or `[IPV6]:PORT`; `undefined` host when only a port is given. */
function splitHostPort(text: string, flag: string, expected: string): { host?: string; port: string } {
  if (/^\d+$/.test(text)) return { port: text };
  if (text.startsWith('[')) {
    const m = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
    if (m === null) throw new CliError(`${flag}: expected ${expected} (IPv6 as [::1]:PORT), got ${JSON.stringify(text)}`);
    return { host: m[1]!, port: m[2]! };
  }
  const colon = text.lastIndexOf(':');
  if (colon === -1) throw new CliError(`${flag}: expected ${expected}, got ${JSON.stringify(text)}`);
  const host = text.slice(0, colon);
  if (host.includes(':')) throw new CliError(`${flag}: write an IPv6 address in brackets, as [${host}]:PORT`);
  if (host === '') throw new CliError(`${flag}: the host is missing in ${JSON.stringify(text)}`);
  if (!/^[A-Za-z0-9._-]+$/.test(host)) throw new CliError(`${flag}: ${JSON.stringify(host)} is not a host name or address`);
  return { host, port: text.slice(colon + 1) };
}

/** The shape of a `[HOST:]PORT` value, for an optional-value flag: a port, `HOST:PORT` or `[IPV6]:PORT`. */
export function looksLikeHostPort(text: string): boolean {
  return /^(?:\d+|[A-Za-z0-9._-]+:\d+|\[[^\]]+\]:\d+)$/.test(text);
}

/** `--listen [HOST:]PORT` (or another listening flag): port 0 picks a free port; no host means every interface. */
export function parseListen(text: string, flag = '--listen'): Endpoint {
  const { host, port } = splitHostPort(text, flag, '[HOST:]PORT');
  return { host, port: parsePort(port, flag, 0) };
}

/** `--target HOST:PORT`: both required, port from 1. */
export function parseTarget(text: string): Required<Endpoint> {
  if (/^\d+$/.test(text)) throw new CliError(`--target: expected HOST:PORT, got ${JSON.stringify(text)} (the host is missing)`);
  const { host, port } = splitHostPort(text, '--target', 'HOST:PORT');
  return { host: host!, port: parsePort(port, '--target', 1) };
}

/** Formats an address for humans: `127.0.0.1:80`, `[::1]:80`. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
