// What the benchmark reads about a proxy from /proc: CPU time, resident memory and open
// file descriptors of its process tree (nginx's worker is a child of its master).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let tickRate: number | null = null;

/** Clock ticks per second of /proc/PID/stat times (usually 100). */
export function clockTicks(): number {
  if (tickRate !== null) return tickRate;
  try {
    tickRate = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    tickRate = 100;
  }
  return tickRate;
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${out[i]}/task/${task}/children`, 'utf8').trim();
        if (children !== '') for (const c of children.split(/\s+/)) out.push(Number(c));
      } catch {
        // the task ended
      }
    }
  }
  return out;
}

/** User + system CPU seconds used so far by one process (all its threads). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** User + system CPU seconds of the process tree under `pid`. */
export function cpuSeconds(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      total += cpuOf(p);
    } catch {
      // exited between the listing and the read
    }
  }
  return total;
}

function statusField(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status);
  return m ? Number(m[1]) : 0;
}

/** Resident memory (VmRSS) of the process tree, in KiB. */
export function rssKiB(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      total += statusField(p, 'VmRSS');
    } catch {
      // exited
    }
  }
  return total;
}

/** Open file descriptors of the process tree. */
export function openFds(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      total += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // exited
    }
  }
  return total;
}

/** The soft limit on open files of `pid` (default this process, whose children inherit it). */
export function fdLimit(pid: number | 'self' = 'self'): number {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

/** CPU model, core count and the rest of what the report says about the machine. */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return 'unknown';
}
