import { describe, expect, it } from "vitest";
import {
  LeftOutCoverage,
  type CoveredRoute,
  type CoveredSession,
  type SyscallCounts,
} from "./left-out-coverage.ts";

const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const WEB = "shop/Deployment/web/nginx";

function session(counts: SyscallCounts): CoveredSession & { gaps: unknown[] } {
  return {
    tracker: { syscallCountsByWorkload: () => counts },
    seen: undefined,
    uncovered: undefined,
    gaps: [],
  } as unknown as CoveredSession & { gaps: unknown[] };
}

function route<S extends CoveredSession>(sessions: S[]): CoveredRoute<S> {
  return { workload: web, sessions, uncovered: [], coveredGen: -1 };
}

describe("LeftOutCoverage", () => {
  it("opens a window for a session whose workload has not shown a left-out syscall, and closes it once it has", () => {
    const coverage = new LeftOutCoverage();
    const counts: SyscallCounts = new Map([[WEB, new Map([["read", 10]])]]);
    const shown = session(
      new Map([
        [
          WEB,
          new Map([
            ["read", 3],
            ["futex", 1],
          ]),
        ],
      ]),
    );
    const unshown = session(counts);
    let opened = 0;
    coverage.check(route([shown, unshown]), 1000, () => opened++);
    expect(opened).toBe(0);

    coverage.set(new Set(["futex"]));
    const r = route([shown, unshown]);
    coverage.check(r, 1000, () => opened++);
    coverage.check(r, 1500, () => opened++);
    expect(opened).toBe(1);
    expect(shown.uncovered).toBeUndefined();
    expect(unshown.uncovered).toEqual({ from: 1000, workloads: new Map([[WEB, web]]), syscalls: ["futex"] });

    coverage.closeCovered([shown, unshown], 2000);
    expect(unshown.uncovered).toBeDefined();
    counts.get(WEB)!.set("futex", 1);
    coverage.closeCovered([shown, unshown], 3000);
    expect(unshown.uncovered).toBeUndefined();
    expect(unshown.gaps).toEqual([
      {
        from: 1000,
        to: 3000,
        reason: expect.stringMatching(/not asked for futex .* when shop\/Deployment\/web\/nginx first ran/),
      },
    ]);
  });

  it("keeps a route's verdict while the left-out set is unchanged, and redoes it when it changes", () => {
    const coverage = new LeftOutCoverage();
    coverage.set(new Set(["futex"]));
    const s = session(new Map([[WEB, new Map([["futex", 1]])]]));
    const r = route([s]);
    coverage.check(r, 1000, () => {});
    const gen = r.coveredGen;
    coverage.set(new Set(["futex"]));
    coverage.check(r, 1100, () => {});
    expect(r.coveredGen).toBe(gen);
    coverage.set(new Set(["futex", "poll"]));
    let opened = 0;
    coverage.check(r, 1200, () => opened++);
    expect(r.coveredGen).not.toBe(gen);
    expect(opened).toBe(1);
    expect(s.uncovered?.syscalls).toEqual(["futex", "poll"]);
  });
});
