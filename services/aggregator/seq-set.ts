/**
 * The batch numbers merged from one node, kept as sorted, disjoint, non-adjacent ranges: an agent
 * numbers its batches 1, 2, 3, ... without gaps, so a node that is up to date is one range.
 */
export type SeqRange = [from: number, to: number];

export class SeqSet {
  readonly #ranges: SeqRange[] = [];
  #size = 0;

  static fromRanges(ranges: readonly SeqRange[]): SeqSet {
    const set = new SeqSet();
    for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
      const last = set.#ranges[set.#ranges.length - 1];
      if (last !== undefined && from <= last[1] + 1) {
        if (to > last[1]) {
          set.#size += to - last[1];
          last[1] = to;
        }
      } else {
        set.#ranges.push([from, to]);
        set.#size += to - from + 1;
      }
    }
    return set;
  }

  get size(): number {
    return this.#size;
  }

  /** Index of the first range whose end is >= seq (ranges.length if none). */
  #lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.#ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ranges[mid]![1] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(seq: number): boolean {
    const r = this.#ranges[this.#lowerBound(seq)];
    return r !== undefined && r[0] <= seq;
  }

  /** Adds `seq`; returns false when it was already there. */
  add(seq: number): boolean {
    const last = this.#ranges[this.#ranges.length - 1];
    // In-order arrival, the common case, only extends the last range.
    if (last !== undefined && seq === last[1] + 1) {
      last[1] = seq;
      this.#size++;
      return true;
    }
    const i = this.#lowerBound(seq);
    const at = this.#ranges[i];
    if (at !== undefined && at[0] <= seq) return false;
    const before = i > 0 ? this.#ranges[i - 1] : undefined;
    const joinsBefore = before !== undefined && before[1] === seq - 1;
    const joinsAfter = at !== undefined && at[0] === seq + 1;
    if (joinsBefore && joinsAfter) {
      before[1] = at[1];
      this.#ranges.splice(i, 1);
    } else if (joinsBefore) {
      before[1] = seq;
    } else if (joinsAfter) {
      at[0] = seq;
    } else {
      this.#ranges.splice(i, 0, [seq, seq]);
    }
    this.#size++;
    return true;
  }

  /** True when every batch 1..n is in the set (always true for n = 0). */
  coversPrefix(n: number): boolean {
    if (n === 0) return true;
    const first = this.#ranges[0];
    return first !== undefined && first[0] === 1 && first[1] >= n;
  }

  highest(): number {
    return this.#ranges[this.#ranges.length - 1]?.[1] ?? 0;
  }

  ranges(): SeqRange[] {
    return this.#ranges.map(([from, to]) => [from, to]);
  }

  /** `1-40,42,44-50`: compact enough for status replies and logs. */
  toString(): string {
    return this.#ranges.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(",");
  }
}
