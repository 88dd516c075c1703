/**
 * What a sink owes the log after dropping records: per connection and reason, how many were
 * lost and since when, until a gap marker saying so has been enqueued. Bounded: past
 * `maxKeys` connections with losses, further losses are owed to one catch-all key, so a long
 * outage over many connections still holds a fixed amount of memory and the totals stay exact.
 */

/** One gap marker owed: `lost` records of one key, for one reason, the first at `t`. */
export interface OwedGap {
  key: string;
  /** The connection id as the records had it (none for refusals and the catch-all). */
  conn?: number | string;
  reason: string;
  lost: number;
  t: number;
}

/** The key losses go to once `maxKeys` keys are owed. */
export const OVERFLOW_KEY = '\u0000overflow';

export class GapLedger {
  /** key → reason → what is owed. A Map keeps insertion order: markers go out oldest first. */
  private readonly owed = new Map<string, Map<string, OwedGap>>();
  private total = 0;

  constructor(private readonly maxKeys: number) {}

  /** Records lost and not yet covered by an enqueued marker. */
  get lost(): number {
    return this.total;
  }

  /** Keys (connections) with losses owed. */
  get size(): number {
    return this.owed.size;
  }

  /** Whether `key` has losses owed (checked on every write: a Map lookup, no allocation). */
  has(key: string): boolean {
    return this.owed.has(key);
  }

  /** Counts `lost` records (default one) of `key` lost for `reason`, the first at time `t`. */
  add(key: string, reason: string, t: number, conn?: number | string, lost = 1): void {
    let reasons = this.owed.get(key);
    if (reasons === undefined) {
      if (this.owed.size >= this.maxKeys && key !== OVERFLOW_KEY) return this.add(OVERFLOW_KEY, reason, t, undefined, lost);
      this.owed.set(key, (reasons = new Map()));
    }
    const gap = reasons.get(reason);
    if (gap === undefined) reasons.set(reason, conn === undefined ? { key, reason, lost, t } : { key, conn, reason, lost, t });
    else gap.lost += lost;
    this.total += lost;
  }

  /** The markers owed for `key`, oldest reason first (none: an empty list). */
  peek(key: string): OwedGap[] {
    const reasons = this.owed.get(key);
    return reasons === undefined ? [] : [...reasons.values()];
  }

  /** The first key owed, if any. */
  firstKey(): string | undefined {
    for (const key of this.owed.keys()) return key;
    return undefined;
  }

  /** Forgets `gap`: its marker has been enqueued. */
  settle(gap: OwedGap): void {
    const reasons = this.owed.get(gap.key);
    if (reasons?.get(gap.reason) !== gap) return;
    reasons.delete(gap.reason);
    if (reasons.size === 0) this.owed.delete(gap.key);
    this.total -= gap.lost;
  }
}
