/**
 * The connection machine's statechart as plain data, read from the XState machine definition
 * itself (state nodes, transitions, `after` delays, `always` rules, guards): the renderers
 * draw this, so a diagram cannot drift from the machine.
 */
import { and, not, or, type AnyStateMachine } from 'xstate';
import { connectionMachine } from '../../machines/connection-machine.js';

/** One state node of the chart. */
export interface ChartState {
  /** The state node's path below the root, e.g. `['client', 'draining', 'flushing']` (empty for the root). */
  path: string[];
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  children: ChartState[];
  /** The key of the initial child of a compound state. */
  initial?: string;
}

/** One transition of the chart (a guarded branch of an event is its own transition). */
export interface ChartTransition {
  source: string[];
  /** `null` for a transition without a target (it only runs actions). */
  target: string[] | null;
  kind: 'event' | 'after' | 'always';
  /** The event type for `event` transitions. */
  event?: string;
  /** The delay's name for `after` transitions. */
  delay?: string;
  /** The guard as text: names, `name(param)`, `!`, `&&`, `||`, `in(state)`. */
  guard?: string;
  /** `EVENT [guard]`, `after(delay) [guard]` or `always [guard]`. */
  label: string;
}

/** The whole chart. */
export interface Statechart {
  id: string;
  root: ChartState;
  transitions: ChartTransition[];
}

/** The part of an XState state node this module reads. */
interface NodeLike {
  key: string;
  path: string[];
  type: ChartState['type'];
  states: Record<string, NodeLike>;
  config: { initial?: unknown };
  transitions: Map<string, TransitionLike[]>;
  after: (TransitionLike & { delay: string | number })[];
  always?: TransitionLike[];
}

interface TransitionLike {
  eventType: string;
  guard?: unknown;
  target?: readonly { path: string[] }[];
}

/** What xstate's `and`, `or` and `not` return: a function carrying its operands and checker. */
interface Combinator {
  guards?: unknown[];
  check?: unknown;
}

// Known by their checker, shared by every guard one combinator makes; the function's name
// (`and`) is the fallback for a machine built with another copy of xstate. A bundler may rename
// it (`and2`), so the name alone is not enough.
const CHECKS = new Map<unknown, 'and' | 'or' | 'not'>([
  [(and([]) as Combinator).check, 'and'],
  [(or([]) as Combinator).check, 'or'],
  [(not('') as Combinator).check, 'not'],
]);
CHECKS.delete(undefined);

function combinatorKind(g: Combinator & { name: string }): 'and' | 'or' | 'not' | null {
  const known = CHECKS.get(g.check);
  if (known !== undefined) return known;
  return g.name === 'and' || g.name === 'or' || g.name === 'not' ? g.name : null;
}

/** A guard as the machine spells it: a name, `{ type, params }`, or `and`/`or`/`not`/`stateIn`. */
export function guardText(guard: unknown, nested = false): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as Combinator & { name: string; stateValue?: unknown };
    const kind = combinatorKind(g);
    if (kind === 'not' && g.guards) return `!${guardText(g.guards[0], true)}`;
    if ((kind === 'and' || kind === 'or') && g.guards) {
      const text = g.guards.map((inner) => guardText(inner, true)).join(kind === 'and' ? ' && ' : ' || ');
      return nested ? `(${text})` : text;
    }
    if (g.stateValue !== undefined) return `in(${stateValueText(g.stateValue)})`;
    return g.name || 'guard';
  }
  if (typeof guard === 'object' && guard !== null && 'type' in guard) {
    const { type, params } = guard as { type: string; params?: unknown };
    if (params === undefined || params === null || typeof params !== 'object') return type;
    const values = Object.values(params as Record<string, unknown>).map(String);
    return values.length === 0 ? type : `${type}(${values.join(', ')})`;
  }
  return String(guard);
}

function stateValueText(value: unknown): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  return entries.map(([k, v]) => `${k}.${stateValueText(v)}`).join(', ');
}

function withGuard(base: string, guard: string | undefined): string {
  return guard === undefined ? base : `${base} [${guard}]`;
}

function readState(node: NodeLike): ChartState {
  const children = Object.values(node.states).map(readState);
  const initial = typeof node.config.initial === 'string' ? node.config.initial : undefined;
  return { path: [...node.path], key: node.key, type: node.type, children, ...(initial === undefined ? {} : { initial }) };
}

function readTransitions(node: NodeLike, out: ChartTransition[]): void {
  const push = (t: TransitionLike, kind: ChartTransition['kind'], name: string | undefined) => {
    const guard = t.guard === undefined ? undefined : guardText(t.guard);
    const targets = t.target ?? [];
    const base = kind === 'event' ? name! : kind === 'after' ? `after(${name!})` : 'always';
    const common = { source: [...node.path], kind, guard, label: withGuard(base, guard) };
    const named = kind === 'event' ? { event: name } : kind === 'after' ? { delay: name } : {};
    if (targets.length === 0) out.push({ ...common, ...named, target: null });
    for (const target of targets) out.push({ ...common, ...named, target: [...target.path] });
  };
  for (const t of node.after) push(t, 'after', String(t.delay));
  for (const [eventType, list] of node.transitions) {
    if (eventType.startsWith('xstate.after.')) continue;
    for (const t of list) push(t, 'event', eventType);
  }
  for (const t of node.always ?? []) push(t, 'always', undefined);
  for (const child of Object.values(node.states)) readTransitions(child, out);
}

/** Reads the chart of `machine` (by default the connection machine). */
export function readStatechart(machine: AnyStateMachine = connectionMachine): Statechart {
  const root = machine.root as unknown as NodeLike;
  const transitions: ChartTransition[] = [];
  readTransitions(root, transitions);
  return { id: machine.id, root: readState(root), transitions };
}

/** Every state of the chart, depth first, root first. */
export function allStates(state: ChartState): ChartState[] {
  return [state, ...state.children.flatMap(allStates)];
}

/** The path of the deepest state that contains both paths as proper descendants (or itself, for a self loop). */
export function commonScope(a: string[], b: string[]): string[] {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  // A transition from a state to itself or to its own descendant lives in its parent's scope.
  return a.slice(0, Math.min(n, a.length - 1, b.length - 1));
}
