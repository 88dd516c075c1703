import { initialTransition, transition } from 'xstate';
import { connectionMachine, type ConnectionContext, type ConnectionMachine } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import { INACTIVITY_DELAYS } from '../../machines/inactivity.js';
import type { EffectType, RuntimeEvent } from './machine-runtime.js';

// Named through the exported type, not `typeof connectionMachine`: the declaration bundler
// re-exports the value without importing it, and consumers' tsc then cannot find the name.
type Snapshot = ReturnType<typeof initialTransition<ConnectionMachine>>[0];

/** One step's side effects, compiled once from XState's action objects. */
export type CompiledAction =
  | { kind: 'effect'; type: EffectType; side: Side }
  /**
   * `inactivity`: the delay counts silence, so a checkpoint that armed it takes off how long
   * the connection had already been silent (`sinceLastByte`); tables compile it in full.
   */
  | { kind: 'schedule'; id: string; slot: number; event: RuntimeEvent; delay: number; inactivity: boolean }
  | { kind: 'cancel'; id: string; slot: number };

/** An edge of the table: where an event leads from a node, and what to do on the way. */
export interface TableEdge {
  next: TableNode;
  actions: readonly CompiledAction[];
}

/**
 * A state of the machine with everything but the byte counts: no guard reads the context's
 * bytes, so two snapshots that differ only in bytes take the same transitions.
 */
export interface TableNode {
  /** A real XState snapshot of this node (bytes zeroed): the input of `transition()`. */
  readonly snapshot: Snapshot;
  readonly done: boolean;
  readonly edges: Map<string, TableEdge>;
}

const EFFECTS: ReadonlySet<string> = new Set<EffectType>(['endSocket', 'destroySocket', 'refreshTimeout']);
const ZERO_BYTES = Object.freeze({ clientToServer: 0, serverToClient: 0 });

/** `END:client` and the like, made once: a step looks its edge up without building a string. */
const SIDED_KEYS = {
  END: { client: 'END:client', server: 'END:server' },
  FINISHED: { client: 'FINISHED:client', server: 'FINISHED:server' },
  CLOSE: { client: 'CLOSE:client', server: 'CLOSE:server' },
  TIMEOUT: { client: 'TIMEOUT:client', server: 'TIMEOUT:server' },
} as const;

/** The key of an event in a node's edge map; byte counts are left out on purpose. */
export function eventKey(event: RuntimeEvent): string {
  switch (event.type) {
    case 'END':
    case 'FINISHED':
    case 'CLOSE':
    case 'TIMEOUT':
      return SIDED_KEYS[event.type][event.side];
    case 'ERROR':
      return 'ERROR:' + event.side + ':' + (event.code ?? '');
    case 'ACTIVITY':
      // Whether the client has sent anything is the one fact about bytes a guard reads
      // (`clientSent`, the first-byte watch): a checkpoint with only server bytes differs.
      return event.clientToServer > 0 ? 'ACTIVITY' : 'ACTIVITY:server';
    default:
      return event.type;
  }
}

/**
 * A small number for each delayed event id the machine uses (`xstate.after.<delay>.<state>`):
 * a runtime keeps its timers in an array indexed by it, not in a Map per connection. The ids
 * come from the machine's states, so there are a few dozen whatever the settings.
 */
const timerSlots = new Map<string, number>();

/** The slot of the delayed event `id` (see {@link timerSlots}). */
export function timerSlot(id: string): number {
  let slot = timerSlots.get(id);
  if (slot === undefined) timerSlots.set(id, (slot = timerSlots.size));
  return slot;
}

