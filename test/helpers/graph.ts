/**
 * Exhaustive exploration of the connection machine with XState's pure `transition()`.
 *
 * A node of the graph is a machine snapshot plus everything the world outside the
 * snapshot needs to continue faithfully:
 * - the timers the runtime would have armed (an `xstate.raise` with a delay adds its id, an
 *   `xstate.cancel` removes it, firing removes it; a timer event is sent only while pending);
 * - a small model of the two sockets (has `end()`/`destroy()` been called, have 'finish',
 *   'close', 'end' been seen), which says what the sockets still owe the machine once both
 *   peers go silent.
 * Context that no guard reads (bytes, errors, ending, and reasons beyond what a guard can
 * tell) is left out of the key: see {@link machineKey}. A node's snapshot is the first
 * representative of its key the walk met, so its reasons are one example among several.
 */
import { createActor, initialTransition, transition, type AnyActorScope } from 'xstate';
import { connectionMachine } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';

export type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];
export type Action = { type: string; params?: unknown };
export type GraphEvent = ConnectionInputEvent | { type: `xstate.after.${string}` };

const SIDES: readonly Side[] = ['client', 'server'];

/** Every input event the exploration applies at every state (timers come on top, when pending). */
export const INPUT_ALPHABET: readonly ConnectionInputEvent[] = [
  { type: 'CONNECTED' },
  ...SIDES.flatMap((side): ConnectionInputEvent[] => [
    { type: 'END', side },
    { type: 'FINISHED', side },
    { type: 'CLOSE', side },
    { type: 'TIMEOUT', side },
    { type: 'ERROR', side, code: 'ECONNRESET' },
    { type: 'ERROR', side, code: 'ECONNREFUSED' },
  ]),
  { type: 'ACTIVITY', clientToServer: 1, serverToClient: 1 },
  // Only the server has spoken (a banner): the first-byte watch keeps waiting.
  { type: 'ACTIVITY', clientToServer: 0, serverToClient: 1 },
  { type: 'SHUTDOWN' },
  { type: 'ABORT' },
];

export function label(event: GraphEvent): string {
  let text = labels.get(event);
  if (text === undefined) labels.set(event, (text = computeLabel(event)));
  return text;
}
const labels = new WeakMap<GraphEvent, string>();

/** One event object per timer id, so that its label is computed once. */
export function timerEvent(id: string): GraphEvent {
  let event = timerEvents.get(id);
  if (event === undefined) timerEvents.set(id, (event = { type: id as `xstate.after.${string}` }));
  return event;
}
const timerEvents = new Map<string, GraphEvent>();

function computeLabel(event: GraphEvent): string {
  const e = event as { type: string; side?: string; code?: string; clientToServer?: number };
  if (e.type.startsWith('xstate.after.')) return 'timer ' + e.type.slice('xstate.after.'.length);
  // Whether the client has sent is the one fact about bytes a guard reads (`clientSent`).
  if (e.type === 'ACTIVITY') return e.clientToServer! > 0 ? 'ACTIVITY' : 'ACTIVITY server only';
  return [e.type, e.side, e.code].filter((x) => x !== undefined).join(' ');
}

// --- socket model -----------------------------------------------------------------------

/** Per-side socket facts, as bits. */
const ENDED = 1; // our end() was called (endSocket)
const DESTROYED = 2; // destroy() was called, or the socket errored (Node destroys it then)
const FINISHED = 4; // 'finish' seen: our FIN flushed
const CLOSED = 8; // 'close' seen
const PEER_END = 16; // 'end' seen: the peer's FIN arrived
const CONNECTED_BIT = 1 << 10; // the upstream connected
const shift = (side: Side) => (side === 'client' ? 0 : 5);
const has = (flags: number, side: Side, bit: number) => (flags & (bit << shift(side))) !== 0;
const set = (flags: number, side: Side, bit: number) => flags | (bit << shift(side));

