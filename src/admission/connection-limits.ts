import type { SocketLike } from '../binding/socket-like.js';
import { normalizeAddress } from '../protocol/ip-address.js';
import { checkCount } from '../validate.js';
import { InvalidOptionError } from '../errors.js';
import type { AdmissionHook } from './admission-hook.js';

/** Options of {@link ConnectionLimits}: each limit off (Infinity) unless given. */
export interface ConnectionLimitsOptions {
  /** Connections admitted at once, from every client together (HAProxy's `maxconn`). */
  maxConnections?: number;
  /** Connections admitted at once from one client address (nginx's `limit_conn`, HAProxy's `conn_cur`). */
  maxConnectionsPerIp?: number;
}

/** What {@link ConnectionLimits} refuses a client for: the limit named in the refusal. */
export type ConnectionLimitName = 'max_connections' | 'max_connections_per_ip';

/** The limits that admitted a socket, and its address key, for the release when it closes. */
const kLimits = Symbol('proxy-lifecycle.admittedBy');
const kAddress = Symbol('proxy-lifecycle.admittedAddress');
type Admitted = SocketLike & { [kLimits]?: ConnectionLimits; [kAddress]?: string | null };

/** The socket's `close` listener: one function for every socket, `this` being the socket. */
function releaseOnClose(this: Admitted): void {
  const limits = this[kLimits];
  if (limits === undefined) return;
  this[kLimits] = undefined;
  limits.release(this[kAddress] ?? null);
}

function limit(name: string, value: number | undefined): number {
  if (value === undefined || value === Infinity) return Infinity;
  const n = checkCount(name, value);
  if (n < 1) throw new InvalidOptionError(name, `${name} must be a whole number from 1 (or Infinity: no limit), got ${n}`);
  return n;
}

/**
 * Concurrent-connection limits, global and per client address, as an admission policy
 * ({@link hook} is `SupervisorOptions.admit`). A client is counted from its admission to the
 * close of its socket; an address's entry goes when its count reaches 0, so the table holds
 * only addresses with live connections and never outgrows the connections open. IPv4-mapped
 * IPv6 addresses count as their IPv4 address.
 *
 * @example
 * ```ts
 * const limits = new ConnectionLimits({ maxConnections: 10_000, maxConnectionsPerIp: 50 });
 * const supervisor = new Supervisor({ admit: limits.hook });
 * ```
 */
export class ConnectionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  private admitted = 0;
  private readonly perAddress = new Map<string, number>();

  /** The policy, for `SupervisorOptions.admit` (bound: pass it as it is). */
  readonly hook: AdmissionHook = (client, address) => this.admit(client, address);

  constructor(options: ConnectionLimitsOptions = {}) {
    this.maxConnections = limit('maxConnections', options.maxConnections);
    this.maxConnectionsPerIp = limit('maxConnectionsPerIp', options.maxConnectionsPerIp);
  }

  /** Connections admitted and not yet closed. */
  get active(): number {
    return this.admitted;
  }

  /** Addresses with live connections (the size of the per-address table). */
  get addresses(): number {
    return this.perAddress.size;
  }

  /** Live connections from `address`. */
  connectionsFrom(address: string): number {
    return this.perAddress.get(normalizeAddress(address)) ?? 0;
  }

  /**
   * Admits `client` (returns true and counts it until its socket closes) or names the limit
   * it is over. A client without an address counts towards the global limit only.
   */
  admit(client: SocketLike, address: string | null): true | ConnectionLimitName {
    if (this.admitted >= this.maxConnections) return 'max_connections';
    const key = address === null || this.maxConnectionsPerIp === Infinity ? null : normalizeAddress(address);
    if (key !== null) {
      const n = this.perAddress.get(key) ?? 0;
      if (n >= this.maxConnectionsPerIp) return 'max_connections_per_ip';
      this.perAddress.set(key, n + 1);
    }
    this.admitted++;
    const admitted = client as Admitted;
    admitted[kLimits] = this;
    admitted[kAddress] = key;
    // One shared handler, no closure per connection; `once` removes it as it fires.
    client.once('close', releaseOnClose);
    return true;
  }

  /** Uncounts a connection whose client socket closed. @internal */
  release(key: string | null): void {
    this.admitted--;
    if (key === null) return;
    const n = this.perAddress.get(key)!;
    if (n <= 1) this.perAddress.delete(key);
    else this.perAddress.set(key, n - 1);
  }
}
