/** What `forward` does on each signal it handles. */
export interface SignalActions {
  /** SIGTERM, SIGINT: the first starts the graceful stop, a second one forces it. */
  stop(signal: NodeJS.Signals): void;
  /** SIGHUP, SIGUSR1: reopen the log files (logrotate's `postrotate`, nginx's USR1). */
  reopen(signal: NodeJS.Signals): void;
  /** SIGUSR2: one status line. */
  status(): void;
}

const STOP: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const REOPEN: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGUSR1'];

/**
 * Installs `forward`'s signal handlers, for the life of the process: none is ever removed, so
 * no signal meets Node's default action (SIGHUP and SIGTERM kill, SIGUSR1 opens the debugger).
 */
export function handleSignals(actions: SignalActions): void {
  for (const s of STOP) process.on(s, actions.stop);
  for (const s of REOPEN) process.on(s, actions.reopen);
  process.on('SIGUSR2', () => actions.status());
}
