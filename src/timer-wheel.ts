import { performance } from 'node:perf_hooks';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** Options of a {@link TimerWheel}. */
export interface TimerWheelOptions {
  /** Slot width in ms: a timer fires no earlier than due and at most one tick late. Default 16. */
  tick?: number;
  /**
   * What the wheel runs on: a monotonic time source and the one real timer it arms. Default:
   * `performance.now()` and an unref'd Node timer. Pass a `ManualClock` to drive it in tests.
   */
  base?: Clock;
  /**
   * The time {@link TimerWheel.now} reports (log stamps, durations). Default: `Date.now`
   * with the default base, else the base's `now()`.
   */
  now?: () => number;
}

/** Slots per level (8 bits of the due tick each). */
const SLOTS = 256;
const WORDS = SLOTS / 32;
/** Levels of slots; a timer beyond the last (2^24 ticks, 74 h at 16 ms) waits in the overflow list. */
const LEVELS = 3;
/** Ticks one slot of each level spans; `SPAN[LEVELS]` is how often the overflow list is looked at. */
const SPAN = [1, SLOTS, SLOTS ** 2, SLOTS ** 3] as const;
/** Node's setTimeout takes a longer delay as 1 ms. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * One armed timer (the handle `setTimeout` returns), or the sentinel heading a slot's
 * circular list: one shape for both keeps the list walks monomorphic.
 */
class WheelTimer {
  prev: WheelTimer = this;
  next: WheelTimer = this;
  /** The slot sentinel this timer is linked into; null once fired, cancelled or being fired. */
  slot: WheelTimer | null = null;
  constructor(
    public fn: (() => void) | null,
    /** Due time on the base clock. */
    readonly at: number,
    /** The tick it fires at: the first tick boundary at or after `at`. */
    readonly tick: number,
    /** Arming order, for timers due at the same time. */
    readonly seq: number,
    /** For a sentinel: its level (LEVELS: the overflow list) and index. */
    readonly level: number,
    readonly index: number,
  ) {}
}

/** The system clock's unref'd timers, on monotonic time. */
const monotonicBase: Clock = { ...systemClock, now: () => performance.now() };

/**
 * A {@link Clock} whose timers live in a hierarchical timing wheel (Varghese and Lauck;
 * the cascading wheel of Linux before 4.8) on one real timer, instead of a Node timer each:
 * arming and cancelling are a few field writes on a doubly linked list, O(1), with no native
 * call. Hand-written: the timer libraries on npm wrap a Node timer per timer, or tick
 * without pause. The supervisor gives itself one.
 *
 * - Precision: a timer fires no earlier than due and at most one `tick` late (plus whatever
 *   delays the event loop). Lifecycle timeouts are hundreds of ms or more.
 * - Levels: 3 × 256 slots of `tick`, 256×, 65 536× `tick` ms (4 s, 17 min, 74 h at 16 ms);
 *   a timer moves down a level when its slot comes up, so it is touched at most 3 times
 *   however long it is. Beyond 74 h, an overflow list looked at every 74 h.
 * - The real timer is armed only while a timer is, for the next slot that holds one (no
 *   wakeup per tick), and unref'd: an idle wheel costs nothing and keeps nothing alive.
 * - Scheduling runs on a monotonic clock, so a wall-clock step fires nothing early;
 *   {@link now} stays `Date.now()`, so recorded times and durations mean what they did.
 * - Timers due at the same time fire in the order they were armed; one armed by a callback
 *   fires at the next tick at the earliest; if a callback throws, the timers left in its
 *   slot fire on the next turn of the event loop.
 */
export class TimerWheel implements Clock {
  /** Milliseconds (see {@link TimerWheelOptions.now}). */
  readonly now: () => number;
  private readonly tickMs: number;
  private readonly base: Clock;
  /** The base time ticks count from, so that they start at 0 whatever the base's epoch. */
  private readonly origin: number;
  private readonly slots: WheelTimer[] = [];
  private readonly overflow: WheelTimer;
  /** One bit per non-empty slot, per level: the next slot with a timer is a bit scan away. */
  private readonly occupied = new Uint32Array(LEVELS * WORDS);
  /** The last tick processed: everything due up to it has fired. */
  private current = 0;
  private count = 0;
  private seq = 0;
  private timer: TimerHandle | null = null;
  /** The tick the real timer is armed for (Infinity: not armed): no event comes before it. */
  private wakeTick = Infinity;
  /** The tick whose slot is firing, while one is. */
  private firing = -1;
  private readonly onTimer = (): void => {
    this.timer = null;
    this.wakeTick = Infinity;
    this.run();
  };

