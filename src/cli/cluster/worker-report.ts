import type { Clock } from '../../clock.js';
import { REPORT_EVERY_MS } from './messages.js';

/**
 * Sends `read()` (a worker's open connections) through `send` every `every` ms, only when it
 * changed since the last report: the primary's view for the loss line of a crash, at a cost
 * that does not grow with connections (a poll, not a message per connection).
 * Returns the function that stops reporting.
 */
export function reportActive(read: () => number, send: (active: number) => void, clock: Clock, every = REPORT_EVERY_MS): () => void {
  let last = 0;
  let timer = clock.setTimeout(tick, every);
  function tick(): void {
    const now = read();
    if (now !== last) {
      last = now;
      send(now);
    }
    timer = clock.setTimeout(tick, every);
  }
  return () => clock.clearTimeout(timer);
}
