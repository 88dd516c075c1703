/**
 * The analysis of one option combination for test/machine-graph.test.ts, as plain data so
 * that it can run in a worker thread (see graph-worker.mjs) or in-process.
 */
import { getStateNodes } from '@xstate/graph';
import type { CloseReason } from '../../machines/close-reasons.js';
import type { Side } from '../../machines/connection-events.js';
import { connectionMachine } from '../../machines/connection-machine.js';
import { DEFAULT_SETTINGS, type ConnectionSettings, type TimeoutBehavior } from '../../machines/connection-settings.js';
import {
  ABSTRACTED_CONTEXT,
  canonical,
  describeNode,
  explore,
  INPUT_ALPHABET,
  isActive,
  label,
  leafPaths,
  liveness,
  machineKey,
  timerEvent,
  TransitionMemo,
  type Action,
  type EdgeInfo,
  type Graph,
  type GraphEvent,
  type GraphNode,
  type QuietModel,
  type Snapshot,
} from './graph.js';

const SIDES: readonly Side[] = ['client', 'server'];

export interface Combo {
  name: string;
  settings: ConnectionSettings;
}

/**
 * timeoutBehavior × allowHalfOpen × socketTimeout (0|>0) × idleTimeout (0|>0) × maxLifetime
 * (0|>0), with firstByteTimeout off; then firstByteTimeout on, crossed with allowHalfOpen and
 * idleTimeout (0|>0, the other timer that expires a live connection; maxLifetime expires it
 * the same way) under 'reset' without and 'close' with a socket timeout: 8 more, where the
 * full product would double the test's time for interactions it does not add.
 */
export const COMBOS: readonly Combo[] = (() => {
  const out: Combo[] = [];
  for (const timeoutBehavior of ['reset', 'close', 'ignore'] as TimeoutBehavior[]) {
    for (const allowHalfOpen of [true, false]) {
      for (const socketTimeout of [0, 1_000]) {
        for (const idleTimeout of [0, 2_000]) {
          for (const maxLifetime of [0, 3_000]) {
            out.push({
              name: `${timeoutBehavior} halfOpen=${allowHalfOpen} socket=${socketTimeout} idle=${idleTimeout} life=${maxLifetime}`,
              settings: { ...DEFAULT_SETTINGS, timeoutBehavior, allowHalfOpen, socketTimeout, idleTimeout, maxLifetime },
            });
          }
        }
      }
    }
  }
  for (const [timeoutBehavior, socketTimeout] of [['reset', 0], ['close', 1_000]] as [TimeoutBehavior, number][]) {
    for (const allowHalfOpen of [true, false]) {
      for (const idleTimeout of [0, 2_000]) {
        out.push({
          name: `${timeoutBehavior} halfOpen=${allowHalfOpen} socket=${socketTimeout} idle=${idleTimeout} life=0 first=1500`,
          settings: { ...DEFAULT_SETTINGS, timeoutBehavior, allowHalfOpen, socketTimeout, idleTimeout, firstByteTimeout: 1_500 },
        });
      }
    }
  }
  return out;
})();

// --- (1) (3) (4) (5) and timer bookkeeping, on every step ---------------------------------

/** Every state node with `after` timers, and the timer ids it arms while active. */
const TIMED_NODES = getStateNodes(connectionMachine)
  .filter((node) => node.after.length > 0)
  .map((node) => ({ path: node.path, timers: [...new Set(node.after.map((t) => t.eventType))] }));

/** The timers the runtime must hold for `snapshot`: those of its active timed state nodes. */
function expectedTimers(snapshot: Snapshot): string[] {
  if (snapshot.status === 'done') return [];
  return TIMED_NODES.filter((n) => isActive(snapshot.value, n.path))
    .flatMap((n) => n.timers)
    .sort();
}

const region = (snapshot: Snapshot, side: Side) => canonical((snapshot.value as Record<string, unknown>)[side]);
const isTimeoutEvent = (event: GraphEvent) => event.type === 'TIMEOUT' || event.type.startsWith('xstate.after.socketTimeout.');

