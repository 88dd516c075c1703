/** What a socket idle timeout does: re-arm it, close that side, or nothing. */
export type TimeoutBehavior = 'reset' | 'close' | 'ignore';

/**
 * The resolved settings the machine reads (all durations in milliseconds, 0 = off where
 * noted). `src/options.ts` validates user input into this shape.
 */
export interface ConnectionSettings {
  /** Socket idle timeout per side; 0 = off. */
  socketTimeout: number;
  /** What a socket timeout does. */
  timeoutBehavior: TimeoutBehavior;
  /** Keep the other direction open after one side's FIN. */
  allowHalfOpen: boolean;
  /** How long a draining side may take to flush and close before it is destroyed. */
  gracePeriod: number;
  /** How long one side may stay half-closed or closed while the other stays open. */
  parityTimeout: number;
  /** ...and how long the connection must also have been inactive for the parity close. */
  parityInactivity: number;
  /** Upstream connect timeout; 0 = off. */
  connectTimeout: number;
  /** Both directions silent this long closes the connection; 0 = off. */
  idleTimeout: number;
  /** Hard cap on the connection's age; 0 = off. */
  maxLifetime: number;
  /**
   * The client sent no byte this long after its connection was created closes it (slowloris
   * protection); 0 = off. Off by default: in server-first protocols (MySQL, SMTP, FTP, SSH)
   * the server speaks first and the client may rightly wait.
   */
  firstByteTimeout: number;
}

/** The defaults, as documented in docs/options.md. */
export const DEFAULT_SETTINGS: Readonly<ConnectionSettings> = Object.freeze({
  socketTimeout: 0,
  timeoutBehavior: 'reset',
  allowHalfOpen: true,
  gracePeriod: 5_000,
  parityTimeout: 1_800_000,
  parityInactivity: 600_000,
  connectTimeout: 30_000,
  idleTimeout: 0,
  maxLifetime: 0,
  firstByteTimeout: 0,
});
