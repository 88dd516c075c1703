import { LineWriter } from '../index.js';

/** Where a command writes lines: the process's streams, or a test's buffer. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Resolves once every line written so far has reached its destination (or cannot). */
  flush?(): Promise<void>;
  /**
   * The writer behind {@link stderr}, when there is one: an access log on standard error
   * writes through it, so its lines and the notices keep their order and one buffer.
   */
  readonly stderrWriter?: LineWriter;
}

/**
 * The process's standard output and error, as {@link Output}: each a {@link LineWriter} on
 * its descriptor rather than `process.stdout` and `process.stderr`, whose writes throw (and
 * kill the process) on a full device, and whose pending output `process.exit` cuts off.
 * A reader gone (EPIPE: `demo | head`) is not our error: lines to it are dropped quietly.
 * Standard error that fails otherwise (ENOSPC) is said once on standard output, and later
 * lines meant for it go there: wherever can still be written. `maxWrite`: at most this many
 * bytes a write (PIPE_BUF when other processes share the streams).
 */
export function processOutput(options: { maxWrite?: number } = {}): Output {
  const out = new LineWriter({ dest: 1, maxWrite: options.maxWrite });
  const err = new LineWriter({ dest: 2, maxWrite: options.maxWrite });
  const line = (text: string) => (text.endsWith('\n') ? text.slice(0, -1) : text);
  err.on('error', (e) => {
    if (e.code !== 'EPIPE') out.write(`proxy-lifecycle: cannot write to standard error (${e.code ?? e.message}): its lines go to standard output until it works again`);
  });
  out.on('error', (e) => {
    if (e.code !== 'EPIPE') err.write(`proxy-lifecycle: cannot write to standard output (${e.code ?? e.message})`);
  });
  return {
    stdout: (text) => out.write(line(text)),
    stderr: (text) => (err.failing && !out.failing ? out : err).write(line(text)),
    flush: async () => {
      await Promise.all([out.flush(), err.flush()]);
    },
    stderrWriter: err,
  };
}
