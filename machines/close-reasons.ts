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
 * | `grace_expired`   | the side did not finish within `gracePeriod` while draining; destroyed |
 * | `connect_refused` | the upstream refused the connection                                     |
 * | `connect_timeout` | the upstream did not answer within `connectTimeout`                     |
 * | `connect_error`   | the upstream connect failed for another reason                          |
 * | `shutdown`        | graceful shutdown of the supervisor                                     |
 * | `aborted`         | immediate abort (`abort()`, or the shutdown deadline)                   |
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
  'grace_expired',
  'connect_refused',
  'connect_timeout',
  'connect_error',
  'shutdown',
  'aborted',
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
