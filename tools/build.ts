/**
 * The built CLI, shared by the tests and the benchmarks (neither imports the other): where the
 * repository and dist/cli.js are, and a build when dist/ is missing or stale.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
// PL_CLI runs the CLI tests against another build (say, the previous commit's, to see a new test fail there).
export const CLI = process.env.PL_CLI ?? join(ROOT, 'dist', 'cli.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ with tsup when dist/cli.js is missing or older than a source file, or was
 * built by `npm pack` (no source maps: coverage of the CLI's child processes needs them).
 */
export function ensureBuilt(): void {
  const sources = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'machines')));
  if (existsSync(CLI) && existsSync(`${CLI}.map`) && statSync(CLI).mtimeMs >= sources) return;
  execFileSync('npx', ['tsup'], { cwd: ROOT, stdio: 'pipe' });
}
