import type { SocketLike } from '../binding/socket-like.js';
import { InvalidOptionError } from '../errors.js';
import { show } from '../validate.js';

/**
 * A supervisor's admission policy (`SupervisorOptions.admit`): called by
 * `Supervisor.admit(client, address)` for each accepted client, before any connection or
 * upstream exists, so that a refusal costs nothing but the call. `address` is the client's
 * address (the socket's, or the one a PROXY-protocol header gave), or null when unknown. Returns `true` to admit, or the name of
 * the limit that refuses it (`'allow_list'`, `'rate_limit'`, …): the supervisor then destroys
 * the client (if the hook has not), counts the refusal and emits `refused`. It must not throw
 * and should not block: it runs on every accept.
 *
 * Connection limits, per-address limits and the descriptor budget ({@link OverflowGuard}) are
 * admission policies too; compose them in one hook.
 */
export type AdmissionHook = (client: SocketLike, address: string | null) => true | string;

/** @throws {InvalidOptionError} unless `value` is a function. */
export function checkAdmissionHook(value: unknown): AdmissionHook {
  if (typeof value !== 'function') throw new InvalidOptionError('admit', `admit must be a function (client, address) => true | string, got ${show(value)}`);
  return value as AdmissionHook;
}

/**
 * One admission hook from several, asked in order: the first refusal names the limit, and
 * the hooks after it are not asked (a hook that counts what it admits, as `ConnectionLimits`
 * does, releases it when the refused client's socket closes).
 *
 * @example
 * ```ts
 * const limits = new ConnectionLimits({ maxConnectionsPerIp: 50 });
 * const supervisor = new Supervisor({ admit: composeAdmission(limits.hook, () => guard.check()) });
 * ```
 */
export function composeAdmission(...hooks: readonly AdmissionHook[]): AdmissionHook {
  return (client, address) => {
    for (const hook of hooks) {
      const verdict = hook(client, address);
      if (verdict !== true) return verdict;
    }
    return true;
  };
}
