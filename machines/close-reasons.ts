/**
 * Why one side of a proxied connection ended. Close reasons are data: this is the only
 * list, and the access log, the event log and the supervisor's `close` event all use it.
 *
 * | code              | meaning                                                                 |
 * |-------------------|-------------------------------------------------------------------------|
 * | `fin`             | this side's peer sent FIN first (a normal half-close)                   |
 * | `peer_fin`        | the other side sent FIN, so this side was ended after its writes flushed |
 * | `closed`          | this side's socket closed without FIN exchange (and without an error)    |
 * | `peer_closed`     | the other side closed or failed; this side drained what it was owed      |
 * | `reset`           | this side was reset by its peer (`ECONNRESET`, `EPIPE`)                  |
 * | `error`           | any other socket error on this side                                     |
 * | `timeout`         | socket idle timeout with `timeoutBehavior: 'close'`                     |
 * | `idle_timeout`    | both directions silent for `idleTimeout`                                |
 * | `max_lifetime`    | the connection reached `maxLifetime`                                    |
 * | `parity_timeout`  | half-closed for `parityTimeout` and inactive for `parityInactivity`     |
 * | `first_byte_timeout` | the client sent nothing within `firstByteTimeout` of accept           |
 * | `grace_expired`   | the side did not finish within `gracePeriod` while draining; destroyed |
 * | `connect_refused` | the upstream refused the connection (wins over any earlier server reason) |
 * | `connect_timeout` | the upstream did not answer within `connectTimeout`                     |
 * | `connect_error`   | the upstream connect failed for another reason                          |
 * | `shutdown`        | graceful shutdown of the supervisor                                     |
 * | `aborted`         | immediate abort (`abort()`, or the shutdown deadline)                   |
 *
 * Refused at the door (a client closed before any connection or upstream existed: a
 * `Refusal`, never a side of a connection):
 *
 * | code                   | meaning                                                           |
 * |------------------------|-------------------------------------------------------------------|
 * | `rejected`             | over a limit or refused by the admission hook (the refusal's `limit`) |
 * | `proxy_header_invalid` | `acceptProxy`: the PROXY header was missing, malformed, too long or unsupported |
 * | `proxy_header_timeout` | `acceptProxy`: no complete PROXY header within its timeout        |
 */
export const CLOSE_REASONS = [
  'fin',
  'peer_fin',
  'closed',
  'peer_closed',
  'reset',
  'error',
  'timeout',
  'idle_timeout',
  'max_lifetime',
  'parity_timeout',
  'first_byte_timeout',
  'grace_expired',
  'connect_refused',
  'connect_timeout',
  'connect_error',
  'shutdown',
  'aborted',
  'rejected',
  'proxy_header_invalid',
  'proxy_header_timeout',
] as const;

/** One of {@link CLOSE_REASONS}. */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Socket error codes that mean the peer reset the connection. */
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Maps a socket error code to the close reason of the side it happened on. */
export function reasonForError(code: string | undefined, connecting: boolean): CloseReason {
  if (connecting) {
    if (code === 'ECONNREFUSED') return 'connect_refused';
    if (code === 'ETIMEDOUT') return 'connect_timeout';
    return 'connect_error';
  }
  return code !== undefined && RESET_CODES.has(code) ? 'reset' : 'error';
}

/** The reasons of a client refused at the door, before any connection existed. */
export const REFUSAL_REASONS = ['rejected', 'proxy_header_invalid', 'proxy_header_timeout'] as const satisfies readonly CloseReason[];

/** One of {@link REFUSAL_REASONS}. */
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Where a connection was when something ended it; `accept` for a client refused at the door. */
export type ClosePhase = 'accept' | 'connecting' | 'open' | 'half_closed' | 'draining';

/** The decisive ending of a connection: which side, why, and in which phase. */
export interface Ending {
  side: 'client' | 'server';
  reason: CloseReason;
  phase: ClosePhase;
}

/**
 * How decisive each reason is for the connection as a whole: the ending with the highest
 * rank is the one the termination code reports; among equals, the first. `peer_*` reasons
 * only follow the other side and never decide.
 */
const RANK: Readonly<Record<CloseReason, number>> = {
  peer_fin: 0,
  peer_closed: 0,
  fin: 1,
  closed: 1,
  reset: 2,
  error: 2,
  connect_refused: 3,
  connect_timeout: 3,
  connect_error: 3,
  grace_expired: 4,
  timeout: 5,
  idle_timeout: 5,
  max_lifetime: 5,
  parity_timeout: 5,
  first_byte_timeout: 5,
  shutdown: 6,
  aborted: 7,
  // Refusals end a client before any connection exists: nothing to compare them with.
  rejected: 3,
  proxy_header_invalid: 3,
  proxy_header_timeout: 3,
};

/** Keeps `current` unless `next` is strictly more decisive. */
export function moreDecisive(current: Ending | null, next: Ending): Ending | null {
  if (RANK[next.reason] === 0) return current;
  return current === null || RANK[next.reason] > RANK[current.reason] ? next : current;
}

const CAUSE: Readonly<Record<CloseReason, string>> = {
  fin: '?',
  closed: '?',
  reset: '?',
  error: '?',
  peer_fin: '-',
  peer_closed: '-',
  connect_refused: 'R',
  connect_error: 'R',
  connect_timeout: 'T',
  timeout: 't',
  idle_timeout: 'i',
  max_lifetime: 'l',
  parity_timeout: 'p',
  first_byte_timeout: 'f',
  grace_expired: 'g',
  shutdown: 'P',
  aborted: 'A',
  rejected: 'X',
  proxy_header_invalid: 'h',
  proxy_header_timeout: 'w',
};

const PHASE: Readonly<Record<ClosePhase, string>> = { accept: 'A', connecting: 'K', open: 'O', half_closed: 'H', draining: 'D' };

/**
 * A two-letter termination code in the spirit of HAProxy's `%ts`: what ended the
 * connection, then the phase it was in. `--` if nothing decisive was recorded.
 *
 * | 1st | cause | | 2nd | phase |
 * |---|---|---|---|---|
 * | `C` / `S` | client / server closed first (FIN, or a close without error) | | `K` | upstream connecting |
 * | `c` / `s` | client / server reset or socket error | | `O` | both directions open |
 * | `R` | upstream refused or failed to connect | | `H` | half-closed |
 * | `T` | upstream connect timeout | | `D` | draining (flushing before close) |
 * | `t` | socket timeout (`timeoutBehavior: 'close'`) | | `A` | at accept (refused at the door) |
 * | `i` / `l` / `p` / `f` | idle timeout / max lifetime / parity timeout / first-byte timeout | | | |
 * | `g` | grace period expired while draining | | | |
 * | `P` / `A` | proxy shutdown / abort | | | |
 * | `X` | refused: over a limit, or by the admission hook | | | |
 * | `h` / `w` | PROXY header invalid / not received in time | | | |
 */
export function closeCode(ending: Ending | null): string {
  if (ending === null) return '--';
  let cause = CAUSE[ending.reason];
  if (cause === '?') {
    const abnormal = ending.reason === 'reset' || ending.reason === 'error';
    cause = ending.side === 'client' ? (abnormal ? 'c' : 'C') : abnormal ? 's' : 'S';
  }
  return cause + PHASE[ending.phase];
}
