/**
 * A problem the user can fix (bad flag, bad port, unreadable file): printed as one line,
 * without a stack trace, and the process exits with `exitCode` (2 for bad input).
 */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
