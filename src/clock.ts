/** An opaque timer handle returned by a {@link Clock}. */
export type TimerHandle = unknown;

/**
 * The one source of time for every timer the library arms. Inject a {@link ManualClock}
 * in tests to run a 24-hour connection in milliseconds.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for durations. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. Timers are unref'd: a connection's sockets keep the process alive, its
 * lifecycle timers alone should not.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to. Unlike XState's `SimulatedClock`, {@link advance}
 * fires due timers one by one in time order with `now()` set to each timer's due time,
 * so a timer armed by another timer's callback fires at the right moment too.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const supervisor = new Supervisor({ clock });
 * clock.advance(24 * 3600_000); // a simulated day
 * ```
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Set<ManualTimer>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as ManualTimer);
  }

  /** How many timers are armed: a disposed connection must leave none. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer is due, or `undefined` if none is armed. */
  nextDue(): number | undefined {
    return this.next()?.at;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (let timer = this.next(); timer !== undefined && timer.at <= target; timer = this.next()) {
      this.timers.delete(timer);
      this.current = timer.at;
      timer.fn();
    }
    this.current = target;
  }

  private next(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
