import { initialTransition, transition } from 'xstate';
import { connectionMachine, type ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { EffectType, MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';

type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];
type Action = { type: string; params?: unknown };

interface RaiseParams {
  event: RuntimeEvent;
  id?: string;
  delay?: number;
}

const EFFECTS: ReadonlySet<string> = new Set<EffectType>(['endSocket', 'destroySocket', 'refreshTimeout']);

/**
 * Runs the machine with XState's pure `transition()` and schedules its delayed events on
 * the injected clock itself. Because this runtime is the scheduler, a timer that fires is
 * an ordinary event: the host records it in the event log, and replay needs no timers.
 */
export class TransitionRuntime implements MachineRuntime {
  private snapshot: Snapshot;
  private readonly timers = new Map<string, TimerHandle>();
  private queue: RuntimeEvent[] | null = null;
  private busy = false;
  private stopped = false;

  constructor(
    settings: ConnectionSettings,
    private readonly clock: Clock,
    private readonly host: RuntimeHost,
  ) {
    const [snapshot, actions] = initialTransition(connectionMachine, settings);
    this.snapshot = snapshot;
    this.pendingStart = actions as Action[];
  }

  private pendingStart: Action[] | null;

  get value(): unknown {
    return this.snapshot.value;
  }
  get context(): ConnectionContext {
    return this.snapshot.context;
  }
  get done(): boolean {
    return this.snapshot.status === 'done';
  }
  get pendingTimers(): number {
    return this.timers.size;
  }

  start(): void {
    const actions = this.pendingStart;
    if (actions === null) return;
    this.pendingStart = null;
    this.execute(actions);
  }

  send(event: ConnectionInputEvent): void {
    this.deliver(event);
  }

  stop(): void {
    this.stopped = true;
    for (const handle of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
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
    const [next, actions] = transition(connectionMachine, this.snapshot, event as ConnectionInputEvent);
    this.snapshot = next;
    this.execute(actions as Action[]);
    if (next.status === 'done') {
      this.stop();
      this.host.done(next.output!);
    }
  }

  private execute(actions: Action[]): void {
    for (const action of actions) {
      if (EFFECTS.has(action.type)) {
        this.host.effect(action.type as EffectType, (action.params as { side: Side }).side);
      } else if (action.type === 'xstate.raise') {
        const params = action.params as RaiseParams;
        // Raises without a delay were already processed inside transition().
        if (params.delay !== undefined && params.id !== undefined) this.schedule(params.id, params.event, params.delay);
      } else if (action.type === 'xstate.cancel') {
        this.cancel((action.params as { sendId: string }).sendId);
      }
    }
  }

  private schedule(id: string, event: RuntimeEvent, delay: number): void {
    if (this.stopped) return;
    this.cancel(id);
    const handle: TimerHandle = this.clock.setTimeout(() => this.fire(id, handle, event), delay);
    this.timers.set(id, handle);
  }

  private fire(id: string, handle: TimerHandle, event: RuntimeEvent): void {
    if (this.timers.get(id) !== handle) return;
    // A checkpoint may re-arm this very timer (activity since it was armed): then it is stale.
    this.host.beforeTimer();
    if (this.timers.get(id) !== handle) return;
    this.timers.delete(id);
    this.deliver(event);
  }

  private cancel(id: string): void {
    const handle = this.timers.get(id);
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
    this.timers.delete(id);
  }
}

/** The default {@link RuntimeFactory}. */
export function createTransitionRuntime(settings: ConnectionSettings, clock: Clock, host: RuntimeHost): MachineRuntime {
  return new TransitionRuntime(settings, clock, host);
}
