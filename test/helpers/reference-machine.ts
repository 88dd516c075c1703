/**
 * Reference driver for the connection machine (machines/), independent of the library's
 * runtimes (src/runtime/): the machine tests check transitions, effects and timers with it.
 *
 * A tiny, independent driver for the connection machine built on XState's pure
 * `initialTransition()` / `transition()`: it keeps the snapshot, remembers the delayed raises
 * (`xstate.raise` with `params.delay`) and cancels (`xstate.cancel`) each step returns, and
 * fires them in due order on `advance(ms)`. No sockets, no clock, no library runtime: tests of
 * the machine as data use it to check transitions, effects and armed timers directly.
 */
import { initialTransition, transition } from 'xstate';
import { connectionMachine } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';

export type Snapshot = ReturnType<typeof initialTransition<typeof connectionMachine>>[0];
/** An event the machine can be sent: an input event or a timer's `xstate.after.*` event. */
export type SimEvent = ConnectionInputEvent | { type: `xstate.after.${string}` };
/** An action object as `transition()` returns it. */
export interface ActionObject {
  type: string;
  params?: unknown;
}

interface SimTimer {
  due: number;
  seq: number;
  event: SimEvent;
}

/** `xstate.after.gracePeriod.connection.server.draining.flushing` -> `gracePeriod:server.draining.flushing`. */
export function timerName(id: string): string {
  const parts = id.split('.');
  // xstate . after . <delay> . connection . <path...>
  return `${parts[2]}:${parts.slice(4).join('.')}`;
}

/** The socket effects in an action list, as `endSocket client`, `destroySocket server`, ... */
export function effects(actions: readonly ActionObject[]): string[] {
  return actions
    .filter((a) => a.type === 'endSocket' || a.type === 'destroySocket' || a.type === 'refreshTimeout')
    .map((a) => `${a.type} ${(a.params as { side: Side }).side}`);
}

/** The timers an action list arms (delayed raises), as `name:path=delay`. */
export function scheduled(actions: readonly ActionObject[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.type !== 'xstate.raise') continue;
    const p = a.params as { id?: string; delay?: number };
    if (p.delay !== undefined && p.id !== undefined) out.push(`${timerName(p.id)}=${p.delay}`);
  }
  return out;
}

/** The timers an action list cancels, as `name:path`. */
export function cancelled(actions: readonly ActionObject[]): string[] {
  return actions
    .filter((a) => a.type === 'xstate.cancel')
    .map((a) => timerName((a.params as { sendId: string }).sendId));
}

/** Undelayed raises in an action list (events the machine sent itself), as their event types. */
export function raisedNow(actions: readonly ActionObject[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.type !== 'xstate.raise') continue;
    const p = a.params as { event: { type: string; side?: string; reason?: string }; delay?: number };
    if (p.delay === undefined) out.push([p.event.type, p.event.side ?? p.event.reason].filter(Boolean).join(' '));
  }
  return out;
}

/** Drives the machine with `transition()` and a simulated timer queue. */
export class MachineSim {
  snapshot: Snapshot;
  now = 0;
  /** Actions of entering the initial state. */
  readonly initialActions: ActionObject[];
  /** Every step taken (input and timer events), with the actions it returned. */
  readonly history: { t: number; event: SimEvent; actions: ActionObject[] }[] = [];
  private readonly timers = new Map<string, SimTimer>();
  private seq = 0;

  constructor(settings: Partial<ConnectionSettings> = {}) {
    const [snapshot, actions] = initialTransition(connectionMachine, settings);
    this.snapshot = snapshot;
    this.initialActions = actions as ActionObject[];
    this.apply(this.initialActions);
  }

  get value(): any {
    return this.snapshot.value;
  }
  get context() {
    return this.snapshot.context;
  }
  get status(): string {
    return this.snapshot.status;
  }
  get output() {
    return this.snapshot.output;
  }

  /** `open`, `connecting`, `closed`, `draining.flushing`, ... */
  region(side: Side): string {
    const v = this.value[side];
    return typeof v === 'string' ? v : `draining.${v.draining as string}`;
  }

  /** A watch sub-region's state: `timeout`, `idle`, `lifetime`, `activity`, `parity`, `firstByte`. */
  watch(name: 'timeout' | 'idle' | 'lifetime' | 'activity' | 'parity' | 'firstByte'): string {
    return this.value.watch[name];
  }

  /** Sends one event; returns the actions of that step. */
  send(event: SimEvent): ActionObject[] {
    const [next, actions] = transition(connectionMachine, this.snapshot, event as ConnectionInputEvent);
    this.snapshot = next;
    const list = actions as ActionObject[];
    this.history.push({ t: this.now, event, actions: list });
    this.apply(list);
    return list;
  }

  /** Pending timers as `name:path`, sorted. */
  pending(): string[] {
    return [...this.timers.keys()].map(timerName).sort();
  }

  /** When the timer `name:path` is due, or undefined. */
  dueOf(name: string): number | undefined {
    for (const [id, t] of this.timers) if (timerName(id) === name) return t.due;
    return undefined;
  }

  /** Moves time forward, firing due timers in order (each a step of its own). */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let best: [string, SimTimer] | undefined;
      for (const entry of this.timers) {
        const t = entry[1];
        if (t.due > target) continue;
        if (best === undefined || t.due < best[1].due || (t.due === best[1].due && t.seq < best[1].seq)) best = entry;
      }
      if (best === undefined) break;
      this.timers.delete(best[0]);
      this.now = best[1].due;
      if (this.snapshot.status !== 'done') this.send(best[1].event);
    }
    this.now = target;
  }

  private apply(actions: readonly ActionObject[]): void {
    for (const a of actions) {
      if (a.type === 'xstate.raise') {
        const p = a.params as { id?: string; delay?: number; event: SimEvent };
        if (p.delay === undefined || p.id === undefined) continue;
        this.timers.set(p.id, { due: this.now + p.delay, seq: this.seq++, event: p.event });
      } else if (a.type === 'xstate.cancel') {
        this.timers.delete((a.params as { sendId: string }).sendId);
      }
    }
  }
}
