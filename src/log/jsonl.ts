import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CLOSE_REASONS } from '../../machines/close-reasons.js';
import { INPUT_EVENT_TYPES } from '../../machines/connection-events.js';
import { EventLogParseError } from '../errors.js';
import type { LogRecord, LogSink } from './log-record.js';

/** Writes each record as one line of JSON, appending to `path`. */
export class JsonlSink implements LogSink {
  private readonly stream: WriteStream;
  private error: Error | null = null;

  constructor(path: string) {
    this.stream = createWriteStream(path, { flags: 'a' });
    // A failing log file must not crash the proxy; the error surfaces on close().
    this.stream.on('error', (err) => {
      this.error = err;
    });
  }

  write(record: LogRecord): void {
    if (this.error === null) this.stream.write(JSON.stringify(record) + '\n');
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.end(() => (this.error ? reject(this.error) : resolve()));
    });
  }
}

const KINDS = new Set(['open', 'event', 'disposed']);
const EVENT_TYPES: ReadonlySet<string> = new Set(INPUT_EVENT_TYPES);
const REASONS: ReadonlySet<string> = new Set(CLOSE_REASONS);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validate(value: unknown, line: number): LogRecord {
  if (!isObject(value)) throw new EventLogParseError(line, 'expected a JSON object');
  if (typeof value.t !== 'number' || !Number.isFinite(value.t)) throw new EventLogParseError(line, 'field t must be a number');
  if (!Number.isInteger(value.conn)) throw new EventLogParseError(line, 'field conn must be an integer');
  if (!KINDS.has(value.kind as string)) {
    throw new EventLogParseError(line, `field kind must be one of open, event, disposed, got ${JSON.stringify(value.kind)}`);
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
 * Parses JSONL text into log records.
 *
 * @throws {EventLogParseError} naming the 1-based line of the first malformed, invalid or
 * truncated record.
 */
export function parseEventLog(text: string): LogRecord[] {
  const lines = text.split('\n');
  const out: LogRecord[] = [];
  const last = lines.length - 1;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      const why = i === last ? 'truncated record (no end of line, not valid JSON)' : `not valid JSON (${(err as Error).message})`;
      throw new EventLogParseError(i + 1, why);
    }
    out.push(validate(value, i + 1));
  }
  return out;
}

/** Reads and parses a JSONL event log file. */
export async function readEventLog(path: string): Promise<LogRecord[]> {
  return parseEventLog(await readFile(path, 'utf8'));
}
