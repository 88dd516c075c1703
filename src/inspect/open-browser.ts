/**
 * Opens a page in the default browser, as `@statelyai/inspect`'s relay does for `autoOpen`.
 * Hand-written (a dozen lines, not worth a dependency such as `open`): the platform's opener,
 * run without a shell; a missing opener (no `xdg-open`) is ignored, the URL is also returned.
 */
import { spawn } from 'node:child_process';

/** Opens `url` in the default browser, if there is one; returns at once. */
export function openBrowser(url: string): void {
  const [command, args]: [string, string[]] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  spawn(command, args, { stdio: 'ignore', detached: true })
    .on('error', () => {})
    .unref();
}
