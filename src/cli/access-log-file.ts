import { LineWriter, type CloseInfo, type Refusal } from '../index.js';
import { accessLogEntry, formatJson, formatRefusalJson, formatRefusalText, formatText } from './access-log.js';
import { checkWritable } from './log-file.js';

/**
 * `forward`'s access log: one line per closed connection and per refused client, to `--access-log FILE` or standard
 * error, through a buffered asynchronous {@link LineWriter} (lines wait at most 100 ms), so
 * that a connection's close costs no system call of its own.
 */
export class AccessLogFile {
  readonly writer: LineWriter;
  /** How notices name it: `access log FILE`, or `access log (stderr)`. */
  readonly name: string;

  /** The writer is the process's standard error writer, owned (and closed) by the output. */
  readonly shared: boolean;

  /**
   * `stderr`: the output's writer on standard error, used when `file` is unset, so that the
   * access lines and the notices on that stream are one ordered sequence, not two buffers.
   * @throws {CliError} when `file` cannot be opened for appending.
   */
  constructor(readonly file: string | undefined, private readonly json: boolean, stderr?: LineWriter) {
    if (file !== undefined) checkWritable(file, '--access-log');
    this.name = file === undefined ? 'access log (stderr)' : `access log ${file}`;
    this.shared = file === undefined && stderr !== undefined;
    this.writer = this.shared ? stderr! : new LineWriter({ dest: file ?? 2, minLength: 8 * 1024 });
  }

  /** Writes what is buffered; closes the writer unless it is the shared standard error one. */
  async close(): Promise<void> {
    if (this.shared) await this.writer.flush();
    else await this.writer.close();
  }

  write(info: CloseInfo): void {
    const entry = accessLogEntry(info);
    this.writer.write(this.json ? formatJson(entry) : formatText(entry));
  }

  /** A client refused at the door. Bounded like every line: past the writer's buffer, dropped and counted. */
  writeRefusal(refusal: Refusal): void {
    this.writer.write(this.json ? formatRefusalJson(refusal) : formatRefusalText(refusal));
  }
}
