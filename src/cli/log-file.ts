import { closeSync, openSync } from 'node:fs';
import { EventLog, JsonlSink } from '../index.js';
import { CliError } from './cli-error.js';
import type { Output } from './output.js';

/** Fails early, with a clear line, when the log file cannot be opened for appending. */
export function checkWritable(file: string): void {
  try {
    closeSync(openSync(file, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such directory' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new CliError(`--log: cannot open ${file}: ${why}`);
  }
}

/**
 * The event log of a command with `--log FILE`: records are appended to `file` as JSON lines
 * (none kept in memory); without a file, nothing is recorded.
 * @throws {CliError} when `file` cannot be opened for appending.
 */
export function openLog(file: string | undefined): EventLog {
  if (file !== undefined) checkWritable(file);
  return new EventLog({ capacity: 0, sinks: file === undefined ? [] : [new JsonlSink(file)] });
}

/** Closes the log; on a write error, prints one line naming the file and returns false. */
export async function closeLog(log: EventLog, file: string | undefined, out: Output): Promise<boolean> {
  try {
    await log.close();
    return true;
  } catch (err) {
    out.stderr(`proxy-lifecycle: writing ${file}: ${(err as Error).message}`);
    return false;
  }
}
