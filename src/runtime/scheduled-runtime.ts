import type { ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent } from '../../machines/connection-events.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';
import type { CompiledAction } from './transition-table.js';

type ScheduleAction = Extract<CompiledAction, { kind: 'schedule' }>;

/** A pending delayed event and the handle of its clock timer. */
interface PendingTimer {
  handle: TimerHandle;
  event: RuntimeEvent;
}

/**
 * What a runtime of compiled actions needs: an event queue (events sent while one is
 * processed wait their turn), effects handed to the host, and delayed events scheduled on
 * the injected clock. Because the runtime is the scheduler, a timer that fires is an
 * ordinary event: the host records it, and replay needs no timers. Subclasses only say how
 * one step is taken. (The reference `TransitionRuntime` does all this on its own, so that
 * the property test checks this code too.)
 */
export abstract class ScheduledRuntime implements MachineRuntime {
  private timers: Map<string, PendingTimer> | null = null;
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
    return this.timers === null ? 0 : this.timers.size;
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
    if (this.timers !== null) {
      for (const timer of this.timers.values()) this.clock.clearTimeout(timer.handle);
      this.timers = null;
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
      while (this.queue !== null && this.queue.length > 0 && !this.stopped && !this.done) {
        this.step(this.queue.shift()!);
      }
    } finally {
      this.busy = false;
      this.queue = null;
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
      else if (action.kind === 'schedule') this.schedule(action.id, action.event, this.delayOf(action, event));
      else this.cancel(action.id);
    }
  }

  private schedule(id: string, event: RuntimeEvent, delay: number): void {
    if (this.stopped) return;
    this.cancel(id);
    const timer: PendingTimer = { handle: undefined, event };
    timer.handle = this.clock.setTimeout(() => this.fire(id, timer), delay);
    (this.timers ??= new Map()).set(id, timer);
  }

  private fire(id: string, timer: PendingTimer): void {
    if (this.timers?.get(id) !== timer) return;
    // A checkpoint may re-arm this very timer (activity since it was armed): then it is stale.
    this.host.beforeTimer();
    if (this.timers?.get(id) !== timer) return;
    this.timers.delete(id);
    this.deliver(timer.event);
  }

  private cancel(id: string): void {
    const timer = this.timers?.get(id);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer.handle);
    this.timers!.delete(id);
  }
}
