import { createWriteStream, type WriteStream } from 'node:fs';
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
