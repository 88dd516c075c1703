// Child processes of the benchmark: pinned to a core with taskset, their output kept for
// error messages, stopped by their own pid (SIGTERM, then SIGKILL).
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { withFdLimit } from './fd-limit.js';

let tasksetPath: string | null | undefined;

/** Whether `taskset` exists here. */
export function hasTaskset(): boolean {
  if (tasksetPath === undefined) {
    const r = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' });
    tasksetPath = r.status === 0 ? r.stdout.trim() : null;
  }
  return tasksetPath !== null;
}

/** Whether `cmd` is on the PATH (or an absolute path that exists). */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** Pins this process (every thread) to `core`. */
export function pinSelf(core: number | null): void {
  if (core === null || !hasTaskset()) return;
  spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
}

/** Every child still running, so that none outlives the benchmark (even on Ctrl-C). */
const live = new Set<Proc>();
let exitHook = false;

function killAll(): void {
  for (const p of live) if (p.running) p.child.kill('SIGKILL');
}

/** Kills the children when this process exits or is interrupted. */
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** How to spawn a {@link Proc}: `spawn()`'s options, and the open-files limit it needs. */
export interface ProcOptions extends SpawnOptions {
  /** Raise the child's open-files soft limit towards this many (see fd-limit.ts). */
  nofile?: number;
}

/** A child process, with its stdout and stderr collected. */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedFlag = false;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    core: number | null,
    { nofile, ...options }: ProcOptions = {},
  ) {
    // taskset (and the shell that raises the limit) exec the command, so the pid is the command's own.
    const [inner, innerArgs] = nofile === undefined ? [command, [...args]] : withFdLimit(nofile, command, args);
    const [cmd, argv] = core !== null && hasTaskset() ? ['taskset', ['-c', String(core), inner, ...innerArgs]] : [inner, innerArgs];
    this.child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-20_000)));
    installExitHook();
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exitedFlag = true;
        resolve({ code, signal });
      });
    });
    this.child.once('error', (err) => {
      this.stderr += `\nspawn error: ${err.message}`;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return !this.exitedFlag && this.child.pid !== undefined;
  }

  /** Resolves with the first stdout match of `re`; rejects if the process exits or after `ms`. */
  waitForOutput(re: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.stdout);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} exited before printing ${re}: ${this.stderr.trim().slice(-2000)}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not print ${re} within ${ms} ms: ${this.stderr.trim().slice(-2000)}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off('data', check);
        this.child.off('exit', onExit);
      };
      this.child.stdout?.on('data', check);
      this.child.once('exit', onExit);
      check();
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A Node child driven over IPC: `request()` sends a command and resolves with its answer. */
export class NodeWorker extends Proc {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<Record<string, unknown>>;

  constructor(name: string, script: string, core: number | null, nodeArgs: readonly string[] = [], nofile?: number) {
    super(name, process.execPath, [...nodeArgs, script], core, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], nofile });
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (msg: Record<string, unknown>) => {
        if (msg.type === 'ready') {
          this.child.off('message', onMessage);
          resolve(msg);
        }
      };
      this.child.on('message', onMessage);
      void this.exited.then(() => reject(new Error(`${name} exited before it was ready: ${this.stderr.trim().slice(-2000)}`)));
    });
    this.child.on('message', (msg: { type: string; id?: number; result?: unknown; error?: string }) => {
      if (msg.id === undefined) return;
      const w = this.waiting.get(msg.id);
      if (w === undefined) return;
      this.waiting.delete(msg.id);
      if (msg.type === 'error') w.reject(new Error(`${name}: ${msg.error}`));
      else w.resolve(msg.result ?? msg);
    });
    void this.exited.then(() => {
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited: ${this.stderr.trim().slice(-2000)}`));
      this.waiting.clear();
    });
  }

  request<T>(message: Record<string, unknown>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...message, id });
    });
  }

  /** Sends a message that has no answer. */
  tell(message: Record<string, unknown>): void {
    if (this.running && this.child.connected) this.child.send(message);
  }

  override async stop(graceMs = 3000): Promise<void> {
    this.tell({ type: 'exit' });
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
