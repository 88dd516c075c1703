/** Where a command writes lines: the process's streams, or a test's buffer. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Writes each call as one line (a trailing newline is added when missing). */
export const processOutput: Output = {
  stdout: (text) => void process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  stderr: (text) => void process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
};