/** What the sockets may still emit by themselves when both peers are silent. */
export interface Owed {
  finished: Side[];
  closed: Side[];
}

/**
 * The binding's sockets after their peers went silent: an ended socket emits 'finish' once
 * its FIN flushed (an upstream only after it connected); a destroyed or errored socket emits
 * 'close'; so does one whose FIN flushed after the peer's FIN arrived (Node closes a fully
 * ended socket). Nothing else arrives.
 */
export function owedResponses(flags: number): Owed {
  const owed: Owed = { finished: [], closed: [] };
  for (const side of SIDES) {
    if (has(flags, side, CLOSED)) continue;
    const connected = side === 'client' || (flags & CONNECTED_BIT) !== 0;
    if (has(flags, side, ENDED) && !has(flags, side, DESTROYED) && !has(flags, side, FINISHED) && connected) {
      owed.finished.push(side);
    }
    if (has(flags, side, DESTROYED) || (has(flags, side, FINISHED) && has(flags, side, PEER_END))) owed.closed.push(side);
  }
  return owed;
}

function afterEvent(flags: number, event: GraphEvent): number {
  const e = event as { type: string; side?: Side };
  switch (e.type) {
    case 'CONNECTED':
      return flags | CONNECTED_BIT;
    case 'END':
      return set(flags, e.side!, PEER_END);
    case 'FINISHED':
      return set(flags, e.side!, FINISHED);
    case 'CLOSE':
      return set(flags, e.side!, CLOSED);
    case 'ERROR':
      return set(flags, e.side!, DESTROYED);
    default:
      return flags;
  }
}

// --- graph ------------------------------------------------------------------------------

export interface GraphEdge {
  event: GraphEvent;
  to: number;
}

export interface GraphNode {
  id: number;
  snapshot: Snapshot;
  /** Timers armed in this node, sorted. */
  pending: string[];
  sockets: number;
  done: boolean;
  depth: number;
  /** The BFS tree: the node and event this one was first reached from (-1 for the root). */
  parent: number;
  via: GraphEvent | null;
  edges: GraphEdge[];
}

export interface Graph {
  settings: ConnectionSettings;
  environment: Environment;
  nodes: GraphNode[];
  edgeCount: number;
  /** Distinct machine states (see {@link machineKey}) and `transition()` calls made. */
  machineStates: number;
  transitionCalls: number;
  /** Violations found while stepping (each with the path that reaches it). */
  stepViolations: string[];
}

/** JSON with object keys sorted: XState does not keep the key order of state values stable. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Context fields left out of a node's key: `settings` are fixed per graph, and `bytes`,
 * `errors` and `ending` are only ever written, never read by a guard (`clientSent` reads the
 * event's bytes, not the context's). `reasons` enter the
 * key only through {@link reasonClass}. Every other context field, including any added
 * later, is part of the key verbatim. `test/machine-graph.test.ts` checks these claims by
 * re-running steps with the abstracted values perturbed.
 */
export const ABSTRACTED_CONTEXT: readonly string[] = ['settings', 'bytes', 'reasons', 'errors', 'ending'];

/**
 * What the machine's guards can tell about a side's reason: unset, `peer_fin` (guard
 * `forwardingFin`), or any other. Every assignment maps a class to a class (first cause
 * wins, forced, or a grace expiry that keeps a proxy decision or writes `grace_expired`),
 * so reasons of one class take the same transitions.
 */
export function reasonClass(reason: string | null): string {
  if (reason === null) return '-';
  return reason === 'peer_fin' ? 'f' : 'o';
}

/**
 * The machine part of a node's key: the state value, the class of each reason, and every
 * context field not in {@link ABSTRACTED_CONTEXT}.
 */
export function machineKey(snapshot: Snapshot): string {
  let key = keys.get(snapshot);
  if (key === undefined) keys.set(snapshot, (key = computeMachineKey(snapshot)));
  return key;
}
const keys = new WeakMap<Snapshot, string>();

