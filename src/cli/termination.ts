import type { CloseReason, RuntimeEvent, Side, SidePair } from '../index.js';

/** The region names of a connection's two sides, e.g. `open`, `draining.readEnded`. */
export interface Regions {
  client: string;
  server: string;
}

/** What one event did to a connection: its sides' regions, reasons and errors before and after. */
export interface StepFacts {
  event: RuntimeEvent;
  before: Facts;
  after: Facts;
}

export interface Facts {
  regions: Regions;
  reasons: SidePair<CloseReason | null>;
  errors: SidePair<string | null>;
}

/** Who or what ended a connection. */
export type Cause = 'C' | 'S' | 'T' | 'P' | 'G';
/** Where the connection was when it happened. */
export type Phase = 'C' | 'O' | 'H' | 'D';

const SIDES: readonly Side[] = ['client', 'server'];
const sideLetter = (side: Side): Cause => (side === 'client' ? 'C' : 'S');

/**
 * The phase a connection is in, from its sides' regions:
 * `C` the upstream is still connecting, `O` both sides open, `H` half-closed (one direction
 * done, the other still flowing), `D` draining (a side is flushing its last bytes or closed).
 */
export function phaseOf(regions: Regions): Phase {
  if (regions.server === 'connecting') return 'C';
  if (regions.client === 'open' && regions.server === 'open') return 'O';
  const ending = (r: string) => r === 'closed' || r === 'draining.flushing';
  return ending(regions.client) || ending(regions.server) ? 'D' : 'H';
}

/** The cause letter of a close reason newly set on `side`, and whether it is abnormal. */
function causeOfReason(reason: CloseReason, side: Side): { cause: Cause; abnormal: boolean } | null {
  switch (reason) {
    case 'fin':
      return { cause: sideLetter(side), abnormal: false };
    case 'closed':
    case 'reset':
    case 'error':
      return { cause: sideLetter(side), abnormal: true };
    case 'connect_refused':
    case 'connect_error':
      return { cause: 'S', abnormal: true };
    case 'connect_timeout':
    case 'timeout':
    case 'idle_timeout':
    case 'max_lifetime':
    case 'parity_timeout':
      return { cause: 'T', abnormal: true };
    case 'shutdown':
    case 'aborted':
      return { cause: 'P', abnormal: true };
    case 'grace_expired':
      return { cause: 'G', abnormal: true };
    default:
      // peer_fin, peer_closed: a consequence of the other side, which carries the cause.
      return null;
  }
}

/**
 * What an event did, as a termination cause: `null` if it ended nothing. Abnormal causes are
 * a forced close (grace expired, abort), a socket error, a timer or shutdown that moved a
 * side, and a socket that closed without FIN; the normal one is a peer's FIN.
 */
export function classifyStep(step: StepFacts): { cause: Cause; abnormal: boolean } | null {
  const { before, after, event } = step;
  const newReason = (side: Side) => (after.reasons[side] !== before.reasons[side] ? after.reasons[side] : null);
  for (const side of SIDES) {
    const r = newReason(side);
    if (r === 'grace_expired') return { cause: 'G', abnormal: true };
    if (r === 'aborted') return { cause: 'P', abnormal: true };
  }
  for (const side of SIDES) {
    if (before.errors[side] === null && after.errors[side] !== null) {
      const r = newReason(side);
      const byReason = r === null ? null : causeOfReason(r, side);
      return { cause: byReason?.cause ?? sideLetter(side), abnormal: true };
    }
  }
  const moved = before.regions.client !== after.regions.client || before.regions.server !== after.regions.server;
  if (event.type === 'SHUTDOWN' && moved) return { cause: 'P', abnormal: true };
  if ((event.type.startsWith('xstate.after.') || event.type === 'TIMEOUT') && moved) return { cause: 'T', abnormal: true };
  let normal: { cause: Cause; abnormal: boolean } | null = null;
  for (const side of SIDES) {
    const r = newReason(side);
    const c = r === null ? null : causeOfReason(r, side);
    if (c?.abnormal) return c;
    normal ??= c;
  }
  return normal;
}

/**
 * Derives a connection's two-letter termination code, in the spirit of HAProxy's
 * termination state, from the events it processed in order:
 *
 * - first letter, who or what ended it: `C` client, `S` server, `T` a timer (socket, idle,
 *   lifetime, parity or connect timeout), `P` the proxy (shutdown or abort), `G` the grace
 *   period expired while a side was draining;
 * - second letter, the phase it was in: `C` connecting, `O` open, `H` half-closed, `D` draining.
 *
 * The first abnormal cause wins over a normal FIN, whenever it happens: a client FIN followed
 * by a server reset while half-closed is `SH`, not `CO`. Without any, the first FIN decides.
 */
export class TerminationTracker {
  private abnormal: string | null = null;
  private normal: string | null = null;

  observe(step: StepFacts): void {
    if (this.abnormal !== null) return;
    const c = classifyStep(step);
    if (c === null) return;
    const code = c.cause + phaseOf(step.before.regions);
    if (c.abnormal) this.abnormal = code;
    else this.normal ??= code;
  }

  /** The code so far: `--` while nothing has ended. */
  get code(): string {
    return this.abnormal ?? this.normal ?? '--';
  }
}
