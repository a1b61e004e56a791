import { describe, expect, it } from "vitest";
import { AwaitedConditions } from "./awaited-conditions.ts";
import { commonProbe, type ProbeSearch } from "./common-probe.ts";

interface Marking {
  marks: Map<number, number>;
  cutoverSeq: number | undefined;
}

/**
 * Two Falcos, each seeing a probe when `sees(run, seq)` says so; `made` probes were made before
 * the search.
 */
function search(sees: (run: number, seq: number) => boolean, made = 0, gone = () => false) {
  const conditions = new AwaitedConditions();
  const runs: Marking[] = [
    { marks: new Map(), cutoverSeq: undefined },
    { marks: new Map(), cutoverSeq: undefined },
  ];
  let last = made;
  const search: ProbeSearch = {
    probes: {
      get last() {
        return last;
      },
      next: () => ++last,
      touch: async (seq) => {
        setImmediate(() => {
          runs.forEach((run, i) => {
            if (sees(i, seq)) run.marks.set(seq, 0);
          });
          conditions.wake();
        });
      },
    },
    conditions,
    runs,
    gone,
    touched: new Map(),
  };
  return { search, runs };
}

describe("commonProbe", () => {
  it("makes probes until one came back through both Falcos, and sets where the runs start holding", async () => {
    // The first Falco drops probes 1 and 3, the second probe 2.
    const { search: s, runs } = search((run, seq) => (run === 0 ? seq % 2 === 0 : seq !== 2), 6);
    const found = await commonProbe(s, { cutover: true });
    expect(found).toBe(8);
    expect(runs.map((run) => run.cutoverSeq)).toEqual([7, 7]);
    expect([...s.touched.keys()]).toEqual([7, 8]);
  });

  it("takes the earliest probe after `after` both saw that is eligible, without making one when it is there already", async () => {
    const { search: s, runs } = search(() => true, 9);
    for (const seq of [3, 4, 5, 6]) for (const run of runs) run.marks.set(seq, 0);
    runs[1]!.marks.delete(5);
    expect(await commonProbe(s, { after: 3, eligible: (seq) => seq >= 5 })).toBe(6);
    expect(s.touched.size).toBe(0);
    expect(runs.map((run) => run.cutoverSeq)).toEqual([undefined, undefined]);
  });

  it("stops searching once the swap is off", async () => {
    let off = false;
    const { search: s } = search(
      () => false,
      0,
      () => off,
    );
    setTimeout(() => (off = true), 300);
    const started = Date.now();
    expect(await commonProbe(s, {})).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(s.touched.size).toBeGreaterThanOrEqual(1);
  });
});
