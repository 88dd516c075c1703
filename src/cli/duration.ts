// Durations on the command line: `250ms`, `30s`, `5m`, `1h`, `1h30m`, `1.5s`, or a plain
// number of milliseconds. Written here rather than taken from `ms` or `parse-duration`: those
// accept `1 hour`, `-5s`, `1e3` or silently return NaN/undefined, and neither knows the
// timer ceiling; the grammar we want is one regular expression.
import { CliError } from './cli-error.js';

/** The longest delay Node's timers accept, 2147483647 ms (about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** What a duration flag accepts, for help texts and error messages. */
export const DURATION_FORMS = 'a duration such as 250ms, 30s, 5m, 1h, 1h30m or 1.5s (units ms, s, m, h, d; a plain number is milliseconds)';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** The units, longest first, which is also the order they must come in (`1h30m`, not `30m1h`). */
const ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];
const PART = /(\d+)(?:\.(\d+))?(ms|d|h|m|s)/y;

/** Whether `text` is meant as a duration (starts with a digit): the shape of an optional duration value (`--keep-alive [DURATION]`). */
export function looksLikeDuration(text: string): boolean {
  return /^\d[\d.a-z]*$/.test(text);
}

/**
 * Parses a duration flag's value into milliseconds: a plain number (`250`, `1.5`) is
 * milliseconds; otherwise one or more `NUMBER UNIT` parts, largest unit first, each unit at
 * most once (`1h30m`, `1m30s`, `1.5s`, `2d`). No sign, exponent, spaces or capitals (`5M`
 * could be months). The range is 0 to {@link MAX_DURATION_MS}; a flag with a narrower range
 * (`--connect-timeout` from 1) is checked by the library afterwards.
 *
 * @throws {CliError} naming `flag` and listing the accepted forms.
 */
export function parseDuration(text: string, flag: string): number {
  const ms = durationMs(text);
  // `!(ms <= max)` also catches NaN, from a fraction too long for a double.
  if (ms === undefined || !(ms <= MAX_DURATION_MS)) {
    throw new CliError(`${flag} must be ${DURATION_FORMS}, at most ${MAX_DURATION_MS} ms (about 24.8 days), got ${JSON.stringify(text)}`);
  }
  return ms;
}

/** The milliseconds of `text`, or undefined when it is not a duration. */
function durationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  let next = 0; // index in ORDER of the smallest unit still allowed
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text); // sticky: a part must start where the last one ended
    if (m === null) return undefined;
    const rank = ORDER.indexOf(m[3] as Unit, next);
    if (rank === -1) return undefined;
    next = rank + 1;
    const fraction = m[2] ?? '';
    // Integer digits times the unit, divided once: `1.1s` is exactly 1100, not 1100.0000000000002.
    total += (Number(m[1]! + fraction) * UNIT_MS[m[3] as Unit]) / 10 ** fraction.length;
  }
  return text === '' ? undefined : total;
}