function computeMachineKey(snapshot: Snapshot): string {
  const c = snapshot.context as unknown as Record<string, unknown> & { reasons: { client: string | null; server: string | null } };
  let out = stableKey(snapshot.value) + '|' + reasonClass(c.reasons.client) + reasonClass(c.reasons.server);
  for (const k of Object.keys(c).sort()) if (!ABSTRACTED_CONTEXT.includes(k)) out += '|' + k + '=' + stableKey(c[k]);
  return out;
}

/** JSON-like text of a value, independent of object key order (faster than {@link canonical}). */
function stableKey(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return '[' + value.map(stableKey).join(',') + ']';
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(obj).sort()) out += k + ':' + stableKey(obj[k]) + ',';
  return out + '}';
}

interface StepResult {
  snapshot: Snapshot;
  pending: string[];
  sockets: number;
}

/** Every state node (the root included) with the event types it has transitions for. */
const HANDLERS: readonly { path: readonly string[]; events: ReadonlySet<string> }[] = (() => {
  const out: { path: readonly string[]; events: ReadonlySet<string> }[] = [];
  const walk = (node: typeof connectionMachine.root) => {
    if (node.ownEvents.length > 0) out.push({ path: node.path, events: new Set(node.ownEvents) });
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(connectionMachine.root);
  return out;
})();

export interface MachineEdge {
  snapshot: Snapshot;
  actions: Action[];
}

/**
 * `transition()` results per machine key and event: the sockets and timers do not change them.
 *
 * XState's `transition()` builds a fresh inert actor (which computes the machine's initial
 * state) on every call; this calls the machine's own `transition(snapshot, event, scope)`
 * with one reused inert scope instead, about five times faster, and skips the call for an
 * event no active state node handles. Every `checkEvery`-th result is compared with
 * XState's `transition()` to prove the shortcuts agree with it.
 */
export class TransitionMemo {
  private readonly memo = new Map<string, Map<string, MachineEdge>>();
  private readonly scope: AnyActorScope;
  private collected: Action[] = [];
  calls = 0;
  crossChecked = 0;

  constructor(settings: ConnectionSettings, private readonly checkEvery = 128) {
    const self = createActor(connectionMachine, { input: settings });
    this.scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: (action: Action) => {
        this.collected.push(action);
      },
    } as unknown as AnyActorScope;
  }

  get size(): number {
    return this.memo.size;
  }

  /** One `transition()` through the reused scope, not memoized. */
  raw(snapshot: Snapshot, event: GraphEvent): MachineEdge {
    this.collected = [];
    const next = connectionMachine.transition(snapshot, event as ConnectionInputEvent, this.scope) as Snapshot;
    return { snapshot: next, actions: this.collected };
  }

  step(snapshot: Snapshot, event: GraphEvent): MachineEdge {
    const key = machineKey(snapshot);
    let edges = this.memo.get(key);
    if (edges === undefined) this.memo.set(key, (edges = new Map()));
    const eventLabel = label(event);
    let edge = edges.get(eventLabel);
    if (edge === undefined) {
      // An event no active state node handles changes nothing (XState keeps the snapshot).
      if (!this.handled(snapshot, event.type)) edge = { snapshot, actions: [] };
      else edge = this.raw(snapshot, event);
      if (this.calls++ % this.checkEvery === 0) this.crossCheck(snapshot, event, edge);
      edges.set(eventLabel, edge);
    }
    return edge;
  }

  private handled(snapshot: Snapshot, type: string): boolean {
    return HANDLERS.some((h) => h.events.has(type) && isActive(snapshot.value, h.path));
  }

  private crossCheck(snapshot: Snapshot, event: GraphEvent, edge: MachineEdge): void {
    const [next, actions] = transition(connectionMachine, snapshot, event as ConnectionInputEvent);
    const show = (s: Snapshot, a: readonly Action[]) =>
      canonical([s.value, s.context, s.status, a.map((x) => [x.type, x.params ?? null])]);
    this.crossChecked++;
    if (show(next, actions as Action[]) !== show(edge.snapshot, edge.actions)) {
      throw new Error(`memoized step differs from xstate transition() on ${label(event)} from ${canonical(snapshot.value)}`);
    }
  }
}

