// Runs the built `proxy-lifecycle` binary as a child process, for the CLI and example tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, ROOT } from '../../tools/build.js';
import { until } from './wait.js';

export { CLI, ROOT, ensureBuilt } from '../../tools/build.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child process with its output collected line by line. */
export class Child {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    this.process = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    this.process.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  stdoutLines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  stderrLines(): string[] {
    return this.stderr.split('\n').filter((l) => l !== '');
  }

  /** Waits until a line of `stream` matches, and returns the match. Throws after `ms`, or if the process exits first. */
  async waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    let match: RegExpMatchArray | null = null;
    const matched = (): boolean => {
      for (const line of stream === 'stdout' ? this.stdoutLines() : this.stderrLines()) {
        match = line.match(pattern);
        if (match !== null) return true;
      }
      return false;
    };
    await until(() => matched() || !this.running, () => `${stream} to match ${pattern}; stdout: ${this.stdout}; stderr: ${this.stderr}`, ms);
    if (match === null) throw new Error(`process exited (${JSON.stringify(this.exit)}) before ${stream} matched ${pattern}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
    return match;
  }

  /** Waits for the process to exit, killing it (and failing) after `ms`. */
  async done(ms = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`process did not exit within ${ms} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.process.kill(signal);
  }

  /** Cleanup for `finally` blocks: kill if still running and wait for the exit. */
  async dispose(): Promise<void> {
    if (!this.running) return;
    this.kill('SIGKILL');
    await this.exited;
  }
}

/** Starts `node dist/cli.js ...args`. */
export function cli(args: readonly string[]): Child {
  return new Child(process.execPath, [CLI, ...args]);
}

/** Runs `node dist/cli.js ...args` to its end. */
export async function runCli(args: readonly string[], ms = 20_000): Promise<Exit & { stdout: string; stderr: string }> {
  const child = cli(args);
  const exit = await child.done(ms);
  return { ...exit, stdout: child.stdout, stderr: child.stderr };
}

/** Starts `forward` and resolves once it prints `listening on 127.0.0.1:PORT`, with the port. */
export function startForward(args: readonly string[]): Promise<{ child: Child; port: number }> {
  return listening(cli(['forward', '--listen', '127.0.0.1:0', ...args]));
}

/**
 * {@link startForward} under `ulimit -n NOFILE`, soft and hard alike (Node raises its soft limit
 * to the hard one at start-up, so a soft limit alone would not hold).
 */
export function startForwardWithNofile(nofile: number, args: readonly string[]): Promise<{ child: Child; port: number }> {
  const quoted = [process.execPath, CLI, 'forward', '--listen', '127.0.0.1:0', ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`);
  return listening(new Child('bash', ['-c', `ulimit -n ${nofile} && exec ${quoted.join(' ')}`]));
}

async function listening(child: Child): Promise<{ child: Child; port: number }> {
  try {
    const m = await child.waitFor('stdout', /^listening on 127\.0\.0\.1:(\d+)$/);
    return { child, port: Number(m[1]) };
  } catch (err) {
    await child.dispose();
    throw err;
  }
}

/** Parses a logfmt access-log line into its fields. */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The counter of a connection id: `web1-mf3k2a1b-7` → 7. */
export function counterOf(conn: string): number {
  return Number(conn.slice(conn.lastIndexOf('-') + 1));
}

/** An access-log line of connection `n` (the `n`-th of its proxy), whatever its instance and boot. */
export function connLine(n: number): RegExp {
  return new RegExp(`^conn=[A-Za-z0-9_-]+-${n} `);
}

/** The access-log lines (logfmt) on a child's stderr. */
export function accessLines(child: Child): Record<string, string>[] {
  return child.stderrLines().filter((l) => l.startsWith('conn=')).map(parseLogfmt);
}
