import type { CloseInfo } from '../index.js';

/** One access-log entry: a closed connection, in the field order of the text format. */
export interface AccessLogEntry {
  conn: number;
  /** The client's `host:port`, or `-`. */
  from: string;
  /** The engine's two-letter termination code (`closeCode`): what ended it, in which phase. */
  term: string;
  duration_ms: number;
  c2s_bytes: number;
  s2c_bytes: number;
  client_close: string;
  server_close: string;
  client_error: string | null;
  server_error: string | null;
  /** Bytes read after the other side was gone, with nowhere to forward them. */
  discarded_bytes: number;
}

/** Builds the entry for a closed connection. */
export function accessLogEntry(info: CloseInfo): AccessLogEntry {
  return {
    conn: info.id,
    from: info.client ?? '-',
    term: info.code,
    duration_ms: Math.round(info.durationMs),
    c2s_bytes: info.bytes.clientToServer,
    s2c_bytes: info.bytes.serverToClient,
    client_close: info.reasons.client ?? '-',
    server_close: info.reasons.server ?? '-',
    client_error: info.errors.client,
    server_error: info.errors.server,
    discarded_bytes: info.discarded,
  };
}

/**
 * One `key=value` line (logfmt), errors and discarded bytes only when there are some:
 * `conn=1 from=127.0.0.1:50412 term=CO duration_ms=12 c2s_bytes=5 s2c_bytes=5 client_close=fin server_close=peer_fin`
 */
export function formatText(entry: AccessLogEntry): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (value === null) continue;
    if (key === 'discarded_bytes' && value === 0) continue;
    parts.push(`${key}=${String(value)}`);
  }
  return parts.join(' ');
}

/** The same entry as one line of JSON, with the close time. */
export function formatJson(entry: AccessLogEntry, time: Date = new Date()): string {
  return JSON.stringify({ time: time.toISOString(), ...entry });
}