/** What the runtime and the sockets make of a step's actions: timers armed or cancelled, ends and destroys. */
function applyActions(actions: readonly Action[], pending: Set<string>, sockets: number): number {
  for (const action of actions) {
    const p = action.params as { side?: Side; delay?: number; id?: string; sendId?: string } | undefined;
    switch (action.type) {
      case 'endSocket':
        sockets = set(sockets, p!.side!, ENDED);
        break;
      case 'destroySocket':
        sockets = set(sockets, p!.side!, DESTROYED);
        break;
      case 'xstate.raise':
        if (p!.delay !== undefined && p!.id !== undefined) pending.add(p!.id);
        break;
      case 'xstate.cancel':
        pending.delete(p!.sendId!);
        break;
    }
  }
  return sockets;
}

const touchesTimers = (actions: readonly Action[]) =>
  actions.some((a) => a.type === 'xstate.cancel' || (a.type === 'xstate.raise' && (a.params as { delay?: number }).delay !== undefined));

function step(memo: TransitionMemo, node: GraphNode, event: GraphEvent, trackSockets: boolean): StepResult {
  const { snapshot, actions } = memo.step(node.snapshot, event);
  const isTimer = event.type.startsWith('xstate.after.');
  let pending = node.pending;
  let sockets = 0;
  if (isTimer || touchesTimers(actions)) {
    const set = new Set(pending);
    // The runtime forgets a timer before it delivers its event.
    if (isTimer) set.delete(event.type);
    sockets = applyActions(actions, set, afterEvent(node.sockets, event));
    pending = [...set].sort();
  } else if (trackSockets) {
    sockets = applyActions(actions, new Set(), afterEvent(node.sockets, event));
  }
  // The free environment does not model the sockets: its nodes carry no socket facts.
  return { snapshot, pending, sockets: trackSockets ? sockets : 0 };
}

/** The events from the root to `node` along the BFS tree (a shortest path). */
export function pathTo(graph: Graph, node: GraphNode): string[] {
  const out: string[] = [];
  for (let n = node; n.parent >= 0; n = graph.nodes[n.parent]!) out.push(label(n.via!));
  return out.reverse();
}

export function describeNode(graph: Graph, node: GraphNode): string {
  const c = node.snapshot.context;
  return (
    `state ${JSON.stringify(node.snapshot.value)} reasons (e.g.) ${JSON.stringify(c.reasons)} ` +
    `pending [${node.pending.map((p) => p.slice('xstate.after.'.length)).join(', ')}]\n  path: ${pathTo(graph, node).join(' → ') || '(initial)'}`
  );
}

/** Which events the world may send at a node. */
export type Environment =
  /** Every event of {@link INPUT_ALPHABET} at every node, whatever the sockets did: robustness. */
  | 'free'
  /** Only what a real pair of sockets can still emit (see {@link socketEvents}); tracks the socket model. */
  | 'sockets';

/**
 * The input events a real socket pair can still produce given what has happened: each
 * socket emits 'end', 'finish', 'error' and 'close' at most once, 'finish' only after our
 * `end()` (an upstream's only once connected), 'close' only once it was destroyed, errored
 * or ended both ways, nothing after 'close'; an upstream connects at most once and not
 * after it was destroyed. TIMEOUT (a socket idle timeout set by the user), ACTIVITY,
 * SHUTDOWN and ABORT may come at any time.
 */