/** Properties (1), (3), (4), (5) and timer bookkeeping, checked on every step's result. */
function checkEdge(settings: ConnectionSettings, from: GraphNode, event: GraphEvent, info: EdgeInfo): string | null {
  const next = info.next;
  const value = next.value as Record<Side, unknown>;
  const bothClosed = value.client === 'closed' && value.server === 'closed';
  // (1) done exactly when both sides are closed
  if ((next.status === 'done') !== bothClosed) return `(1) status ${next.status} but client ${region(next, 'client')}, server ${region(next, 'server')}`;
  // (4) a closed side always says why
  for (const side of SIDES) {
    if (value[side] === 'closed' && next.context.reasons[side] === null) return `(4) ${side} closed without a reason`;
  }
  // (5) a done machine has cancelled every timer by itself (before the runtime stops)
  if (next.status === 'done' && info.pending.length > 0) return `(5) done with timers still armed: ${info.pending.join(', ')}`;
  // timer bookkeeping: armed timers are exactly those of the active timed states (none stale, none lost)
  const expected = expectedTimers(next);
  if (next.status !== 'done' && info.pending.join() !== expected.join()) {
    return `timers armed [${info.pending.join(', ')}] but active timed states need [${expected.join(', ')}]`;
  }
  // (3) under 'reset' a socket timeout never moves a side nor closes it
  if (settings.timeoutBehavior === 'reset') {
    for (const side of SIDES) {
      if (next.context.reasons[side] === 'timeout') return `(3) reason 'timeout' set on ${side} under timeoutBehavior 'reset'`;
      if (isTimeoutEvent(event) && region(from.snapshot, side) !== region(next, side)) {
        return `(3) ${label(event)} moved ${side} from ${region(from.snapshot, side)} to ${region(next, side)} under 'reset'`;
      }
    }
  }
  return null;
}

// --- soundness of the node key -------------------------------------------------------------

/** Reasons a grace expiry keeps (the machine's PROXY_DECISIONS): perturbing swaps them with others. */
const PROXY_DECIDED: ReadonlySet<string> = new Set(['shutdown', 'timeout', 'idle_timeout', 'max_lifetime', 'parity_timeout', 'first_byte_timeout']);

/** Another reason of the same `reasonClass`: a proxy decision for any other reason and back. */
function sameClassReason(r: CloseReason | null): CloseReason | null {
  if (r === null || r === 'peer_fin') return r;
  return PROXY_DECIDED.has(r) ? 'reset' : 'max_lifetime';
}

/** The same state with every abstracted context field changed (reasons within their class). */
function perturb(snapshot: Snapshot): Snapshot {
  const c = snapshot.context;
  const error = (e: string | null) => (e === null ? 'EPERTURBED' : null);
  const context = {
    ...c,
    reasons: { client: sameClassReason(c.reasons.client), server: sameClassReason(c.reasons.server) },
    errors: { client: error(c.errors.client), server: error(c.errors.server) },
    ending: c.ending === null ? ({ side: 'server', reason: 'aborted', phase: 'draining' } as const) : null,
    bytes: { clientToServer: c.bytes.clientToServer + 17, serverToClient: c.bytes.serverToClient + 5 },
  };
  return connectionMachine.resolveState({ value: snapshot.value, context }) as Snapshot;
}

const actionsKey = (actions: readonly Action[]) => canonical(actions.map((a) => [a.type, a.params ?? null]));

/**
 * From every `stride`-th node, each event must lead to the same key, status and actions
 * whatever the values of the abstracted context fields.
 */
function checkAbstraction(graph: Graph, memo: TransitionMemo, stride: number): { checked: number; violations: string[] } {
  let checked = 0;
  const violations: string[] = [];
  for (const node of graph.nodes) {
    if (node.done || node.id % stride !== 0) continue;
    const other = perturb(node.snapshot);
    for (const event of [...INPUT_ALPHABET, ...node.pending.map(timerEvent)]) {
      const a = memo.step(node.snapshot, event);
      const b = memo.raw(other, event);
      checked++;
      const same =
        machineKey(a.snapshot) === machineKey(b.snapshot) && a.snapshot.status === b.snapshot.status && actionsKey(a.actions) === actionsKey(b.actions);
      if (!same) violations.push(`${label(event)} depends on what the node key leaves out of ${ABSTRACTED_CONTEXT.join('/')}: ${describeNode(graph, node)}`);
    }
  }
  return { checked, violations };
}

// --- (2) liveness --------------------------------------------------------------------------

/**
 * The states allowed to live forever once both peers are silent: both sides fully open
 * and no connection-wide timer that can end them (no idle timeout, no max lifetime, no
 * armed socket timeout with `timeoutBehavior: 'close'`, and no first-byte timer still
 * waiting for the client). Everything else must finish.
 */
export function mayLiveForever(settings: ConnectionSettings, node: GraphNode): boolean {
  const v = node.snapshot.value as { client: unknown; server: unknown; watch: { timeout: string; firstByte: string } };
  if (v.client !== 'open' || v.server !== 'open') return false;
  if (settings.idleTimeout > 0 || settings.maxLifetime > 0) return false;
  if (v.watch.firstByte === 'waiting') return false;
  return !(settings.timeoutBehavior === 'close' && v.watch.timeout === 'armed');
}

