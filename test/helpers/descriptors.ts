// File-descriptor limits of a live process, for the descriptor-exhaustion tests (Linux).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The soft `RLIMIT_NOFILE` of process `pid`. */
export function softNofile(pid: number | 'self' = 'self'): number {
  return Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))![1]);
}

/** The soft limit that leaves exactly `free` descriptor numbers unused below it in process `pid`. */
export function limitLeaving(free: number, pid: number | 'self' = 'self'): number {
  const isOpen = (name: string) => {
    try {
      readlinkSync(`/proc/${pid}/fd/${name}`);
      return true;
    } catch {
      return false; // the listing's own descriptor (when listing ourselves), closed since
    }
  };
  const used = new Set(readdirSync(`/proc/${pid}/fd`).filter(isOpen).map(Number));
  for (let n = 0, unused = 0; ; n++) {
    if (!used.has(n) && ++unused === free) return n + 1;
  }
}

/** Sets the soft `RLIMIT_NOFILE` of process `pid` (hard unchanged) with util-linux's prlimit. */
export function setSoftNofile(pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}
