/** Where a command writes lines: the process's streams, or a test's buffer. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * A line writer on `stream` that stops writing once its reader has gone (`demo | head`):
 * EPIPE is not our error, and a proxy must not die because its log reader did.
 */
function lineWriter(stream: NodeJS.WriteStream): (text: string) => void {
  let gone = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    gone = true;
  });
  return (text) => {
    if (!gone) stream.write(text.endsWith('\n') ? text : text + '\n');
  };
}

/** Writes each call as one line (a trailing newline is added when missing). */
export const processOutput: Output = {
  stdout: lineWriter(process.stdout),
  stderr: lineWriter(process.stderr),
};