function checkLiveness(combo: Combo, what: string, graph: Graph, model: QuietModel) {
  const { canFinish, mustFinish } = liveness(graph, model);
  let immortal = 0;
  const stuck: GraphNode[] = [];
  const mayNotFinish: GraphNode[] = [];
  const unexpectedlyFinishing: GraphNode[] = [];
  for (const node of graph.nodes) {
    const forever = mayLiveForever(graph.settings, node);
    if (forever) immortal++;
    if (forever && canFinish.has(node.id)) unexpectedlyFinishing.push(node);
    if (!forever && !canFinish.has(node.id)) stuck.push(node);
    if (!forever && canFinish.has(node.id) && !mustFinish.has(node.id)) mayNotFinish.push(node);
  }
  const failures: string[] = [];
  const report = (kind: string, nodes: GraphNode[]) => {
    if (nodes.length === 0) return;
    const shortest = nodes.reduce((a, b) => (b.depth < a.depth ? b : a));
    failures.push(`${combo.name} [${what}] ${nodes.length} ${kind}, e.g. ${describeNode(graph, shortest)}`);
  };
  report('states stuck forever', stuck);
  report('states that may not finish', mayNotFinish);
  report('states the rule says may live forever but that always finish', unexpectedlyFinishing);
  // Not vacuous: with no connection-wide timer that can end them, fully open connections do live forever.
  const { idleTimeout, maxLifetime, socketTimeout, timeoutBehavior } = combo.settings;
  const expectImmortal = idleTimeout === 0 && maxLifetime === 0 && !(socketTimeout > 0 && timeoutBehavior === 'close');
  if (expectImmortal !== immortal > 0) failures.push(`${combo.name} [${what}] expected states that may live forever: ${expectImmortal}, found ${immortal}`);
  const line = `${what}: ${immortal} may live forever, ${stuck.length} stuck, ${mayNotFinish.length} may not finish`;
  return { line, failures };
}

// --- one combination -----------------------------------------------------------------------

export interface ComboReport {
  name: string;
  free: { states: number; machineStates: number; transitions: number; depth: number; transitionCalls: number; done: boolean };
  sockets: { states: number; transitions: number; machineStates: number; transitionCalls: number; done: boolean };
  crossChecked: number;
  abstractionChecked: number;
  /** (1) (3) (4) (5), timer bookkeeping and key soundness: each with a shortest path. */
  violations: string[];
  /** Steps on which a TIMEOUT (sent, or raised by the socket timer) set a reason 'timeout'. */
  timeoutCloses: number;
  visitedLeaves: string[];
  liveness: string[];
  livenessFailures: string[];
}

export function analyzeCombo(combo: Combo): ComboReport {
  const memo = new TransitionMemo(combo.settings);
  let timeoutCloses = 0;
  const free = explore(combo.settings, {
    memo,
    environment: 'free',
    checkEdge(from, event, _to, info) {
      const closedByTimeout = SIDES.some((s) => info.next.context.reasons[s] === 'timeout' && from.snapshot.context.reasons[s] === null);
      if (isTimeoutEvent(event) && closedByTimeout) timeoutCloses++;
      return checkEdge(combo.settings, from, event, info);
    },
  });
  // The socket environment only restricts the free one (its steps are all memoized from the
  // free graph, which the checks above covered); it is explored for liveness: what the
  // sockets still owe the machine once both peers are silent.
  const sockets = explore(combo.settings, { memo, environment: 'sockets' });
  const abstraction = checkAbstraction(free, memo, 10);
  const live = [
    checkLiveness(combo, 'free graph, timers only', free, 'timers'),
    checkLiveness(combo, 'socket graph, timers + close owed', sockets, 'timers+close'),
    checkLiveness(combo, 'socket graph, timers + finish/close owed', sockets, 'timers+responses'),
  ];
  return {
    name: combo.name,
    free: {
      states: free.nodes.length,
      machineStates: free.machineStates,
      transitions: free.edgeCount,
      depth: Math.max(...free.nodes.map((n) => n.depth)),
      transitionCalls: free.transitionCalls,
      done: free.nodes.some((n) => n.done),
    },
    sockets: {
      states: sockets.nodes.length,
      transitions: sockets.edgeCount,
      machineStates: sockets.machineStates,
      transitionCalls: sockets.transitionCalls,
      done: sockets.nodes.some((n) => n.done),
    },
    crossChecked: memo.crossChecked,
    abstractionChecked: abstraction.checked,
    violations: [...free.stepViolations, ...abstraction.violations],
    timeoutCloses,
    visitedLeaves: [...new Set(free.nodes.flatMap((n) => leafPaths(n.snapshot.value)))],
    liveness: live.map((l) => l.line),
    livenessFailures: live.flatMap((l) => l.failures),
  };
}
