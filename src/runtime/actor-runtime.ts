import { createActor, type Actor, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import { connectionMachine, type ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { EffectType, MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';

/** What XState's inspection API accepts: a callback or an observer. */
export type InspectionObserver = ((event: InspectionEvent) => void) | Observer<InspectionEvent>;

/** Each actor finds its host here, so one provided machine serves every connection. */
const hosts = new WeakMap<AnyActorRef, RuntimeHost>();

function effect(type: EffectType) {
  return ({ self }: { self: AnyActorRef }, params: { side: Side }) => hosts.get(self)?.effect(type, params.side);
}

/** The machine with its effect actions bound to whichever host owns the actor. */
const effectfulMachine = connectionMachine.provide({
  actions: {
    endSocket: effect('endSocket'),
    destroySocket: effect('destroySocket'),
    refreshTimeout: effect('refreshTimeout'),
  },
});

interface WrappedTimer {
  inner: TimerHandle;
  cleared: boolean;
}

/**
 * Runs a real XState actor per connection, for when someone is watching: the inspection
 * API sees every event and snapshot, as the Stately inspector expects. Costlier than the
 * table runtime (an actor per connection), so the supervisor uses it only for the
 * connections its `inspect` option selects. Timers still go through the injected clock, and
 * timer events are still recorded, so the event log and replay are the same either way.
 */
export class ActorRuntime implements MachineRuntime {
  private readonly actor: Actor<typeof effectfulMachine>;
  private readonly timers = new Set<WrappedTimer>();
  private finished = false;
  private stopped = false;

  constructor(
    settings: ConnectionSettings,
    private readonly clock: Clock,
    private readonly host: RuntimeHost,
    inspect?: InspectionObserver,
  ) {
    const timers = this.timers;
    this.actor = createActor(effectfulMachine, {
      input: settings,
      clock: {
        setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
          const timer: WrappedTimer = { inner: undefined, cleared: false };
          timer.inner = clock.setTimeout(() => {
            timers.delete(timer);
            // A checkpoint first; if it re-armed this very timer, XState cleared it: stale.
            host.beforeTimer();
            if (!timer.cleared) fn();
          }, ms);
          timers.add(timer);
          return timer;
        },
        clearTimeout: (handle: unknown) => {
          const timer = handle as WrappedTimer;
          timer.cleared = true;
          timers.delete(timer);
          clock.clearTimeout(timer.inner);
        },
      },
      inspect: (event: InspectionEvent) => {
        // Timer events reach the actor from its scheduler: record them as they arrive.
        if (event.type === '@xstate.event' && event.actorRef === this.actor && event.event.type.startsWith('xstate.after.')) {
          host.record(event.event as RuntimeEvent);
        }
        if (inspect === undefined) return;
        if (typeof inspect === 'function') inspect(event);
        else inspect.next?.(event);
      },
    });
    hosts.set(this.actor, host);
    this.actor.subscribe({ next: () => this.checkDone() });
  }

  get value(): unknown {
    return this.actor.getSnapshot().value;
  }
  get context(): ConnectionContext {
    return this.actor.getSnapshot().context;
  }
  get done(): boolean {
    // Kept once reached: a stopped actor reports 'stopped', not 'done'.
    return this.finished || this.actor.getSnapshot().status === 'done';
  }
  get pendingTimers(): number {
    return this.timers.size;
  }

  start(): void {
    this.actor.start();
  }

  send(event: ConnectionInputEvent): void {
    if (this.stopped || this.done) return;
    this.host.record(event);
    this.actor.send(event);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.actor.stop();
    // Whatever XState did not cancel itself, the clock must not keep.
    for (const timer of this.timers) {
      timer.cleared = true;
      this.clock.clearTimeout(timer.inner);
    }
    this.timers.clear();
  }

  private checkDone(): void {
    if (this.finished || !this.done) return;
    this.finished = true;
    const { reasons, ending, errors, bytes } = this.context;
    this.host.done({ reasons, ending, errors, bytes });
  }
}
