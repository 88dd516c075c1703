import { InvalidOptionError } from './errors.js';
import { show } from './validate.js';

/**
 * Checks a `signal` option. Duck-typed as Node's own `validateAbortSignal` is, so a signal
 * from another realm or an `AbortSignal.any()` result passes.
 *
 * @throws {InvalidOptionError} naming `name` when `value` is not an AbortSignal.
 */
export function checkSignal(name: string, value: unknown): AbortSignal {
  const signal = value as AbortSignal | null;
  if (
    typeof signal !== 'object' ||
    signal === null ||
    typeof signal.aborted !== 'boolean' ||
    typeof signal.addEventListener !== 'function' ||
    typeof signal.removeEventListener !== 'function'
  ) {
    throw new InvalidOptionError(name, `${name} must be an AbortSignal, got ${show(value)}`);
  }
  return signal;
}

const noop = (): void => {};

/**
 * Runs `onAbort` once when `signal` aborts, or at once if it already has. Returns what
 * removes the listener: call it when whatever the signal cancels is finished, so a
 * long-lived signal does not keep it (and its listener) alive. (`events.addAbortListener`
 * does the same but is experimental in Node 20 and missing before 20.5; engines allow 20.0.)
 */
export function whenAborted(signal: AbortSignal, onAbort: () => void): () => void {
  if (signal.aborted) {
    onAbort();
    return noop;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
