import { closeCode, type RefusalReason } from '../../machines/close-reasons.js';

/**
 * A client refused at the door, before any connection or upstream existed: the supervisor's
 * `refused` event and the event log's `refused` record. A refusal is data like a close: a
 * reason, what refused it, a termination code.
 */
export interface Refusal {
  /** When, on the supervisor's clock. */
  t: number;
  /** The client's `host:port` (the PROXY header's source, when one was read), or null when unknown. */
  client: string | null;
  /** `rejected` (a limit or the admission hook), or why the PROXY header failed. */
  reason: RefusalReason;
  /**
   * What refused it: `max_connections`, `max_connections_per_ip`, `backoff`, the name an
   * admission hook returned (`admit` for a bare `false`), or `accept_proxy` for a PROXY header.
   */
  limit: string;
  /** The PROXY header's error code (`PROXY_HEADER_MALFORMED`, …); null otherwise. */
  error: string | null;
  /** The termination code: `XA` for `rejected`, `hA` / `wA` for the PROXY header. */
  code: string;
}

/** The {@link Refusal} of a client at `client`, with its termination code. */
export function refusal(t: number, client: string | null, reason: RefusalReason, limit: string, error: string | null = null): Refusal {
  return { t, client, reason, limit, error, code: closeCode({ side: 'client', reason, phase: 'accept' }) };
}
