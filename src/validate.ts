import { InvalidOptionError } from './errors.js';

/** How a bad value is shown in an error message: strings quoted, objects by their type. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
}

/** The largest delay Node's timers accept (about 24.8 days); past it Node fires after 1 ms. */
export const MAX_DELAY = 2 ** 31 - 1;

/**
 * Checks a duration the library takes (a connection option, a shutdown timeout, a sampling
 * interval): a finite number of milliseconds from `min` to {@link MAX_DELAY}.
 *
 * @throws {InvalidOptionError} naming `name` and the allowed range.
 */
export function checkDuration(name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DELAY) {
    const range = min > 0 ? `from ${min} to ${MAX_DELAY}` : `from 0 (off) to ${MAX_DELAY}`;
    throw new InvalidOptionError(name, `${name} must be a number of milliseconds ${range}, got ${show(value)}`);
  }
  return value;
}

/**
 * Checks a count (records, connections): a whole number from `min` to `max`.
 *
 * @throws {InvalidOptionError} naming `name` and the allowed range.
 */
export function checkCount(name: string, value: unknown, min = 0, max = MAX_DELAY): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `${name} must be a whole number from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

