import type { ConnectionContext, ConnectionOutput } from '../../machines/connection-machine.js';
import type { ConnectionInputEvent, Side } from '../../machines/connection-events.js';
import type { ConnectionSettings } from '../../machines/connection-settings.js';
import type { Clock } from '../clock.js';

/** The socket calls the machine can ask for; the binding carries them out. */
export type EffectType = 'endSocket' | 'destroySocket' | 'refreshTimeout';

/** An event the runtime delivers: an input event, or a timer's `xstate.after.*` event. */
export type RuntimeEvent = ConnectionInputEvent | { type: `xstate.after.${string}` };

/** What a runtime reports back to whoever binds it to sockets. */
export interface RuntimeHost {
  /** Carry out a socket effect the machine asked for. */
  effect(type: EffectType, side: Side): void;
  /** A timer is due; the host may send a byte checkpoint before its event is delivered. */
  beforeTimer(): void;
  /** Every event, just before the machine processes it: the event log's input. */
  record(event: RuntimeEvent): void;
  /** Both regions are final. Called exactly once. */
  done(output: ConnectionOutput): void;
}

/** A read-only view of where a connection stands. */
export interface RuntimeState {
  /** The XState state value, e.g. `{ client: 'open', server: { draining: 'flushing' }, watch: … }`. */
  readonly value: unknown;
  readonly context: ConnectionContext;
  readonly done: boolean;
}

/**
 * Executes the connection machine for one connection. The binding only talks to this
 * interface, so a leaner interpreter of the same machine definition can replace the
 * XState-backed one without touching the binding.
 */
export interface MachineRuntime extends RuntimeState {
  /** Enter the initial state (arming its timers). */
  start(): void;
  /** Deliver an event; events sent while one is being processed are queued, in order. */
  send(event: ConnectionInputEvent): void;
  /** Cancel every timer; the runtime is inert afterwards. */
  stop(): void;
  /** Timers armed right now (a disposed connection must have none). */
  readonly pendingTimers: number;
}

/** Creates a runtime for one connection. */
export type RuntimeFactory = (settings: ConnectionSettings, clock: Clock, host: RuntimeHost) => MachineRuntime;
