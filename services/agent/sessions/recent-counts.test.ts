import { describe, expect, it } from "vitest";
import { RecentCounts } from "./recent-counts.ts";

describe("RecentCounts", () => {
  it("counts what was added within the window and forgets it once the window has passed", () => {
    let now = 1_000_000;
    const recent = new RecentCounts(["errors", "reads"], 10_000, () => now);
    recent.add("errors");
    recent.add("reads", 5);
    now += 4_000;
    recent.add("reads");
    expect(recent.counts()).toEqual({ errors: 1, reads: 6 });
    now += 6_000;
    // The first bucket has left the window; the later one has not.
    expect(recent.counts()).toEqual({ errors: 0, reads: 1 });
    now += 10_000;
    expect(recent.counts()).toEqual({ errors: 0, reads: 0 });
  });

  it("keeps at most one bucket per tenth of the window, whatever the rate", () => {
    let now = 0;
    const recent = new RecentCounts(["n"], 1_000, () => now);
    for (let i = 0; i < 100_000; i++) {
      recent.add("n");
      now += 1;
    }
    // The last 900 to 1000 ms.
    expect(recent.counts().n).toBeGreaterThanOrEqual(900);
    expect(recent.counts().n).toBeLessThanOrEqual(1000);
  });
});