/** Turns XState's action objects into the few kinds a runtime carries out. */
export function compileActions(actions: readonly { type: string; params?: unknown }[]): CompiledAction[] {
  const out: CompiledAction[] = [];
  for (const action of actions) {
    if (EFFECTS.has(action.type)) {
      out.push({ kind: 'effect', type: action.type as EffectType, side: (action.params as { side: Side }).side });
    } else if (action.type === 'xstate.raise') {
      const p = action.params as { event: RuntimeEvent; id?: string; delay?: number };
      // Undelayed raises were processed inside transition() already.
      if (p.delay !== undefined && p.id !== undefined) {
        // `xstate.after.<delay>.<state id>`
        const inactivity = INACTIVITY_DELAYS.has(p.event.type.split('.')[2] ?? '');
        out.push({ kind: 'schedule', id: p.id, slot: timerSlot(p.id), event: p.event, delay: p.delay, inactivity });
      }
    } else if (action.type === 'xstate.cancel') {
      const id = (action.params as { sendId: string }).sendId;
      out.push({ kind: 'cancel', id, slot: timerSlot(id) });
    }
  }
  return out;
}

/**
 * The connection machine's transitions for one set of settings, derived lazily from the
 * XState machine itself: each (node, event) pair is computed once with XState's pure
 * `transition()` and then reused by every connection with these settings.
 */
export class TransitionTable {
  /** The node every connection starts in, and the actions of entering it. */
  readonly initial: TableEdge;
  private readonly nodes = new Map<string, TableNode>();

  constructor(readonly settings: ConnectionSettings) {
    const [snapshot, actions] = initialTransition(connectionMachine, settings);
    this.initial = { next: this.intern(snapshot), actions: compileActions(actions) };
  }

  /** Distinct nodes reached so far. */
  get size(): number {
    return this.nodes.size;
  }

  /** Follows `event` from `node`, computing and caching the edge on first use. */
  step(node: TableNode, event: RuntimeEvent): TableEdge {
    const key = eventKey(event);
    let edge = node.edges.get(key);
    if (edge === undefined) {
      // One edge serves every checkpoint: compiled for no silence, the runtime takes it off.
      const input = event.type === 'ACTIVITY' && event.idleMs !== undefined ? { ...event, idleMs: 0 } : event;
      const [next, actions] = transition(connectionMachine, node.snapshot, input as ConnectionInputEvent);
      edge = { next: next === node.snapshot ? node : this.intern(next), actions: compileActions(actions) };
      node.edges.set(key, edge);
    }
    return edge;
  }

  private intern(snapshot: Snapshot): TableNode {
    const c = snapshot.context;
    // Everything but bytes (no guard reads them) and settings (fixed per table): a context
    // field added later is part of the key without anyone having to remember it.
    const key = JSON.stringify([snapshot.value, { ...c, settings: undefined, bytes: undefined }]);
    let node = this.nodes.get(key);
    if (node === undefined) {
      const zeroed = c.bytes.clientToServer === 0 && c.bytes.serverToClient === 0;
      const representative = zeroed
        ? snapshot
        : connectionMachine.resolveState({ value: snapshot.value, context: { ...c, bytes: ZERO_BYTES } as ConnectionContext });
      node = { snapshot: representative as Snapshot, done: snapshot.status === 'done', edges: new Map() };
      this.nodes.set(key, node);
    }
    return node;
  }
}

const tables = new WeakMap<ConnectionSettings, TransitionTable>();
const tablesByValue = new Map<string, TransitionTable>();
/** Distinct settings are few (defaults plus a handful of overrides); past this, the oldest is forgotten. */
const MAX_TABLES = 256;

/** The table for `settings`, shared by every connection with equal settings. */
export function tableFor(settings: ConnectionSettings): TransitionTable {
  let table = tables.get(settings);
  if (table !== undefined) return table;
  const key = JSON.stringify(settings);
  table = tablesByValue.get(key);
  if (table === undefined) {
    table = new TransitionTable(settings);
    // Live runtimes keep their table alive; the cache only saves rebuilding it.
    if (tablesByValue.size >= MAX_TABLES) tablesByValue.delete(tablesByValue.keys().next().value!);
    tablesByValue.set(key, table);
  }
  tables.set(settings, table);
  return table;
}
