// Raising the open-files limit of a child: the flood workload holds thousands of connections,
// two descriptors each in the proxy, one in the load client and one in the upstream, more than
// a CI runner's default soft limit (often 1024). A shell raises the soft limit before it execs
// the command (Node raises its own to the hard limit at start-up, HAProxy and nginx do not), to
// `want` where the process may raise its hard limit too (root), else to the hard limit.
import { spawnSync } from 'node:child_process';
import { fdLimit } from './procfs.js';

// `$1` is the limit wanted; the rest is the command, exec'd so the pid stays the command's own.
// Never lowers a limit: a plain `ulimit -n` sets the hard limit too, so only the soft one is set
// unless the hard one is short (raising that needs privileges: else the soft goes to the hard).
const SCRIPT = [
  'want=$1; shift; soft=$(ulimit -Sn); hard=$(ulimit -Hn)',
  'if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then',
  '  if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then ulimit -Sn "$want"',
  '  else ulimit -n "$want" 2>/dev/null || ulimit -Sn "$hard"; fi',
  'fi',
  'exec "$@"',
].join('\n');

/** `command args` run with its open-files soft limit raised towards `want`. */
export function withFdLimit(want: number, command: string, args: readonly string[]): [string, string[]] {
  return ['sh', ['-c', SCRIPT, 'sh', String(want), command, ...args]];
}

let probed: { want: number; limit: number } | null = null;

/**
 * The open-files limit a child started through {@link withFdLimit} gets: what `ulimit -n`
 * reports after the same raise (this process's own limit when there is no shell).
 */
export function childFdLimit(want: number): number {
  if (probed?.want === want) return probed.limit;
  const [cmd, args] = withFdLimit(want, 'sh', ['-c', 'ulimit -n']);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = (r.stdout ?? '').trim();
  const limit = r.status !== 0 ? fdLimit() : text === 'unlimited' ? 1 << 20 : Number(text) || fdLimit();
  probed = { want, limit };
  return limit;
}