  constructor(options: TimerWheelOptions = {}) {
    const tick = options.tick ?? 16;
    if (!(tick > 0 && Number.isFinite(tick))) throw new RangeError(`tick must be a positive number of ms, got ${String(tick)}`);
    this.tickMs = tick;
    this.base = options.base ?? monotonicBase;
    const base = this.base;
    this.now = options.now ?? (options.base === undefined ? Date.now : () => base.now());
    for (let level = 0; level < LEVELS; level++) {
      for (let index = 0; index < SLOTS; index++) this.slots.push(new WheelTimer(null, 0, 0, 0, level, index));
    }
    this.overflow = new WheelTimer(null, 0, 0, 0, LEVELS, 0);
    this.origin = this.base.now();
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.count;
  }

  /** Whether the one real timer is armed (never while no timer is). */
  get armed(): boolean {
    return this.timer !== null;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const now = this.base.now();
    const at = now + (ms > 0 ? ms : 0);
    // Nothing is due before the armed wakeup: catch up, so the timer lands in the finest slot.
    if (this.firing < 0) {
      const nowTick = Math.floor((now - this.origin) / this.tickMs);
      if (nowTick > this.current && nowTick < this.wakeTick) this.current = nowTick;
    }
    let tick = Math.ceil((at - this.origin) / this.tickMs);
    if (tick <= this.current) tick = this.current + 1;
    const timer = new WheelTimer(fn, at, tick, this.seq++, 0, 0);
    this.count++;
    const event = this.place(timer);
    if (this.firing < 0 && event < this.wakeTick) this.arm(event, now);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    if (!(handle instanceof WheelTimer) || handle.fn === null) return;
    handle.fn = null;
    if (handle.slot === null) return;
    this.unlink(handle);
    this.count--;
    if (this.count === 0 && this.firing < 0) this.disarm();
  }

  /** Links `timer` into the slot its tick falls in, seen from `current`; returns the tick that slot comes up. */
  private place(timer: WheelTimer): number {
    const tick = timer.tick;
    const ahead = tick - this.current;
    let level = 0;
    while (level < LEVELS && ahead >= SPAN[level + 1]!) level++;
    let sentinel: WheelTimer;
    let event: number;
    if (level === LEVELS) {
      sentinel = this.overflow;
      event = (Math.floor(this.current / SPAN[LEVELS]) + 1) * SPAN[LEVELS];
    } else {
      const span = SPAN[level]!;
      const index = Math.floor(tick / span) % SLOTS;
      sentinel = this.slots[level * SLOTS + index]!;
      if (sentinel.next === sentinel) this.occupied[level * WORDS + (index >>> 5)]! |= 1 << (index & 31);
      event = Math.floor(tick / span) * span;
    }
    timer.slot = sentinel;
    timer.prev = sentinel.prev;
    timer.next = sentinel;
    sentinel.prev.next = timer;
    sentinel.prev = timer;
    return event;
  }

  private unlink(timer: WheelTimer): void {
    const sentinel = timer.slot!;
    timer.prev.next = timer.next;
    timer.next.prev = timer.prev;
    timer.prev = timer;
    timer.next = timer;
    timer.slot = null;
    if (sentinel.next === sentinel && sentinel.level < LEVELS) {
      this.occupied[sentinel.level * WORDS + (sentinel.index >>> 5)]! &= ~(1 << (sentinel.index & 31));
    }
  }

  /** The real timer's callback: processes every tick with something to do, up to now. */
  private run(): void {
    const target = Math.floor((this.base.now() - this.origin) / this.tickMs);
    let threw = true;
    try {
      for (let next = this.nextEvent(); next <= target; next = this.nextEvent()) {
        this.current = next;
        this.firing = next;
        this.process(next);
      }
      if (target > this.current) this.current = target;
      threw = false;
    } finally {
      if (threw) {
        // The rest of the slot that threw fires on the next turn, as Node's timer lists do.
        this.current = this.firing - 1;
        this.firing = -1;
        if (this.count > 0) this.arm(this.current + 1, Infinity);
      } else {
        this.firing = -1;
        this.schedule();
      }
    }
  }

