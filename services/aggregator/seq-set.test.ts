import { describe, expect, it } from "vitest";
import { SeqSet } from "./seq-set.ts";

describe("SeqSet", () => {
  it("keeps in-order batch numbers as one range", () => {
    const set = new SeqSet();
    for (let seq = 1; seq <= 500; seq++) expect(set.add(seq)).toBe(true);
    expect(set.ranges()).toEqual([[1, 500]]);
    expect(set.size).toBe(500);
    expect(set.coversPrefix(500)).toBe(true);
    expect(set.coversPrefix(501)).toBe(false);
  });

  it("reports a number added twice as not new and counts it once", () => {
    const set = new SeqSet();
    expect(set.add(3)).toBe(true);
    expect(set.add(3)).toBe(false);
    expect(set.size).toBe(1);
  });

  it("joins ranges when the gap between them is filled, in any order", () => {
    const set = new SeqSet();
    for (const seq of [5, 1, 3, 2, 9, 4, 7, 8, 6]) set.add(seq);
    expect(set.ranges()).toEqual([[1, 9]]);
    expect(set.toString()).toBe("1-9");
    expect(set.size).toBe(9);
  });

  it("names the gaps in its string form and is not complete while one remains", () => {
    const set = new SeqSet();
    for (const seq of [1, 2, 3, 5, 8, 9]) set.add(seq);
    expect(set.toString()).toBe("1-3,5,8-9");
    expect(set.coversPrefix(3)).toBe(true);
    expect(set.coversPrefix(5)).toBe(false);
    expect(set.has(4)).toBe(false);
    expect(set.has(8)).toBe(true);
    expect(set.highest()).toBe(9);
  });

  it("treats a node that announced zero batches as complete", () => {
    expect(new SeqSet().coversPrefix(0)).toBe(true);
    expect(new SeqSet().coversPrefix(1)).toBe(false);
  });

  it("round-trips through its ranges, merging overlapping and adjacent ones", () => {
    const set = new SeqSet();
    for (const seq of [1, 2, 4, 10, 11, 12]) set.add(seq);
    const copy = SeqSet.fromRanges(set.ranges());
    expect(copy.ranges()).toEqual(set.ranges());
    expect(copy.size).toBe(set.size);
    const merged = SeqSet.fromRanges([
      [5, 8],
      [1, 3],
      [4, 4],
      [7, 12],
    ]);
    expect(merged.ranges()).toEqual([[1, 12]]);
    expect(merged.size).toBe(12);
  });
});
