import { createReadStream } from 'node:fs';
import { CLOSE_REASONS, REFUSAL_REASONS } from '../../machines/close-reasons.js';
import { INPUT_EVENT_TYPES } from '../../machines/connection-events.js';
import { isConnectionId } from '../connection-ids.js';
import { EventLogParseError } from '../errors.js';
import type { LogRecord } from './log-record.js';

const KINDS = new Set(['open', 'event', 'disposed', 'gap', 'refused']);
const EVENT_TYPES: ReadonlySet<string> = new Set(INPUT_EVENT_TYPES);
const REASONS: ReadonlySet<string> = new Set(CLOSE_REASONS);
const REFUSALS: ReadonlySet<string> = new Set(REFUSAL_REASONS);
const NEWLINE = 0x0a;
const TRUNCATED = 'truncated record (no end of line, not valid JSON)';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validate(value: unknown, line: number): LogRecord {
  if (!isObject(value)) throw new EventLogParseError(line, 'expected a JSON object');
  if (typeof value.t !== 'number' || !Number.isFinite(value.t)) throw new EventLogParseError(line, 'field t must be a number');
  if (!KINDS.has(value.kind as string)) {
    throw new EventLogParseError(line, `field kind must be one of open, event, disposed, gap, refused, got ${JSON.stringify(value.kind)}`);
  }
  if (value.kind === 'refused') {
    if (!REFUSALS.has(value.reason as string)) {
      throw new EventLogParseError(line, `field reason must be one of ${REFUSAL_REASONS.join(', ')}, got ${JSON.stringify(value.reason)}`);
    }
    if (typeof value.limit !== 'string') throw new EventLogParseError(line, 'field limit must be a string');
    return value as unknown as LogRecord;
  }
  // Logs written before string ids have a number: read as its decimal string, the same id.
  if (Number.isSafeInteger(value.conn) && (value.conn as number) >= 0) value.conn = String(value.conn);
  else if (!isConnectionId(value.conn)) {
    throw new EventLogParseError(line, `field conn must be a connection id (1 to 100 of A-Z a-z 0-9 _ -) or, in an older log, a whole number, got ${JSON.stringify(value.conn)}`);
  }
  if (value.seq !== undefined && !(Number.isSafeInteger(value.seq) && (value.seq as number) >= 0)) {
    throw new EventLogParseError(line, `field seq must be a whole number from 0, got ${JSON.stringify(value.seq)}`);
  }
  if (value.kind === 'gap') {
    if (!Number.isSafeInteger(value.lost) || (value.lost as number) < 0) throw new EventLogParseError(line, `field lost must be a whole number from 0, got ${JSON.stringify(value.lost)}`);
    if (typeof value.reason !== 'string' || value.reason === '') throw new EventLogParseError(line, `field reason must be a non-empty string, got ${JSON.stringify(value.reason)}`);
  }
  if (value.kind === 'open' && !isObject(value.settings)) throw new EventLogParseError(line, 'field settings must be an object');
  if (value.kind === 'event') {
    const event = value.event;
    if (!isObject(event) || typeof event.type !== 'string') throw new EventLogParseError(line, 'field event must be an object with a type');
    if (!EVENT_TYPES.has(event.type) && !event.type.startsWith('xstate.after.')) {
      throw new EventLogParseError(line, `unknown event type ${JSON.stringify(event.type)}`);
    }
    if ('side' in event && event.side !== 'client' && event.side !== 'server') {
      throw new EventLogParseError(line, `field event.side must be client or server, got ${JSON.stringify(event.side)}`);
    }
  }
  if (value.kind === 'disposed') {
    const reasons = value.reasons;
    if (!isObject(reasons)) throw new EventLogParseError(line, 'field reasons must be an object');
    for (const side of ['client', 'server']) {
      const r = reasons[side];
      if (r !== null && !REASONS.has(r as string)) throw new EventLogParseError(line, `unknown close reason ${JSON.stringify(r)}`);
    }
  }
  return value as unknown as LogRecord;
}

/**
 * A last line cut off in the middle of a record: what an append-only log is left with when
 * its writer dies mid-write (`kill -9`, OOM kill, power loss).
 */
export interface TornTail {
  /** The torn line's 1-based line number. */
  line: number;
  /** Where it starts, in bytes from the start of the log: truncate the file to this to repair it. */
  offset: number;
  /** Its length in bytes (UTF-8). */
  bytes: number;
}

/** The records of a log, and its torn last line if it had one. */
export interface RecoveredEventLog {
  records: LogRecord[];
  /** The torn last line, left out of `records`; `null` when the log ended cleanly. */
  torn: TornTail | null;
}

/**
 * Parses a JSONL event log as it arrives, chunk by chunk, without holding the whole text: a
 * line is parsed as soon as its newline comes, and only the unfinished last line is kept.
 *
 * Like a write-ahead log's recovery, it accepts a torn tail: a last line WITHOUT a newline
 * that is not valid JSON. A writer appends `JSON + '\n'` in one write and no proper prefix
 * of a JSON object is valid JSON, so such a line can only be a record cut short, and
 * {@link end} reports it in `torn` instead of throwing. Everything else is corruption, not a
 * tear, and throws an {@link EventLogParseError} naming its line: a malformed line anywhere
 * before the last, a newline-terminated malformed last line, and a last line that is valid
 * JSON but not a valid record (a whole record that lost only its newline is validated like
 * any other). Blank lines are skipped and counted in line numbers.
 *
 * @example
 * ```ts
 * const parser = new EventLogParser();
 * for await (const chunk of process.stdin) parser.write(chunk);
 * const { records, torn } = parser.end();
 * ```
 */
