import { describe, expect, it } from "vitest";
import {
  SyscallSetPolicy,
  shownByAll,
  type AdaptiveSyscallOptions,
  type SyscallTarget,
} from "./syscall-set-policy.ts";

const OPTIONS: AdaptiveSyscallOptions = {
  minEventsPerSecond: 1000,
  stableMs: 2000,
  retryAfterMs: [10_000, 60_000],
  maxFailures: 2,
  evaluateIntervalMs: 500,
};
const NONE = new Set<string>();
const PROTECTED = new Set(["openat", "clone"]);

function target(id: string, seen: Record<string, number>): SyscallTarget {
  return { id, seen: new Map(Object.entries(seen)) };
}

/** Two workloads: dd (reads and writes a lot) and a rare caller that read and wrote a little. */
function targets(ddCalls: number, rare: Record<string, number> = { read: 3, write: 1, getsid: 1 }) {
  return [
    target("s1\ndd", { read: ddCalls, write: ddCalls, openat: 10, clone: 1 }),
    target("s1\nrare", { ...rare, openat: 5, clone: 1 }),
  ];
}

describe("shownByAll", () => {
  it("is what every target made at least once, without the protected syscalls", () => {
    expect(shownByAll(targets(100), PROTECTED)).toEqual(new Set(["read", "write"]));
    expect(shownByAll([target("a", { read: 1, write: 0 })], NONE)).toEqual(new Set(["read"]));
  });

  it("is nothing without targets, and nothing while one target has shown nothing", () => {
    expect(shownByAll([], NONE)).toEqual(new Set());
    expect(shownByAll([...targets(100), target("s2\nidle", {})], NONE)).toEqual(new Set());
  });
});

describe("SyscallSetPolicy", () => {
  it("lowers once the targets are stable and a syscall every target showed is heavy, and only that one", () => {
    const policy = new SyscallSetPolicy(OPTIONS);
    expect(policy.decide(0, targets(0), NONE, PROTECTED).change).toBe("keep");
    // 50,000 calls/s of read and write, but the targets appeared only 1 s ago.
    expect(policy.decide(1000, targets(50_000), NONE, PROTECTED).change).toBe("keep");
    const lowered = policy.decide(2000, targets(100_000), NONE, PROTECTED);
    expect(lowered).toMatchObject({ change: "lower", exclude: new Set(["read", "write"]) });
    expect(lowered.reason).toContain("read, write");
  });

  it("never leaves out a syscall some target has not shown, however heavy elsewhere", () => {
    const policy = new SyscallSetPolicy({ ...OPTIONS, stableMs: 0 });
    const withoutWrite = { read: 3, getsid: 1 };
    policy.decide(0, targets(0, withoutWrite), NONE, PROTECTED);
    const decision = policy.decide(1000, targets(1_000_000, withoutWrite), NONE, PROTECTED);
    expect(decision.exclude).toEqual(new Set(["read"]));
  });

  it("never leaves out the protected syscalls, and not the cheap ones", () => {
    const policy = new SyscallSetPolicy({ ...OPTIONS, stableMs: 0 });
    const heavy = (n: number) => [
      target("a", { openat: n, clone: n, getsid: 1 }),
      target("b", { openat: n, clone: n, getsid: 1 }),
    ];
    policy.decide(0, heavy(0), NONE, PROTECTED);
    expect(policy.decide(1000, heavy(1_000_000), NONE, PROTECTED).change).toBe("keep");
  });

  it("measures the rate from the previous decision, not from the start of the counts", () => {
    const policy = new SyscallSetPolicy({ ...OPTIONS, stableMs: 0 });
    // 100,000 calls piled up over a long session, then 500 calls/s: not heavy.
    policy.decide(0, targets(100_000), NONE, PROTECTED);
    expect(policy.decide(1000, targets(100_500), NONE, PROTECTED).change).toBe("keep");
  });

  it("raises at once when a new target has not shown what is left out, keeping what it has shown", () => {
    const policy = new SyscallSetPolicy(OPTIONS);
    const left = new Set(["read", "write"]);
    policy.decide(0, targets(10), left, PROTECTED);
    const withNew = [...targets(20), target("s1\nnew", { read: 1 })];
    const decision = policy.decide(100, withNew, left, PROTECTED);
    expect(decision).toMatchObject({ change: "raise", exclude: new Set(["read"]) });
    expect(decision.reason).toBe("a target has not shown write");
    // A new session's workload has shown nothing: everything comes back.
    expect(policy.decide(200, [...withNew, target("s2\ndd", {})], left, PROTECTED)).toMatchObject({
      change: "raise",
      exclude: new Set(),
    });
  });

  it("keeps the set while the targets keep changing, and lowers once they settled", () => {
    const policy = new SyscallSetPolicy(OPTIONS);
    policy.decide(0, targets(0), NONE, PROTECTED);
    policy.decide(1500, [...targets(10_000), target("s1\nlate", { read: 1, write: 1 })], NONE, PROTECTED);
    const late = (n: number) => [...targets(n), target("s1\nlate", { read: 1, write: 1 })];
    expect(policy.decide(3000, late(100_000), NONE, PROTECTED).change).toBe("keep");
    expect(policy.decide(3500, late(200_000), NONE, PROTECTED).change).toBe("lower");
  });

  it("waits after a failed swap, and stops lowering after maxFailures in a row; raising still works", () => {
    const policy = new SyscallSetPolicy({ ...OPTIONS, stableMs: 0 });
    policy.decide(0, targets(0), NONE, PROTECTED);
    expect(policy.decide(1000, targets(100_000), NONE, PROTECTED).change).toBe("lower");
    policy.swapFailed(1000);
    expect(policy.state(1000)).toBe("backoff");
    expect(policy.decide(2000, targets(200_000), NONE, PROTECTED)).toMatchObject({
      change: "keep",
      reason: "lowering is backoff",
    });
    expect(policy.decide(11_000, targets(300_000), NONE, PROTECTED).change).toBe("lower");
    policy.swapFailed(11_000);
    expect(policy.state(1_000_000)).toBe("off");
    expect(policy.decide(1_000_000, targets(900_000), NONE, PROTECTED).change).toBe("keep");
    const left = new Set(["read", "write"]);
    expect(policy.decide(1_000_001, [target("new", {})], left, PROTECTED).change).toBe("raise");
  });

  it("starts counting failures again after a successful swap", () => {
    const policy = new SyscallSetPolicy({ ...OPTIONS, stableMs: 0 });
    policy.swapFailed(0);
    policy.swapSucceeded();
    policy.swapFailed(0);
    expect(policy.failures).toBe(1);
    expect(policy.state(10_000)).toBe("active");
  });
});
