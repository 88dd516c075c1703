import type { ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent } from '../../machines/connection-events.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';
import type { CompiledAction } from './transition-table.js';

type ScheduleAction = Extract<CompiledAction, { kind: 'schedule' }>;

/**
 * One timer slot of a runtime (see `timerSlot`): the delayed event and its clock handle while
 * armed. Made the first time the slot is armed and reused for every re-arm, with its `fire`
 * bound once: arming allocates nothing but the clock's own handle.
 */
class TimerSlot {
  handle: TimerHandle | null = null;
  event: RuntimeEvent | null = null;
  readonly fire: () => void;

  constructor(runtime: ScheduledRuntime, slot: number) {
    this.fire = () => runtime[kFire](slot);
  }
}

/** The runtime's timer callback, keyed by a module-private symbol. */
const kFire = Symbol('proxy-lifecycle.fire');

/**
 * What a runtime of compiled actions needs: an event queue (events sent while one is
 * processed wait their turn), effects handed to the host, and delayed events scheduled on
 * the injected clock. Because the runtime is the scheduler, a timer that fires is an
 * ordinary event: the host records it, and replay needs no timers. Subclasses only say how
 * one step is taken. (The reference `TransitionRuntime` does all this on its own, so that
 * the property test checks this code too.)
 */
export abstract class ScheduledRuntime implements MachineRuntime {
  /** Indexed by timer slot; a slot is null until first armed. */
  private timers: (TimerSlot | null)[] | null = null;
  private armedCount = 0;
  /** Events sent while one is processed; kept (emptied) between steps, not made anew each time. */
  private queue: RuntimeEvent[] | null = null;
  private busy = false;
  private stopped = false;
  private started = false;

  constructor(
    protected readonly clock: Clock,
    protected readonly host: RuntimeHost,
  ) {}

  abstract readonly value: unknown;
  abstract readonly context: ConnectionContext;
  abstract readonly done: boolean;
  /** The actions of entering the initial state. */
  protected abstract initialActions(): readonly CompiledAction[];
  /** Takes one step: updates the state and returns the actions to carry out. */
  protected abstract apply(event: RuntimeEvent): readonly CompiledAction[];

  get pendingTimers(): number {
    return this.armedCount;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.execute(this.initialActions());
  }

  send(event: ConnectionInputEvent): void {
    this.deliver(event);
  }

  stop(): void {
    this.stopped = true;
    const timers = this.timers;
    if (timers !== null) {
      for (let i = 0; i < timers.length; i++) {
        const timer = timers[i];
        if (timer == null || timer.handle === null) continue;
        this.clock.clearTimeout(timer.handle);
        timer.handle = null;
        timer.event = null;
      }
      this.timers = null;
      this.armedCount = 0;
    }
    this.queue = null;
  }

  private deliver(event: RuntimeEvent): void {
    if (this.stopped || this.done) return;
    if (this.busy) {
      (this.queue ??= []).push(event);
      return;
    }
    this.busy = true;
    try {
      this.step(event);
      const queue = this.queue;
      if (queue !== null) {
        for (let i = 0; i < queue.length && !this.stopped && !this.done; i++) this.step(queue[i]!);
      }
    } finally {
      this.busy = false;
      if (this.queue !== null) this.queue.length = 0;
    }
  }

  private step(event: RuntimeEvent): void {
    this.host.record(event);
    this.execute(this.apply(event), event);
    if (this.done) {
      this.stop();
      const context = this.context;
      this.host.done({ reasons: context.reasons, ending: context.ending, errors: context.errors, bytes: context.bytes });
    }
  }

  /** The delay to arm `action` with, for the event that led to it (`null`: the initial state). */
  protected abstract delayOf(action: ScheduleAction, event: RuntimeEvent | null): number;

  private execute(actions: readonly CompiledAction[], event: RuntimeEvent | null = null): void {
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      if (action.kind === 'effect') this.host.effect(action.type, action.side);
      else if (action.kind === 'schedule') this.schedule(action.slot, action.event, this.delayOf(action, event));
      else this.cancel(action.slot);
    }
  }

  private schedule(slot: number, event: RuntimeEvent, delay: number): void {
    if (this.stopped) return;
    const timers = (this.timers ??= []);
    while (timers.length <= slot) timers.push(null);
    const timer = (timers[slot] ??= new TimerSlot(this, slot));
    if (timer.handle !== null) this.clock.clearTimeout(timer.handle);
    else this.armedCount++;
    timer.event = event;
    timer.handle = this.clock.setTimeout(timer.fire, delay);
  }

  /** @internal A slot's clock timer fired (a cancelled one never does: the clock drops it). */
  [kFire](slot: number): void {
    const timer = this.timers?.[slot];
    if (timer == null || timer.handle === null) return;
    const handle = timer.handle;
    // A checkpoint may re-arm this very timer (activity since it was armed): then it is stale.
    this.host.beforeTimer();
    if (timer.handle !== handle) return;
    const event = timer.event!;
    timer.handle = null;
    timer.event = null;
    this.armedCount--;
    this.deliver(event);
  }

  private cancel(slot: number): void {
    const timer = this.timers?.[slot];
    if (timer == null || timer.handle === null) return;
    this.clock.clearTimeout(timer.handle);
    timer.handle = null;
    timer.event = null;
    this.armedCount--;
  }
}
