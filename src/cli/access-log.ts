import type { CloseInfo, Refusal } from '../index.js';

/** One access-log entry: a closed connection, in the field order of the text format. */
export interface AccessLogEntry {
  conn: string;
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
 * `conn=1 from=127.0.0.1:50412 term=CO duration_ms=12 c2s_bytes=5 s2c_bytes=5 client_close=fin server_close=peer_fin`.
 * One string built by concatenation: it runs once per connection, on the proxy's hot path.
 */
export function formatText(e: AccessLogEntry): string {
  let line = `conn=${e.conn} from=${e.from} term=${e.term} duration_ms=${e.duration_ms} c2s_bytes=${e.c2s_bytes} s2c_bytes=${e.s2c_bytes} client_close=${e.client_close} server_close=${e.server_close}`;
  if (e.client_error !== null) line += ` client_error=${e.client_error}`;
  if (e.server_error !== null) line += ` server_error=${e.server_error}`;
  if (e.discarded_bytes !== 0) line += ` discarded_bytes=${e.discarded_bytes}`;
  return line;
}

/** The same entry as one line of JSON, with the close time. */
export function formatJson(entry: AccessLogEntry, time: Date = new Date()): string {
  return JSON.stringify({ time: time.toISOString(), ...entry });
}

/**
 * The line of a client refused at the door, in the fields of a close line so that one grep
 * reads both (`term=XA`, `client_close=rejected`), then what refused it:
 * `conn=- from=127.0.0.2:5123 term=XA client_close=rejected limit=max_connections_per_ip`,
 * `client_error=` for a PROXY header's error code. No connection existed: no id, duration or
 * bytes. Concatenation from the refusal itself, as {@link formatText}: a burst of refusals is
 * the hot path of a proxy under attack.
 */
export function formatRefusalText(r: Refusal): string {
  let line = `conn=- from=${r.client ?? '-'} term=${r.code} client_close=${r.reason} limit=${r.limit}`;
  if (r.error !== null) line += ` client_error=${r.error}`;
  return line;
}

/** The same as one line of JSON, with the time; `conn` null (no connection). */
export function formatRefusalJson(r: Refusal, time: Date = new Date()): string {
  let line = `{"time":"${time.toISOString()}","conn":null,"from":${JSON.stringify(r.client ?? '-')},"term":"${r.code}","client_close":"${r.reason}","limit":${JSON.stringify(r.limit)}`;
  if (r.error !== null) line += `,"client_error":${JSON.stringify(r.error)}`;
  return line + '}';
}
