import { closeSync, openSync } from 'node:fs';
import { EventLog, JsonlSink, type JetStreamSink, type JsonlSinkOptions } from '../index.js';
import { redactUrls } from '../log/redact-url.js';
import { CliError } from './cli-error.js';
import { isNatsTarget, openNatsSink, parseNatsTarget } from './nats-log.js';
import type { Output } from './output.js';

/** Fails early, with a clear line naming `flag`, when `file` cannot be opened for appending. */
export function checkWritable(file: string, flag = '--log'): void {
  try {
    closeSync(openSync(file, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such directory' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new CliError(`${flag}: cannot open ${file}: ${why}`);
  }
}

/** A command's event log, and the file sink or the JetStream sink behind it when there is one. */
export interface OpenedLog {
  log: EventLog;
  sink: JsonlSink | null;
  /** `--log nats://HOST:PORT/STREAM`: the stream's sink. */
  remote: JetStreamSink | null;
  /** How messages name the log: the file, or the `nats://` URL without its credentials. */
  name: string | undefined;
}

/**
 * The event log of a command with `--log FILE`: records are appended to `file` as JSON lines
 * (none kept in memory), or to a JetStream stream for `nats://HOST:PORT/STREAM`; without
 * either, nothing is recorded.
 * @throws {CliError} when `file` cannot be opened for appending, or the URL is malformed.
 */
export function openLog(file: string | undefined, options: JsonlSinkOptions = {}, instance?: string): OpenedLog {
  if (file === undefined) return { log: new EventLog({ capacity: 0 }), sink: null, remote: null, name: undefined };
  if (isNatsTarget(file)) {
    const target = parseNatsTarget(file, '--log');
    const remote = openNatsSink(target, instance);
    return { log: new EventLog({ capacity: 0, sinks: [remote] }), sink: null, remote, name: target.shown };
  }
  checkWritable(file);
  const sink = new JsonlSink(file, options);
  return { log: new EventLog({ capacity: 0, sinks: [sink] }), sink, remote: null, name: file };
}

/** The notice for a log whose crash-torn last line was cut at open, or null. */
export function repairNotice(sink: JsonlSink | null): string | null {
  if (sink === null || sink.repaired === 0) return null;
  return `--log: cut a torn last line (${sink.repaired} bytes, left by a crash) off ${sink.path}; the records before it are kept`;
}

/** Closes the log; on a write error, prints one line naming the file and returns false. */
export async function closeLog(log: EventLog, file: string | undefined, out: Output): Promise<boolean> {
  try {
    await log.close();
    return true;
  } catch (err) {
    // A JetStream sink's last error is already without credentials; a URL quoted in it is cut again.
    out.stderr(`proxy-lifecycle: writing ${file}: ${redactUrls((err as Error).message)}`);
    return false;
  }
}
