import { describe, expect, it } from "vitest";
import type { WorkloadEvents } from "../../../lib/contracts/types.ts";
import { toProfileDocument } from "../../../lib/profile/document.ts";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { MAX_SYSCALLS_PER_ENTRY, NoveltyTracker, type ContainerSnapshot } from "./novelty-tracker.ts";

const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const db = { namespace: "shop", kind: "StatefulSet", name: "db", container: "postgres" };
const metaA = { pod: "web-1", podUid: "uid-a", containerId: "a".repeat(64) };
const metaB = { pod: "web-2", podUid: "uid-b", containerId: "b".repeat(64) };
const metaC = { pod: "db-0", podUid: "uid-c", containerId: "c".repeat(64) };
const T0 = 1_800_000_000_000;

/** name[:args] → count, for compact assertions. */
function flat(entries: WorkloadEvents[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    for (const s of e.syscalls)
      out[`${e.containerId}/${s.name}${s.args ? `:${s.args.join(",")}` : ""}`] = s.count;
  }
  return out;
}

describe("NoveltyTracker", () => {
  it("sends a tuple seen twice once, with its cumulative count", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("a", web, metaA, "read", undefined, T0 + 5);
    const drained = tracker.drain(100);
    expect(drained).toEqual([
      { workload: web, ...metaA, syscalls: [{ name: "read", count: 2, firstSeen: T0 }] },
    ]);
    expect(tracker.drain(100)).toEqual([]);
  });

  it("resends a tuple whose count reached the next power of two, with the new cumulative count, and nothing else", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("a", web, metaA, "write", undefined, T0);
    tracker.drain(100);
    tracker.record("a", web, metaA, "read", undefined, T0 + 1);
    tracker.record("a", web, metaA, "read", undefined, T0 + 2);
    expect(flat(tracker.drain(100))).toEqual({ [`${metaA.containerId}/read`]: 3 });
    expect(tracker.drain(100)).toEqual([]);
  });

  it("sends count updates only at powers of two while running, and exact counts once the stale ones are queued", () => {
    const tracker = new NoveltyTracker([]);
    const read = `${metaA.containerId}/read`;
    const sent: number[] = [];
    for (let call = 1; call <= 20; call++) {
      tracker.record("a", web, metaA, "read", undefined, T0 + call);
      const drained = flat(tracker.drain(100))[read];
      if (drained !== undefined) sent.push(drained);
    }
    // Drained after every call: only the counts 1, 2, 4, 8 and 16 went out.
    expect(sent).toEqual([1, 2, 4, 8, 16]);
    expect(tracker.pendingCount).toBe(0);
    expect(tracker.queueStaleCounts()).toBe(1);
    expect(flat(tracker.drain(100))).toEqual({ [read]: 20 });
    expect(tracker.queueStaleCounts()).toBe(0);
    expect(tracker.drain(100)).toEqual([]);
  });

  it("sends an earlier first-seen time at once, whatever the count", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.drain(100);
    tracker.record("a", web, metaA, "read", undefined, T0 - 50);
    expect(tracker.drain(100)[0]!.syscalls).toEqual([{ name: "read", count: 3, firstSeen: T0 - 50 }]);
  });

  it("keeps a busy node's steady-state traffic near zero: 30 containers × 40 syscalls, 100 flushes of 50 calls each", () => {
    const tracker = new NoveltyTracker([]);
    const names = Array.from({ length: 40 }, (_, s) => `sys${s}`);
    const perFlush: number[] = [];
    for (let flush = 0; flush < 100; flush++) {
      for (let c = 0; c < 30; c++) {
        const meta = { pod: `p${c}`, podUid: `u${c}`, containerId: c.toString(16).padStart(64, "0") };
        for (const name of names)
          for (let k = 0; k < 50; k++) tracker.record(meta.containerId, web, meta, name, undefined, T0);
      }
      let events = 0;
      for (let d = tracker.drain(5000); d.length > 0; d = tracker.drain(5000))
        for (const entry of d) events += entry.syscalls.length;
      perFlush.push(events);
    }
    // Counts 2,550 … 5,000 in the last 50 flushes cross one power of two (4,096) per tuple: 1,200
    // events in 50 flushes, where resending every changed count would send 60,000.
    expect(perFlush.slice(50).reduce((a, b) => a + b, 0)).toBe(1200);
    expect(perFlush.filter((n) => n > 0).length).toBeLessThanOrEqual(14);
    // The final flush still carries every exact count.
    expect(tracker.queueStaleCounts()).toBe(1200);
    const last = tracker.drain(5000);
    expect(last.flatMap((e) => e.syscalls.map((s) => s.count))).toEqual(Array(1200).fill(5000));
  });

  it("treats a stale count as unsent in the local record, so a restarted agent sends the exact count", () => {
    const tracker = new NoveltyTracker([]);
    for (let call = 0; call < 3; call++) tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.drain(100);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.drain(100);
    tracker.record("a", web, metaA, "read", undefined, T0); // count 5: stale, next update due at 8
    expect(tracker.drain(100)).toEqual([]);
    const restored = new NoveltyTracker([]);
    restored.restore(JSON.parse([...tracker.snapshotJson()].join("")) as ContainerSnapshot[]);
    expect(flat(restored.drain(100))).toEqual({ [`${metaA.containerId}/read`]: 5 });
    restored.record("a", web, metaA, "read", undefined, T0); // 6 < 8: not due
    expect(restored.drain(100)).toEqual([]);
  });

  it("keeps argument tuples apart and reports their values", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "socket", ["2"], T0);
    tracker.record("a", web, metaA, "socket", ["10"], T0 + 1);
    tracker.record("a", web, metaA, "socket", ["2"], T0 + 2);
    tracker.record("a", web, metaA, "socket", undefined, T0 + 3);
    expect(flat(tracker.drain(100))).toEqual({
      [`${metaA.containerId}/socket:2`]: 2,
      [`${metaA.containerId}/socket:10`]: 1,
      [`${metaA.containerId}/socket`]: 1,
    });
  });

  it("adds the non-returning syscalls with count 0 as soon as a container is seen", () => {
    const tracker = new NoveltyTracker(["exit", "exit_group", "rt_sigreturn"]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    const [entry] = tracker.drain(100);
    expect(entry!.syscalls).toEqual([
      { name: "exit", count: 0, firstSeen: T0 },
      { name: "exit_group", count: 0, firstSeen: T0 },
      { name: "rt_sigreturn", count: 0, firstSeen: T0 },
      { name: "read", count: 1, firstSeen: T0 },
    ]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    expect(tracker.drain(100)[0]!.syscalls.map((s) => s.name)).toEqual(["read"]);
  });

  it("bounds a drain to maxEvents and leaves the rest for the next drain", () => {
    const tracker = new NoveltyTracker([]);
    for (let i = 0; i < 25; i++) tracker.record("a", web, metaA, `sys_${i}`, undefined, T0);
    const sizes: number[] = [];
    const names = new Set<string>();
    for (let drained = tracker.drain(10); drained.length > 0; drained = tracker.drain(10)) {
      sizes.push(drained.reduce((n, e) => n + e.syscalls.length, 0));
      for (const e of drained) for (const s of e.syscalls) names.add(s.name);
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(names.size).toBe(25);
  });

  it("splits a container's events over several entries beyond the per-entry limit", () => {
    const tracker = new NoveltyTracker([]);
    for (let i = 0; i < MAX_SYSCALLS_PER_ENTRY + 3; i++)
      tracker.record("a", web, metaA, `s${i}`, undefined, T0);
    const entries = tracker.drain(1_000_000);
    expect(entries.map((e) => e.syscalls.length)).toEqual([MAX_SYSCALLS_PER_ENTRY, 3]);
  });

  it("groups events by container, each entry carrying its pod and workload", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("c", db, metaC, "fsync", undefined, T0);
    tracker.record("a", web, metaA, "write", undefined, T0);
    const entries = tracker.drain(100);
    expect(entries.map((e) => [e.workload.name, e.pod, e.syscalls.map((s) => s.name)])).toEqual([
      ["web", "web-1", ["read", "write"]],
      ["db", "db-0", ["fsync"]],
    ]);
    const batch = {
      schemaVersion: 1,
      kind: "batch",
      session: "s1",
      node: "node-a",
      arch: "x86_64",
      seq: 1,
      sentAt: T0,
      droppedEvents: 0,
      workloads: entries,
    };
    expect(() => assertValid("eventMessage", batch, "test")).not.toThrow();
  });

  it("keeps each container's events together however the calls interleave", () => {
    const tracker = new NoveltyTracker([]);
    const metas = [metaA, metaB, metaC];
    for (const name of ["read", "write", "close", "openat"]) {
      metas.forEach((meta, k) =>
        tracker.record(meta.containerId, k === 2 ? db : web, meta, name, undefined, T0),
      );
    }
    const entries = tracker.drain(100);
    expect(entries.map((e) => [e.containerId, e.syscalls.length])).toEqual(
      metas.map((m) => [m.containerId, 4]),
    );
  });

  it("sends a tuple that changes while waiting in a partly drained queue once, with its latest count", () => {
    const tracker = new NoveltyTracker([]);
    for (let i = 0; i < 6; i++) tracker.record("a", web, metaA, `s${i}`, undefined, T0);
    expect(tracker.drain(2)[0]!.syscalls.map((s) => s.name)).toEqual(["s0", "s1"]);
    tracker.record("a", web, metaA, "s5", undefined, T0);
    tracker.record("a", web, metaA, "s0", undefined, T0);
    tracker.record("a", web, metaA, "new", undefined, T0);
    const rest: Record<string, number> = {};
    for (let d = tracker.drain(3); d.length > 0; d = tracker.drain(3)) {
      for (const s of d.flatMap((e) => e.syscalls)) {
        expect(rest[s.name]).toBeUndefined();
        rest[s.name] = s.count;
      }
    }
    expect(rest).toEqual({ s2: 1, s3: 1, s4: 1, s5: 2, s0: 2, new: 1 });
    expect(tracker.pendingCount).toBe(0);
  });

  it("keeps counts across many column chunks", () => {
    const tracker = new NoveltyTracker([]);
    const containers = 400;
    for (let round = 0; round < 2; round++) {
      for (let c = 0; c < containers; c++) {
        const meta = { pod: `p${c}`, podUid: `u${c}`, containerId: String(c).padStart(64, "0") };
        for (let s = 0; s < 100; s++)
          tracker.record(meta.containerId, web, meta, `s${s}`, undefined, T0 + round);
      }
    }
    expect(tracker.tupleCount).toBe(40_000);
    let events = 0;
    for (let d = tracker.drain(5000); d.length > 0; d = tracker.drain(5000)) {
      for (const e of d) {
        for (const s of e.syscalls) {
          expect(s).toEqual({ name: s.name, count: 2, firstSeen: T0 });
          events++;
        }
      }
    }
    expect(events).toBe(40_000);
  });

  it("restores a snapshot with counts, first-seen times and what was sent, queueing only unsent changes", () => {
    const tracker = new NoveltyTracker(["exit"]);
    tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("a", web, metaA, "ioctl", ["21505"], T0 + 1);
    tracker.drain(100);
    tracker.record("a", web, metaA, "read", undefined, T0 + 2);
    const snapshot = JSON.parse([...tracker.snapshotJson()].join("")) as ContainerSnapshot[];
    expect(snapshot).toEqual([
      {
        key: "a",
        workload: web,
        meta: metaA,
        tuples: [
          ["exit", null, 0, T0, true],
          ["read", null, 2, T0, false],
          ["ioctl", ["21505"], 1, T0 + 1, true],
        ],
      },
    ]);

    const restored = new NoveltyTracker(["exit"]);
    restored.restore(snapshot);
    expect(flat(restored.drain(100))).toEqual({ [`${metaA.containerId}/read`]: 2 });
    restored.record("a", web, metaA, "ioctl", ["21505"], T0 + 3);
    restored.record("a", web, metaA, "openat", undefined, T0 + 4);
    expect(flat(restored.drain(100))).toEqual({
      [`${metaA.containerId}/ioctl:21505`]: 2,
      [`${metaA.containerId}/openat`]: 1,
    });
  });

  it("sums the containers of one workload into this node's observations", () => {
    const tracker = new NoveltyTracker([]);
    tracker.record("a", web, metaA, "read", undefined, T0 + 10);
    tracker.record("b", web, metaB, "read", undefined, T0);
    tracker.record("b", web, metaB, "read", undefined, T0 + 20);
    tracker.record("c", db, metaC, "socket", ["2"], T0);
    const set = tracker.observations("node-a", "x86_64", 7);
    const doc = toProfileDocument(set.workload(web), {
      session: "s1",
      revision: 0,
      status: "recording",
      argSyscalls: [],
    });
    expect(doc.syscalls).toEqual([
      { name: "read", count: 3, firstSeen: new Date(T0).toISOString(), nodes: { "node-a": 3 } },
    ]);
    expect(doc.nodes).toEqual([{ name: "node-a", arch: "x86_64", droppedEvents: 7 }]);
    const dbDoc = toProfileDocument(set.workload(db), {
      session: "s1",
      revision: 0,
      status: "recording",
      argSyscalls: ["socket"],
    });
    expect(dbDoc.syscalls[0]!.args).toEqual([["2"]]);
  });

  it("counts every recorded call and each distinct container", () => {
    const tracker = new NoveltyTracker(["exit"]);
    for (let i = 0; i < 5; i++) tracker.record("a", web, metaA, "read", undefined, T0);
    tracker.record("b", web, metaB, "read", undefined, T0);
    expect(tracker.recordedCount).toBe(6);
    expect(tracker.containerCount).toBe(2);
    expect(tracker.tupleCount).toBe(4);
  });
});