  /** Tick `t`: slots of the coarser levels that come up move down (coarsest first), then slot 0 fires. */
  private process(t: number): void {
    for (let level = LEVELS; level >= 1; level--) {
      const span = SPAN[level]!;
      if (t % span !== 0) continue;
      this.cascade(level === LEVELS ? this.overflow : this.slots[level * SLOTS + (Math.floor(t / span) % SLOTS)]!);
    }
    const sentinel = this.slots[t % SLOTS]!;
    if (sentinel.next === sentinel) return;
    if (sentinel.next.next !== sentinel) this.sort(sentinel);
    while (sentinel.next !== sentinel) {
      const timer = sentinel.next;
      this.unlink(timer);
      this.count--;
      const fn = timer.fn!;
      timer.fn = null;
      fn();
    }
  }

  /** Re-places every timer of a slot from the current tick: each lands a level lower, or fires. */
  private cascade(sentinel: WheelTimer): void {
    if (sentinel.next === sentinel) return;
    let timer = sentinel.next;
    sentinel.prev.next = sentinel.prev; // cut the last timer's link back to the sentinel
    sentinel.next = sentinel;
    sentinel.prev = sentinel;
    if (sentinel.level < LEVELS) this.occupied[sentinel.level * WORDS + (sentinel.index >>> 5)]! &= ~(1 << (sentinel.index & 31));
    for (;;) {
      const following = timer.next;
      const last = following === timer;
      this.place(timer);
      if (last) break;
      timer = following;
    }
  }

  /** Orders a firing slot by due time, then arming order (a slot spans one tick of due times). */
  private sort(sentinel: WheelTimer): void {
    const timers: WheelTimer[] = [];
    for (let t = sentinel.next; t !== sentinel; t = t.next) timers.push(t);
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    let prev = sentinel;
    for (const t of timers) {
      prev.next = t;
      t.prev = prev;
      prev = t;
    }
    prev.next = sentinel;
    sentinel.prev = prev;
  }

  /** The first tick after `current` with something to do: a slot that fires or moves down. */
  private nextEvent(): number {
    if (this.count === 0) return Infinity;
    let best = Infinity;
    for (let level = 0; level < LEVELS; level++) {
      const span = SPAN[level]!;
      const q = Math.floor(this.current / span) + 1;
      const start = q % SLOTS;
      const index = this.scan(level, start);
      if (index < 0) continue;
      const event = (q + ((index - start + SLOTS) % SLOTS)) * span;
      if (event < best) best = event;
    }
    if (this.overflow.next !== this.overflow) {
      const event = (Math.floor(this.current / SPAN[LEVELS]) + 1) * SPAN[LEVELS];
      if (event < best) best = event;
    }
    return best;
  }

  /** The first non-empty slot of `level` at or after `start`, wrapping around; -1 if none. */
  private scan(level: number, start: number): number {
    const words = this.occupied;
    const offset = level * WORDS;
    let w = start >>> 5;
    let bits = words[offset + w]! & (0xffffffff << (start & 31));
    for (let n = 0; n <= WORDS; n++) {
      if (bits !== 0) return (w << 5) + (31 - Math.clz32(bits & -bits));
      w = (w + 1) % WORDS;
      bits = words[offset + w]!;
    }
    return -1;
  }

  /** Arms the real timer for the next event, unless it is armed early enough already. */
  private schedule(): void {
    if (this.count === 0) {
      this.disarm();
      return;
    }
    const next = this.nextEvent();
    if (this.timer !== null && this.wakeTick <= next) return;
    this.arm(next, Infinity);
  }

  /** (Re-)arms the real timer for tick `tick`; `now` if the caller has it. */
  private arm(tick: number, now: number): void {
    if (this.timer !== null) this.base.clearTimeout(this.timer);
    this.wakeTick = tick;
    // Node truncates the delay to whole ms: a wakeup a little early finds nothing due and re-arms.
    const delay = this.origin + tick * this.tickMs - (now === Infinity ? this.base.now() : now);
    this.timer = this.base.setTimeout(this.onTimer, Math.min(MAX_DELAY, Math.max(0, delay)));
  }

  private disarm(): void {
    if (this.timer === null) return;
    this.base.clearTimeout(this.timer);
    this.timer = null;
    this.wakeTick = Infinity;
  }
}
