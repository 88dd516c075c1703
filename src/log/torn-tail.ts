import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/**
 * Cuts a crash-torn last line (one without its newline, left by `kill -9` mid-write) off the
 * end of the regular file at `path`, so that records appended next start on a line of their
 * own and the file replays whole. Returns the bytes removed (0 when the file ends with a
 * newline, is empty, missing, or not a regular file). Synchronous: it runs once, at open.
 */
export function cutTornTail(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    // Missing, or not ours to repair: the writer reports what it cannot open.
    return 0;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size === 0) return 0;
    const buf = Buffer.allocUnsafe(CHUNK);
    let end = stat.size;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const n = readSync(fd, buf, 0, end - start, start);
      const nl = buf.lastIndexOf(10, n - 1);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < stat.size) ftruncateSync(fd, keep);
        return stat.size - keep;
      }
      end = start;
    }
    // One line and no newline at all: nothing whole to keep.
    ftruncateSync(fd, 0);
    return stat.size;
  } finally {
    closeSync(fd);
  }
}