export function socketEvents(flags: number): ConnectionInputEvent[] {
  const owed = owedResponses(flags);
  const connected = (flags & CONNECTED_BIT) !== 0;
  const live = (side: Side) => !has(flags, side, CLOSED) && !has(flags, side, DESTROYED);
  return INPUT_ALPHABET.filter((event) => {
    switch (event.type) {
      case 'CONNECTED':
        return !connected && live('server');
      case 'END':
        return live(event.side) && !has(flags, event.side, PEER_END) && (event.side === 'client' || connected);
      case 'FINISHED':
        return owed.finished.includes(event.side);
      case 'CLOSE':
        return owed.closed.includes(event.side);
      case 'ERROR':
      case 'TIMEOUT':
        return live(event.side);
      default:
        return true;
    }
  });
}

export interface EdgeInfo {
  /** The snapshot this step produced (the node it leads to may hold another representative). */
  next: Snapshot;
  /** Timers still armed right after the step (the runtime clears them if the machine is done). */
  pending: string[];
}

export interface ExploreOptions {
  environment?: Environment;
  /** Stop (and report) past this many nodes. */
  maxNodes?: number;
  /** Share `transition()` results with another exploration under the same settings. */
  memo?: TransitionMemo;
  /** Called for every edge: return a violation message or null. */
  checkEdge?(from: GraphNode, event: GraphEvent, to: GraphNode, info: EdgeInfo): string | null;
}

/**
 * Breadth-first walk of every node reachable from the initial state under `settings`,
 * applying the environment's events and every pending timer at each node.
 */
export function explore(settings: ConnectionSettings, options: ExploreOptions = {}): Graph {
  const environment = options.environment ?? 'free';
  const maxNodes = options.maxNodes ?? 1_000_000;
  const memo = options.memo ?? new TransitionMemo(settings);
  const callsBefore = memo.calls;
  const [initial, initialActions] = initialTransition(connectionMachine, settings);
  const pending = new Set<string>();
  const sockets = applyActions(initialActions as Action[], pending, 0);
  const root: GraphNode = {
    id: 0,
    snapshot: initial,
    pending: [...pending].sort(),
    sockets,
    done: initial.status === 'done',
    depth: 0,
    parent: -1,
    via: null,
    edges: [],
  };
  const graph: Graph = { settings, environment, nodes: [root], edgeCount: 0, machineStates: 0, transitionCalls: 0, stepViolations: [] };
  const keyOf = (snapshot: Snapshot, pending: readonly string[], flags: number) =>
    machineKey(snapshot) + '|' + pending.join(',') + '|' + flags;
  const index = new Map<string, number>([[keyOf(initial, root.pending, sockets), 0]]);
  const machineStates = new Set<string>([machineKey(initial)]);
  for (let i = 0; i < graph.nodes.length; i++) {
    const node = graph.nodes[i]!;
    if (node.done) continue; // the runtime stops a done machine: nothing more is delivered
    const inputs = environment === 'free' ? INPUT_ALPHABET : socketEvents(node.sockets);
    const events: GraphEvent[] = [...inputs, ...node.pending.map(timerEvent)];
    const pendingKey = node.pending.join(',');
    for (const event of events) {
      const r = step(memo, node, event, environment === 'sockets');
      const flags = r.sockets;
      const done = r.snapshot.status === 'done';
      const pendingAfter = done ? [] : r.pending;
      const key = machineKey(r.snapshot) + '|' + (pendingAfter === node.pending ? pendingKey : pendingAfter.join(',')) + '|' + flags;
      let to = index.get(key);
      if (to === undefined) {
        if (graph.nodes.length >= maxNodes) throw new Error(`state space exceeds ${maxNodes} nodes under ${JSON.stringify(settings)}`);
        to = graph.nodes.length;
        index.set(key, to);
        machineStates.add(machineKey(r.snapshot));
        graph.nodes.push({
          id: to,
          snapshot: r.snapshot,
          pending: pendingAfter,
          sockets: flags,
          done,
          depth: node.depth + 1,
          parent: node.id,
          via: event,
          edges: [],
        });
      }
      node.edges.push({ event, to });
      graph.edgeCount++;
      const message = options.checkEdge?.(node, event, graph.nodes[to]!, { next: r.snapshot, pending: r.pending });
      if (message) graph.stepViolations.push(`${message}\n  at ${label(event)} from ${describeNode(graph, node)}`);
    }
  }
  graph.machineStates = machineStates.size;
  graph.transitionCalls = memo.calls - callsBefore;
  return graph;
}

