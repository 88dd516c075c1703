import { hostname } from 'node:os';
import { InvalidOptionError } from './errors.js';
import { show } from './validate.js';

/**
 * The parts of a connection id, `<instance>-<boot>-<counter>` (e.g. `web1-mf3k2a1b-1047`).
 * Both are used as NATS subject tokens and in `key=value` log lines, so neither may hold
 * `.`, `*`, `>`, spaces or `=`.
 */
export interface ConnectionIdOptions {
  /**
   * Names this proxy among its peers: `[A-Za-z0-9_-]`, 1 to 32 characters. Default: the
   * host name's first label, other characters replaced by `_` (see {@link defaultInstance}).
   */
  instance?: string;
  /**
   * Tells this start of the process from every other of the same instance: `[A-Za-z0-9_]`,
   * 1 to 32 characters (no `-`, so an id splits from the right into instance, boot and
   * counter). Default: the start time, ms since the epoch, in base 36 (see {@link bootId}).
   * A cluster primary passes each worker its own, e.g. `<base>w<workerIndex>`.
   */
  boot?: string;
}

const INSTANCE = /^[A-Za-z0-9_-]{1,32}$/;
const BOOT = /^[A-Za-z0-9_]{1,32}$/;
/** A connection id in a log: this engine's, or the decimal number of an older log. */
const CONNECTION_ID = /^[A-Za-z0-9_-]{1,100}$/;

/** Whether `value` can be a connection id read from a log (`[A-Za-z0-9_-]`, 1 to 100 characters). */
export function isConnectionId(value: unknown): value is string {
  return typeof value === 'string' && CONNECTION_ID.test(value);
}

/**
 * Checks an `instance` name.
 *
 * @throws {InvalidOptionError} naming `name` and the allowed characters and length.
 */
export function checkInstance(name: string, value: unknown): string {
  if (typeof value !== 'string' || !INSTANCE.test(value)) {
    throw new InvalidOptionError(name, `${name} must be 1 to 32 of the characters A-Z a-z 0-9 _ - (it is part of every connection id and a NATS subject token), got ${show(value)}`);
  }
  return value;
}

/**
 * Checks a `boot` id.
 *
 * @throws {InvalidOptionError} naming `name` and the allowed characters and length.
 */
export function checkBoot(name: string, value: unknown): string {
  if (typeof value !== 'string' || !BOOT.test(value)) {
    throw new InvalidOptionError(name, `${name} must be 1 to 32 of the characters A-Z a-z 0-9 _ (no -: it separates the parts of a connection id), got ${show(value)}`);
  }
  return value;
}

/**
 * The default instance name from a host name: its first label (`web1.example.com` → `web1`),
 * characters outside `[A-Za-z0-9_-]` replaced by `_`, at most 32; `host` if nothing is left.
 */
export function defaultInstance(host: string = hostname()): string {
  const label = host.split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32);
  return label === '' ? 'host' : label;
}

/** The time of the last default boot id of this process, so the next one differs. */
let lastBoot = -1;

/**
 * The default boot id: `t` (ms since the epoch) in base 36, e.g. `mf3k2a1b`; a later ms
 * than the last one of this process, so that two supervisors created in the same ms (say,
 * sharing a log) still differ.
 */
export function bootId(t: number = Date.now()): string {
  lastBoot = Math.max(Math.floor(t), lastBoot + 1, 0);
  return lastBoot.toString(36);
}

/**
 * Makes the connection ids of one supervisor: `<instance>-<boot>-<counter>`, the counter from
 * 1. Unique across hosts (instance), restarts and worker processes (boot) and connections
 * (counter), and a valid NATS subject token. {@link next} is one string concatenation: it
 * runs once per connection.
 *
 * @example
 * ```ts
 * const ids = new ConnectionIds({ instance: 'web1' });
 * ids.next(); // 'web1-mf3k2a1b-1'
 * ```
 */
export class ConnectionIds {
  readonly instance: string;
  readonly boot: string;
  /** `<instance>-<boot>-`: what every id of this supervisor starts with. */
  readonly prefix: string;
  private counter = 0;

  /**
   * @param now the start time for the default boot id (ms since the epoch): wall time, as
   *   the boot id must differ across restarts, which an injected test clock would not.
   * @throws {InvalidOptionError} for a bad `instance` or `boot`.
   */
  constructor(options: ConnectionIdOptions = {}, now: number = Date.now()) {
    this.instance = options.instance === undefined ? defaultInstance() : checkInstance('instance', options.instance);
    this.boot = options.boot === undefined ? bootId(now) : checkBoot('boot', options.boot);
    this.prefix = `${this.instance}-${this.boot}-`;
  }

  /** The next id. */
  next(): string {
    return this.prefix + ++this.counter;
  }

  /** Ids made so far (the last id's counter). */
  get count(): number {
    return this.counter;
  }
}
