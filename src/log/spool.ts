/**
 * A bounded first-in first-out queue of messages waiting to be published, bounded both in count
 * and in bytes. Hand-written: it is a plain array with a moving head (no per-record node, no
 * copying on shift), plus the one operation a publisher needs that a queue library lacks: put a
 * batch's unacknowledged messages back at the front, in order, after a failed round.
 */

/** One message in a {@link Spool}. */
export interface SpoolEntry {
  /** The subject to publish on. */
  subject: string;
  /** The message id the server deduplicates on (`Nats-Msg-Id`). */
  id: string;
  /** The serialized record, in UTF-8: encoded once, at enqueue, not again at each (re)send. */
  data: Uint8Array;
  /** `data`'s size in bytes. */
  bytes: number;
  /** Whether it is a log record (counted as enqueued and acked), not a gap marker. */
  record: boolean;
}

/** A head this far in (and past half the array) is cut off, so the array does not grow forever. */
const COMPACT_AT = 4096;

export class Spool {
  private entries: SpoolEntry[] = [];
  private head = 0;
  private heldBytes = 0;
  /** The round taken and not settled yet (its entries are still held). */
  private inFlight: SpoolEntry[] = [];

  constructor(
    /** Most messages held at once. */
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

  /** Whether a message of `bytes` (and `count` messages in all) fits now. */
  fits(bytes: number, count = 1): boolean {
    return this.length + count <= this.maxRecords && this.heldBytes + bytes <= this.maxBytes;
  }

  /** Appends `entry` if it fits; false (and nothing held) when it does not. */
  offer(entry: SpoolEntry): boolean {
    if (!this.fits(entry.bytes)) return false;
    this.entries.push(entry);
    this.heldBytes += entry.bytes;
    return true;
  }

  /**
   * Takes up to `n` messages off the front for publishing. They stay counted in {@link length}
   * and {@link bytes} (they are not acknowledged yet) until {@link settle}.
   */
  take(n: number): SpoolEntry[] {
    const batch = this.entries.slice(this.head, this.head + n);
    this.head += batch.length;
    this.inFlight = batch;
    return batch;
  }

  /**
   * Ends a round started by {@link take}: the messages `done` says are finished (acked, or
   * given up) are released; the others go back to the front, in their order, for the next round.
   */
  settle(batch: readonly SpoolEntry[], done: readonly boolean[]): void {
    // A round that clear() ended: nothing of it is held any more.
    if (batch !== this.inFlight) return;
    this.inFlight = [];
    for (let i = batch.length - 1; i >= 0; i--) {
      if (done[i]) this.heldBytes -= batch[i]!.bytes;
      else this.entries[--this.head] = batch[i]!;
    }
    if (this.head >= COMPACT_AT && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Empties the spool (at close, when what is left cannot be sent), the round in flight too; returns what was dropped. */
  clear(): SpoolEntry[] {
    const left = [...this.inFlight, ...this.entries.slice(this.head)];
    this.inFlight = [];
    this.entries = [];
    this.head = 0;
    this.heldBytes = 0;
    return left;
  }
}
