import { LineWriter, type CloseInfo, type Refusal } from '../index.js';
import { accessLogEntry, formatJson, formatRefusalJson, formatRefusalText, formatText } from './access-log.js';
import { PIPE_BUF } from './cluster/messages.js';
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

  /**
   * `sharedPipe`: standard error is shared with other workers, so each write is at most
   * PIPE_BUF bytes of whole lines (a file is opened O_APPEND: any write of whole lines lands whole).
   * @throws {CliError} when `file` cannot be opened for appending.
   */
  constructor(readonly file: string | undefined, private readonly json: boolean, options: { sharedPipe?: boolean } = {}) {
    if (file !== undefined) checkWritable(file, '--access-log');
    this.name = file === undefined ? 'access log (stderr)' : `access log ${file}`;
    this.writer = new LineWriter(options.sharedPipe ? { dest: file ?? 2, minLength: PIPE_BUF / 2, maxWrite: PIPE_BUF } : { dest: file ?? 2, minLength: 8 * 1024 });
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