// --- liveness ---------------------------------------------------------------------------

/**
 * Which events may happen once both peers are silent: only timers; timers and the 'close'
 * a destroyed (or fully ended) socket owes; or also the 'finish' an ended socket owes once
 * its FIN flushed (which a peer that stopped reading can withhold forever).
 */
export type QuietModel = 'timers' | 'timers+close' | 'timers+responses';

/** The edges a silent world can take from `node`: pending timers and what the sockets owe. */
export function quietEdges(node: GraphNode, model: QuietModel): GraphEdge[] {
  const owed = owedResponses(node.sockets);
  return node.edges.filter((edge) => {
    const e = edge.event as { type: string; side?: Side };
    if (e.type.startsWith('xstate.after.')) return true;
    if (e.type === 'CLOSE') return model !== 'timers' && owed.closed.includes(e.side!);
    if (e.type === 'FINISHED') return model === 'timers+responses' && owed.finished.includes(e.side!);
    return false;
  });
}

export interface Liveness {
  /** Nodes from which some silent run reaches `done`. */
  canFinish: Set<number>;
  /** Nodes from which every silent run reaches `done` (a timer re-arming itself in place counts as time passing). */
  mustFinish: Set<number>;
}

export function liveness(graph: Graph, model: QuietModel): Liveness {
  const n = graph.nodes.length;
  const preds: number[][] = Array.from({ length: n }, () => []);
  const outs: number[][] = Array.from({ length: n }, () => []);
  for (const node of graph.nodes) {
    for (const edge of quietEdges(node, model)) {
      if (edge.to === node.id) continue; // a self-loop only lets time pass
      outs[node.id]!.push(edge.to);
      preds[edge.to]!.push(node.id);
    }
  }
  // EF done: backward reachability from the done nodes.
  const canFinish = new Set<number>();
  const queue: number[] = [];
  for (const node of graph.nodes) if (node.done) (canFinish.add(node.id), queue.push(node.id));
  while (queue.length > 0) {
    const id = queue.pop()!;
    for (const p of preds[id]!) if (!canFinish.has(p)) (canFinish.add(p), queue.push(p));
  }
  // AF done: the attractor of the done nodes (every non-self-loop successor already in it,
  // and at least one such successor: a node with none is stuck).
  const mustFinish = new Set<number>();
  const remaining = outs.map((o) => new Set(o).size);
  const uniquePreds = preds.map((p) => [...new Set(p)]);
  for (const node of graph.nodes) if (node.done) (mustFinish.add(node.id), queue.push(node.id));
  while (queue.length > 0) {
    const id = queue.pop()!;
    for (const p of uniquePreds[id]!) {
      if (mustFinish.has(p)) continue;
      if (--remaining[p]! === 0) (mustFinish.add(p), queue.push(p));
    }
  }
  return { canFinish, mustFinish };
}

// --- state nodes ------------------------------------------------------------------------

/** Whether the state node with `path` (below the root) is active in `value`. */
export function isActive(value: unknown, path: readonly string[]): boolean {
  let v: unknown = value;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (typeof v === 'string') return v === segment && i === path.length - 1;
    if (v === null || typeof v !== 'object' || !(segment in (v as object))) return false;
    v = (v as Record<string, unknown>)[segment];
  }
  return true;
}

/** The leaf state paths of a state value, e.g. `client.draining.flushing`. */
export function leafPaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leafPaths(v, prefix + k + '.'));
}
