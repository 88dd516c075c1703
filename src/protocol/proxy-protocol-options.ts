/** The supervisor's PROXY protocol options (`acceptProxy`, `sendProxy`), validated once. */
import { InvalidOptionError } from '../errors.js';
import { checkDuration, show } from '../validate.js';
import type { ProxyProtocolVersion } from './proxy-header.js';

/** `SupervisorOptions.acceptProxy` as an object. */
export interface AcceptProxyOptions {
  /**
   * Refuse a client whose header is not complete after this many ms (`proxy_header_timeout`).
   * Default 10 000: a bound like nginx's `proxy_protocol_timeout`, so a client that connects
   * and sends nothing holds a descriptor for no longer.
   */
  timeout?: number;
}

/** Default of {@link AcceptProxyOptions.timeout}. */
export const ACCEPT_PROXY_TIMEOUT = 10_000;

/** What the supervisor runs on: `acceptProxy` as its timeout (null: off), `sendProxy` (null: off). */
export interface ResolvedProxyProtocol {
  acceptTimeout: number | null;
  sendProxy: ProxyProtocolVersion | null;
}

/**
 * @throws {InvalidOptionError} naming `acceptProxy`, `acceptProxy.timeout` or `sendProxy` and
 * what each allows.
 */
export function resolveProxyProtocol(acceptProxy: unknown, sendProxy: unknown): ResolvedProxyProtocol {
  let acceptTimeout: number | null = null;
  if (acceptProxy === true) acceptTimeout = ACCEPT_PROXY_TIMEOUT;
  else if (typeof acceptProxy === 'object' && acceptProxy !== null) {
    for (const key of Object.keys(acceptProxy)) {
      if (key !== 'timeout') throw new InvalidOptionError(`acceptProxy.${key}`, `unknown acceptProxy option ${key}. Allowed: timeout`);
    }
    const { timeout } = acceptProxy as AcceptProxyOptions;
    acceptTimeout = timeout === undefined ? ACCEPT_PROXY_TIMEOUT : checkDuration('acceptProxy.timeout', timeout, 1);
  } else if (acceptProxy !== undefined && acceptProxy !== false) {
    throw new InvalidOptionError('acceptProxy', `acceptProxy must be true, false or { timeout?: ms }, got ${show(acceptProxy)}`);
  }
  if (sendProxy !== undefined && sendProxy !== 'v1' && sendProxy !== 'v2') {
    throw new InvalidOptionError('sendProxy', `sendProxy must be 'v1' or 'v2', got ${show(sendProxy)}`);
  }
  return { acceptTimeout, sendProxy: sendProxy ?? null };
}
