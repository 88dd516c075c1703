/**
 * How log records map to JetStream subjects: `<stream>.<instance>.<conn>` per connection,
 * `<stream>.<instance>._refused` for refusals, `<stream>.<instance>._gap` for losses no single
 * connection could be charged with. The stream holds `<stream>.>`.
 */
import { InvalidOptionError } from '../errors.js';
import { show } from '../validate.js';

/** The subject token of refused clients (no connection existed). */
export const REFUSED_TOKEN = '_refused';
/** The subject token of gap markers not charged to one connection. */
export const GAP_TOKEN = '_gap';

const NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Checks a stream or instance name: letters, digits, `_` and `-` (a subject token and a valid
 * stream name: no `.`, `*`, `>`, spaces or path separators).
 *
 * @throws {InvalidOptionError} naming `option`.
 */
export function checkName(option: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidOptionError(option, `${option} must be letters, digits, _ and - (a NATS subject token), got ${show(value)}`);
  }
  return value;
}

/** A connection id as a subject token: characters a token cannot hold become `_`. */
export function connToken(conn: number | string): string {
  const s = String(conn);
  return NAME.test(s) ? s : s.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** The subject of `instance`'s records of connection token `token` in `stream`. */
export function subjectOf(stream: string, instance: string, token: string): string {
  return `${stream}.${instance}.${token}`;
}

/** The filter reading back `instance`'s and/or `connection`'s records (every record without either). */
export function filterOf(stream: string, instance?: string, connection?: number | string): string {
  if (connection !== undefined) return `${stream}.${instance ?? '*'}.${connToken(connection)}`;
  return instance === undefined ? `${stream}.>` : `${stream}.${instance}.>`;
}
