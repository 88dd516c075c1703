/**
 * Waiting in tests over real sockets: for a condition ({@link until}), for some turns of the
 * event loop ({@link turns}), or for everything to stop moving ({@link settled}). Hand-written:
 * a test must wait on state it reads (a counter, a region), which no event announces.
 */

/** Lets the event loop turn `n` times, I/O included. */
export async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** How many turns {@link until} polls on before it falls back to a 1 ms timer. */
const EAGER_TURNS = 500;

/**
 * Waits until `predicate` holds: checks it at once, then once per event-loop turn (so a test
 * sees a state as soon as the I/O that makes it has run), after the first few hundred turns
 * once a millisecond. Throws `timed out waiting for <what>` after `ms` of wall time.
 */
export async function until(predicate: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const start = Date.now();
  for (let i = 0; !predicate(); i++) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await (i < EAGER_TURNS ? turns(1) : new Promise((resolve) => setTimeout(resolve, 1)));
  }
}

/**
 * Waits until `fingerprint()` has not changed for `stable` event-loop turns in a row: every
 * socket event caused by the last action has been delivered. Throws after `ms` of wall time.
 */
export async function settled(fingerprint: () => string, stable: number, ms: number): Promise<void> {
  const start = Date.now();
  let last = fingerprint();
  let same = 0;
  while (same < stable) {
    if (Date.now() - start > ms) throw new Error('the proxy did not settle');
    await turns(1);
    const now = fingerprint();
    if (now === last) same++;
    else {
      same = 0;
      last = now;
    }
  }
}
