import { initialTransition, transition } from 'xstate';
import { connectionMachine, type ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { EffectType, MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';

type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];
/** An action XState's `transition()` hands back without carrying it out. */
type XStateAction = ReturnType<typeof transition<typeof connectionMachine>>[1][number];

/** The machine's named actions that are socket calls for the host. */
const HOST_EFFECTS: Readonly<Record<EffectType, true>> = { endSocket: true, destroySocket: true, refreshTimeout: true };

/** One delayed event armed on the clock, under XState's id for it. */
interface Armed {
  handle: TimerHandle;
  event: RuntimeEvent;
}

/**
 * The reference the lean {@link TableRuntime} is checked against: XState's pure
 * `transition()` on every event, and the actions it returns carried out here, as XState's
 * own actor would: a delayed `xstate.raise` arms a clock timer under its id (with the delay
 * XState resolved from the real event), `xstate.cancel` clears it, a named action is a
 * socket effect for the host. It shares no code with the table runtime (neither its action
 * compiler nor its scheduler), so a bug in either shows as a disagreement in the property
 * test instead of being copied into both.
 */
export class TransitionRuntime implements MachineRuntime {
  private snapshot: Snapshot;
  private readonly entryActions: readonly XStateAction[];
  private readonly armed = new Map<string, Armed>();
  /** Events sent while one is being processed, in order. */
  private readonly inbox: RuntimeEvent[] = [];
  private processing = false;
  private started = false;
  private stopped = false;

  constructor(
    settings: ConnectionSettings,
    private readonly clock: Clock,
    private readonly host: RuntimeHost,
  ) {
    [this.snapshot, this.entryActions] = initialTransition(connectionMachine, settings);
  }

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
    return this.armed.size;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.carryOut(this.entryActions);
  }

  send(event: ConnectionInputEvent): void {
    this.accept(event);
  }

  stop(): void {
    this.stopped = true;
    for (const { handle } of this.armed.values()) this.clock.clearTimeout(handle);
    this.armed.clear();
    this.inbox.length = 0;
  }

  private accept(event: RuntimeEvent): void {
    if (this.stopped || this.done) return;
    this.inbox.push(event);
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.inbox.length > 0 && !this.stopped && !this.done) {
        const next = this.inbox.shift()!;
        this.host.record(next);
        const [snapshot, actions] = transition(connectionMachine, this.snapshot, next as ConnectionInputEvent);
        this.snapshot = snapshot;
        this.carryOut(actions);
        if (this.done) {
          this.stop();
          const { reasons, ending, errors, bytes } = snapshot.context;
          this.host.done({ reasons, ending, errors, bytes });
        }
      }
    } finally {
      this.processing = false;
      this.inbox.length = 0;
    }
  }

  private carryOut(actions: readonly XStateAction[]): void {
    for (const action of actions) {
      const params = action.params as Record<string, unknown> | undefined;
      switch (action.type as string) {
        case 'xstate.raise': {
          // An undelayed raise was taken inside transition(); a delayed one is ours to arm.
          const { event, id, delay } = params as { event: RuntimeEvent; id?: string; delay?: number };
          if (typeof delay === 'number') this.arm(id ?? event.type, event, delay);
          break;
        }
        case 'xstate.cancel':
          this.disarm(params!.sendId as string);
          break;
        default:
          if (!Object.hasOwn(HOST_EFFECTS, action.type)) {
            throw new Error(`TransitionRuntime: the machine asked for action ${action.type}, which no host carries out`);
          }
          this.host.effect(action.type as EffectType, params!.side as Side);
      }
    }
  }

  private arm(id: string, event: RuntimeEvent, delay: number): void {
    if (this.stopped) return;
    // XState's scheduler would leave the first timer running: the machine must cancel first.
    if (this.armed.has(id)) throw new Error(`TransitionRuntime: timer ${id} armed again without a cancel`);
    const armed: Armed = { handle: undefined, event };
    armed.handle = this.clock.setTimeout(() => this.due(id, armed), delay);
    this.armed.set(id, armed);
  }

  private disarm(id: string): void {
    const armed = this.armed.get(id);
    if (armed === undefined) return;
    this.armed.delete(id);
    this.clock.clearTimeout(armed.handle);
  }

  private due(id: string, armed: Armed): void {
    if (this.armed.get(id) !== armed) return;
    this.host.beforeTimer();
    // The checkpoint may have re-armed or cancelled this very timer: then it is stale.
    if (this.armed.get(id) !== armed) return;
    this.armed.delete(id);
    this.accept(armed.event);
  }
}

/** A {@link RuntimeFactory} running XState's `transition()` per event. */
export function createTransitionRuntime(settings: ConnectionSettings, clock: Clock, host: RuntimeHost): MachineRuntime {
  return new TransitionRuntime(settings, clock, host);
}
