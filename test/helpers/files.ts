import { readFileSync } from 'node:fs';

/** A file's text, or '' while it does not exist (a log not written yet, or rotated away). */
export function readIfPresent(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
