import type { ConnectionContext } from '../../machines/connection-machine.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import { sinceLastByte } from '../../machines/inactivity.js';
import type { Clock } from '../clock.js';
import type { MachineRuntime, RuntimeEvent, RuntimeHost } from './machine-runtime.js';
import { ScheduledRuntime } from './scheduled-runtime.js';
import { tableFor, type CompiledAction, type TableNode, type TransitionTable } from './transition-table.js';

/**
 * The lean runtime: a connection is a pointer into a {@link TransitionTable} shared by all
 * connections with the same settings, two byte counts, and the timers its state needs.
 * It agrees with XState step for step (a property test checks states, context and actions),
 * at a fraction of the cost of running XState per connection.
 */
export class TableRuntime extends ScheduledRuntime {
  private node: TableNode;
  private clientToServer = 0;
  private serverToClient = 0;
  private readonly table: TransitionTable;

  constructor(settings: ConnectionSettings, clock: Clock, host: RuntimeHost) {
    super(clock, host);
    this.table = tableFor(settings);
    this.node = this.table.initial.next;
  }

  get value(): unknown {
    return this.node.snapshot.value;
  }

  get context(): ConnectionContext {
    const context = this.node.snapshot.context;
    if (this.clientToServer === 0 && this.serverToClient === 0) return context;
    return { ...context, bytes: { clientToServer: this.clientToServer, serverToClient: this.serverToClient } };
  }

  get done(): boolean {
    return this.node.done;
  }

  protected initialActions(): readonly CompiledAction[] {
    return this.table.initial.actions;
  }

  /** Edges are shared by every checkpoint, so the silence a checkpoint saw is taken off here. */
  protected override delayOf(action: Extract<CompiledAction, { kind: 'schedule' }>, event: RuntimeEvent | null): number {
    return action.inactivity && event !== null ? sinceLastByte(action.delay, event) : action.delay;
  }

  protected apply(event: RuntimeEvent): readonly CompiledAction[] {
    const edge = this.table.step(this.node, event);
    this.node = edge.next;
    if (event.type === 'ACTIVITY') {
      this.clientToServer = event.clientToServer;
      this.serverToClient = event.serverToClient;
    }
    return edge.actions;
  }
}

/** A {@link RuntimeFactory} for the lean table runtime. */
export function createTableRuntime(settings: ConnectionSettings, clock: Clock, host: RuntimeHost): MachineRuntime {
  return new TableRuntime(settings, clock, host);
}
