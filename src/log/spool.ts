/**
 * A bounded first-in first-out queue of messages waiting to be published, bounded both in
 * records and in bytes. A message may carry several records of one connection. Hand-written: it is a plain array with a moving head (no per-record node, no
 * copying on shift), plus the one operation a publisher needs that a queue library lacks: put a
 * batch's unacknowledged messages back at the front, in order, after a failed round.
 */

/** One message in a {@link Spool}. */
export interface SpoolEntry {
  /** The subject to publish on. */
  subject: string;
  /** The message id the server deduplicates on (`Nats-Msg-Id`). */
  id: string;
  /** The serialized records, one JSON text per line; more may be added until {@link data} is set. */
  text: string;
  /** `text` in UTF-8, made once when the message is first taken for publishing (then it is sealed). */
  data: Uint8Array | null;
  /** The message's size in UTF-8 bytes. */
  bytes: number;
  /** Records (or gap markers) in the message. */
  count: number;
  /** Whether it holds log records (counted as enqueued and acked), not a gap marker. */
  record: boolean;
  /** Whose records: the sink's per-connection key. */
  key: string;
  /** The connection of the records (none: refusals). */
  conn: number | string | undefined;
  /** The first record's time. */
  t: number;
}

/** A head this far in (and past half the array) is cut off, so the array does not grow forever. */
const COMPACT_AT = 4096;

export class Spool {
  private entries: SpoolEntry[] = [];
  private head = 0;
  private heldBytes = 0;
  private heldRecords = 0;
  /** The round taken and not settled yet (its entries are still held). */
  private inFlight: SpoolEntry[] = [];

  constructor(
    /** Most records held at once (in all messages). */
    readonly maxRecords: number,
    /** Most bytes (of serialized data) held at once. */
    readonly maxBytes: number,
  ) {}

  /** Messages held (waiting or being published). */
  get length(): number {
    return this.entries.length - this.head + this.inFlight.length;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Records held (in all messages). */
  get records(): number {
    return this.heldRecords;
  }

  /** Whether `count` more records of `bytes` fit now. */
  fits(bytes: number, count = 1): boolean {
    return this.heldRecords + count <= this.maxRecords && this.heldBytes + bytes <= this.maxBytes;
  }

  /** Appends `entry` if it fits; false (and nothing held) when it does not. */
  offer(entry: SpoolEntry): boolean {
    if (!this.fits(entry.bytes, entry.count)) return false;
    this.entries.push(entry);
    this.heldBytes += entry.bytes;
    this.heldRecords += entry.count;
    return true;
  }

  /**
   * Adds one record (`text`, `bytes` in UTF-8) to `entry`, a message still waiting (not sealed),
   * on a line of its own, if it fits; false (and nothing changed) when it does not.
   */
  append(entry: SpoolEntry, text: string, bytes: number): boolean {
    if (entry.data !== null || !this.fits(bytes + 1)) return false;
    entry.text += '\n' + text;
    entry.bytes += bytes + 1;
    entry.count++;
    this.heldBytes += bytes + 1;
    this.heldRecords++;
    return true;
  }

  /**
   * Takes up to `n` messages off the front for publishing, sealed: their {@link SpoolEntry.data}
   * is made and they take no more records. They stay counted in {@link length}, {@link records}
   * and {@link bytes} (they are not acknowledged yet) until {@link settle}.
   */
  take(n: number): SpoolEntry[] {
    const batch = this.entries.slice(this.head, this.head + n);
    this.head += batch.length;
    this.inFlight = batch;
    for (const entry of batch) entry.data ??= Buffer.from(entry.text);
    return batch;
  }

  /**
   * Ends a round started by {@link take}: the messages `done` says are finished (`true`: acked,
   * or given up) are released; the others (`false`) go back to the front, in their order, for the
   * next round; a list in `done` replaces its message there (a message split into its records).
   */
  settle(batch: readonly SpoolEntry[], done: readonly (boolean | readonly SpoolEntry[])[]): void {
    // A round that clear() ended: nothing of it is held any more.
    if (batch !== this.inFlight) return;
    this.inFlight = [];
    for (let i = batch.length - 1; i >= 0; i--) {
      const entry = batch[i]!;
      const outcome = done[i]!;
      if (outcome === false) {
        this.entries[--this.head] = entry;
        continue;
      }
      this.heldBytes -= entry.bytes;
      this.heldRecords -= entry.count;
      if (outcome === true) continue;
      for (let j = outcome.length - 1; j >= 0; j--) this.putBack(outcome[j]!);
    }
    if (this.head >= COMPACT_AT && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Puts `entry` at the front: there is a free slot before the head, or the array grows by one at the start. */
  private putBack(entry: SpoolEntry): void {
    if (this.head > 0) this.entries[--this.head] = entry;
    else this.entries.unshift(entry);
    this.heldBytes += entry.bytes;
    this.heldRecords += entry.count;
  }

  /** Empties the spool (at close, when what is left cannot be sent), the round in flight too; returns what was dropped. */
  clear(): SpoolEntry[] {
    const left = [...this.inFlight, ...this.entries.slice(this.head)];
    this.inFlight = [];
    this.entries = [];
    this.head = 0;
    this.heldBytes = 0;
    this.heldRecords = 0;
    return left;
  }
}
