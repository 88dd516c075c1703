import { initialTransition, transition } from 'xstate';
import { connectionMachine, type ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { Clock } from '../clock.js';
import type { MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';
import { ScheduledRuntime } from './scheduled-runtime.js';
import { compileActions, type CompiledAction } from './transition-table.js';

type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];

/**
 * Runs the machine with XState's pure `transition()` on every event: the reference the
 * lean {@link TableRuntime} is checked against.
 */
export class TransitionRuntime extends ScheduledRuntime {
  private snapshot: Snapshot;
  private readonly entry: readonly CompiledAction[];

  constructor(settings: ConnectionSettings, clock: Clock, host: RuntimeHost) {
    super(clock, host);
    const [snapshot, actions] = initialTransition(connectionMachine, settings);
    this.snapshot = snapshot;
    this.entry = compileActions(actions);
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

  protected initialActions(): readonly CompiledAction[] {
    return this.entry;
  }

  protected apply(event: RuntimeEvent): readonly CompiledAction[] {
    const [next, actions] = transition(connectionMachine, this.snapshot, event as ConnectionInputEvent);
    this.snapshot = next;
    return compileActions(actions);
  }
}

/** A {@link RuntimeFactory} running XState's `transition()` per event. */
export function createTransitionRuntime(settings: ConnectionSettings, clock: Clock, host: RuntimeHost): MachineRuntime {
  return new TransitionRuntime(settings, clock, host);
}