export class EventLogParser {
  private readonly records: LogRecord[] = [];
  /** The bytes of the unfinished last line, in the chunks they came in. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private line = 0;
  private offset = 0;
  private ended = false;

  /**
   * Parses the complete lines in `chunk`. Bytes are UTF-8 and may split a character; strings
   * and bytes may be mixed only at character boundaries.
   *
   * @throws {EventLogParseError} for a malformed or invalid complete line.
   */
  write(chunk: Uint8Array | string): void {
    if (this.ended) throw new Error('EventLogParser: write() after end()');
    if (typeof chunk === 'string') return this.writeText(chunk);
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      const piece = buf.subarray(start, nl);
      const raw = this.pending.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.pending, piece]).toString('utf8');
      this.lineEnded(raw, piece.length);
      start = nl + 1;
    }
    // Copied: the caller may reuse its buffer once write() returns.
    if (start < buf.length) this.keep(Buffer.from(buf.subarray(start)));
  }

  /** {@link write} for text, without a round trip through bytes (parseEventLog's path). */
  private writeText(text: string): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      const raw = this.pending.length === 0 ? piece : Buffer.concat(this.pending).toString('utf8') + piece;
      this.lineEnded(raw, Buffer.byteLength(piece));
      start = nl + 1;
    }
    if (start < text.length) this.keep(Buffer.from(text.slice(start), 'utf8'));
  }

  /** A line has its newline: parse it, whose last `bytes` came in this chunk. */
  private lineEnded(raw: string, bytes: number): void {
    const length = this.pendingBytes + bytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.line++;
    this.take(raw, true);
    this.offset += length + 1;
  }

  /** Keeps the start of an unfinished line. */
  private keep(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /**
   * Finishes the log: parses a last line without a newline, or reports it as torn.
   *
   * @throws {EventLogParseError} when that last line is valid JSON but not a valid record.
   */
  end(): RecoveredEventLog {
    if (this.ended) throw new Error('EventLogParser: end() called twice');
    this.ended = true;
    let torn: TornTail | null = null;
    if (this.pendingBytes > 0) {
      this.line++;
      const raw = Buffer.concat(this.pending).toString('utf8');
      if (!this.take(raw, false)) torn = { line: this.line, offset: this.offset, bytes: this.pendingBytes };
      this.pending = [];
    }
    return { records: this.records, torn };
  }

  /** Parses one line into the records; false for an unterminated line that is not JSON (a tear). */
  private take(raw: string, terminated: boolean): boolean {
    if (raw.trim() === '') return true;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      if (!terminated) return false;
      throw new EventLogParseError(this.line, `not valid JSON (${(err as Error).message})`);
    }
    this.records.push(validate(value, this.line));
    return true;
  }
}

/** The records, or the strict readers' error for a torn tail. */
function strict({ records, torn }: RecoveredEventLog): LogRecord[] {
  if (torn !== null) throw new EventLogParseError(torn.line, TRUNCATED);
  return records;
}

/**
 * Parses JSONL text into log records, strictly: a torn last line is an error too (see
 * {@link recoverEventLog} to accept one).
 *
 * @throws {EventLogParseError} naming the 1-based line of the first malformed, invalid or
 * truncated record.
 */
export function parseEventLog(text: string): LogRecord[] {
  return strict(recoverEventLog(text));
}

/**
 * Parses JSONL text into log records, accepting a torn last line as a crash leaves it (see
 * {@link EventLogParser}): the records before it, and where it was.
 *
 * @throws {EventLogParseError} naming the line of a malformed or invalid record that is not
 * a torn tail.
 */
export function recoverEventLog(text: string): RecoveredEventLog {
  const parser = new EventLogParser();
  parser.write(text);
  return parser.end();
}

/**
 * Reads a JSONL event log from a stream (`fs.createReadStream(path)`, `process.stdin`) chunk
 * by chunk, accepting a torn last line (see {@link EventLogParser}). A parse error stops
 * reading and destroys the stream.
 *
 * @throws {EventLogParseError} as {@link recoverEventLog}; the stream's own errors as they are.
 */
export async function recoverEventLogStream(input: AsyncIterable<Uint8Array | string>): Promise<RecoveredEventLog> {
  const parser = new EventLogParser();
  for await (const chunk of input) parser.write(chunk);
  return parser.end();
}

/**
 * Reads and parses a JSONL event log file, strictly (a torn last line is an error too), one
 * chunk at a time.
 *
 * @throws {EventLogParseError} as {@link parseEventLog}; the file system's errors as they are.
 */
export async function readEventLog(path: string): Promise<LogRecord[]> {
  return strict(await recoverEventLogStream(createReadStream(path)));
}
