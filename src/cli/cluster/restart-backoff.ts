/**
 * When to restart a crashed worker: at once after a worker that ran a while, then doubling
 * delays while workers keep dying young, so that a crash loop (a bad target, a full disk)
 * costs a fork every few seconds rather than a spinning CPU.
 */
export class RestartBackoff {
  private streak = 0;

  constructor(
    /** The first delay after a young death, in ms. */
    private readonly base = 100,
    /** The longest delay, in ms. */
    private readonly max = 10_000,
    /** A worker that lived this long (ms) resets the streak. */
    private readonly healthy = 10_000,
  ) {}

  /** The delay before restarting a worker that lived `livedMs`. */
  next(livedMs: number): number {
    if (livedMs >= this.healthy) this.streak = 0;
    const delay = this.streak === 0 ? 0 : Math.min(this.max, this.base * 2 ** (this.streak - 1));
    this.streak++;
    return delay;
  }
}
