/**
 * Counts over a recent window, so health says what is happening now rather than since the agent
 * started: one parse error an hour ago must not make a healthy agent look unhealthy. Ten buckets
 * per window keep memory constant at any rate; a count leaves the window between 0.9 and 1 window
 * after it was added.
 */
const BUCKETS = 10;

export class RecentCounts<K extends string> {
  readonly windowMs: number;
  readonly #bucketMs: number;
  readonly #clock: () => number;
  readonly #keys: readonly K[];
  /** Bucket number (time / bucketMs) → counts, oldest first. */
  readonly #buckets = new Map<number, Record<K, number>>();

  constructor(keys: readonly K[], windowMs: number, clock: () => number) {
    this.#keys = keys;
    this.windowMs = windowMs;
    this.#bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS));
    this.#clock = clock;
  }

  add(key: K, n = 1): void {
    const bucket = Math.floor(this.#clock() / this.#bucketMs);
    let counts = this.#buckets.get(bucket);
    if (counts === undefined) {
      this.#expire(bucket);
      counts = Object.fromEntries(this.#keys.map((k) => [k, 0])) as Record<K, number>;
      this.#buckets.set(bucket, counts);
    }
    counts[key] += n;
  }

  /** The counts of the buckets within the window. */
  counts(): Record<K, number> {
    this.#expire(Math.floor(this.#clock() / this.#bucketMs));
    const total = Object.fromEntries(this.#keys.map((k) => [k, 0])) as Record<K, number>;
    for (const counts of this.#buckets.values()) for (const k of this.#keys) total[k] += counts[k];
    return total;
  }

  #expire(current: number): void {
    for (const bucket of this.#buckets.keys()) {
      if (bucket > current - BUCKETS) break;
      this.#buckets.delete(bucket);
    }
  }
}
