import { describe, expect, it } from "vitest";
import type { SyscallEventBatch } from "../contracts/types.ts";
import { assertValid } from "../contracts/validators.ts";
import { toProfileDocument } from "./document.ts";
import { ObservationSet, contributorKey, tupleCountKey } from "./observations.ts";

const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const db = { namespace: "shop", kind: "StatefulSet", name: "db", container: "postgres" };
const NAMES = [
  "read",
  "write",
  "openat",
  "close",
  "mmap",
  "futex",
  "epoll_wait",
  "socket",
  "connect",
  "execve",
];

/** A deterministic pseudo-random stream of batches from three nodes with cumulative counts. */
function batches(seed: number, perNode: number): SyscallEventBatch[] {
  let x = seed;
  const rand = (n: number) => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
  const out: SyscallEventBatch[] = [];
  for (const node of ["node-a", "node-b", "node-c"]) {
    const cumulative = new Map<string, number>();
    for (let seq = 1; seq <= perNode; seq++) {
      const workloads = [web, db].map((workload) => ({
        workload,
        syscalls: Array.from({ length: 4 }, () => {
          const name = NAMES[rand(NAMES.length)]!;
          const args = name === "socket" ? [String([1, 2, 10][rand(3)])] : undefined;
          const k = `${workload.name}/${name}/${args ?? ""}`;
          const count = (cumulative.get(k) ?? 0) + 1 + rand(5);
          cumulative.set(k, count);
          return {
            name,
            count,
            firstSeen: 1_700_000_000_000 + seq * 1000 + rand(999),
            ...(args ? { args } : {}),
          };
        }),
      }));
      out.push({
        schemaVersion: 1,
        kind: "batch",
        session: "s1",
        node,
        arch: "x86_64",
        seq,
        sentAt: seq,
        droppedEvents: seq,
        workloads,
      });
    }
  }
  return out;
}

function documents(set: ObservationSet): string {
  return JSON.stringify(
    [...set.workloads.values()].map((wo) =>
      toProfileDocument(wo, { session: "s1", revision: 1, status: "complete", argSyscalls: ["socket"] }),
    ),
  );
}

function merged(list: SyscallEventBatch[]): ObservationSet {
  const set = new ObservationSet();
  for (const b of list) set.applyBatch(b);
  return set;
}

describe("observation merge", () => {
  const all = batches(42, 20);

  it("produces batches that satisfy the event contract", () => {
    for (const b of all) assertValid("eventMessage", b, "generator");
  });

  it("is idempotent: merging every batch twice gives the same documents", () => {
    expect(documents(merged([...all, ...all]))).toBe(documents(merged(all)));
  });

  it("is commutative: any order of batches gives the same documents", () => {
    const reversed = [...all].reverse();
    const shuffled = [...all].sort(
      (a, b) => ((a.seq * 7919 + a.node.length) % 13) - ((b.seq * 7919 + b.node.length) % 13),
    );
    expect(documents(merged(reversed))).toBe(documents(merged(all)));
    expect(documents(merged(shuffled))).toBe(documents(merged(all)));
  });

  it("merges observation sets the same way as merging their batches", () => {
    const left = merged(all.slice(0, 25));
    const right = merged(all.slice(20));
    left.mergeFrom(right);
    left.mergeFrom(right);
    expect(documents(left)).toBe(documents(merged(all)));
  });

  it("sums cumulative per-node counts and keeps the earliest first-seen time", () => {
    const set = new ObservationSet();
    const base = {
      schemaVersion: 1,
      kind: "batch",
      session: "s1",
      arch: "x86_64",
      sentAt: 0,
      droppedEvents: 0,
    } as const;
    set.applyBatch({
      ...base,
      node: "node-a",
      seq: 1,
      workloads: [{ workload: web, syscalls: [{ name: "read", count: 5, firstSeen: 2000 }] }],
    });
    set.applyBatch({
      ...base,
      node: "node-a",
      seq: 2,
      workloads: [{ workload: web, syscalls: [{ name: "read", count: 9, firstSeen: 2000 }] }],
    });
    set.applyBatch({
      ...base,
      node: "node-b",
      seq: 1,
      workloads: [{ workload: web, syscalls: [{ name: "read", count: 4, firstSeen: 1000 }] }],
    });
    const doc = toProfileDocument(set.workload(web), {
      session: "s1",
      revision: 3,
      status: "complete",
      argSyscalls: [],
    });
    expect(doc.syscalls).toEqual([
      { name: "read", count: 13, firstSeen: "1970-01-01T00:00:01.000Z", nodes: { "node-a": 9, "node-b": 4 } },
    ]);
  });

  it("adds up two replicas of one workload on the same node instead of taking the larger count", () => {
    const set = new ObservationSet();
    const base = {
      schemaVersion: 1,
      kind: "batch",
      session: "s1",
      node: "node-a",
      arch: "x86_64",
      sentAt: 0,
      droppedEvents: 0,
    } as const;
    const replica = (containerId: string, count: number) => ({
      workload: web,
      containerId,
      syscalls: [{ name: "read", count, firstSeen: 1000 }],
    });
    set.applyBatch({ ...base, seq: 1, workloads: [replica("aaa", 5), replica("bbb", 7)] });
    set.applyBatch({ ...base, seq: 1, workloads: [replica("aaa", 5), replica("bbb", 7)] });
    const doc = toProfileDocument(set.workload(web), {
      session: "s1",
      revision: 1,
      status: "complete",
      argSyscalls: [],
    });
    expect(doc.syscalls[0]).toMatchObject({ count: 12, nodes: { "node-a": 12 } });
  });

  it("keeps argument tuples apart and counts them per tuple", () => {
    const set = merged(all);
    const doc = toProfileDocument(set.workload(web), {
      session: "s1",
      revision: 1,
      status: "complete",
      argSyscalls: ["socket"],
    });
    const socket = doc.syscalls.find((s) => s.name === "socket");
    expect(socket?.args?.map((t) => t[0]).sort()).toEqual(["1", "10", "2"]);
    assertValid("profileDocument", doc, "merge", "SC_DOCUMENT_INVALID");
  });

  it("raises only a count its contributor has already, never lowers it, and keeps the earliest first-seen", () => {
    const wo = new ObservationSet().workload(web);
    const node = contributorKey("node-a", "c1");
    const key = tupleCountKey(node, ["2"]);
    expect(wo.raiseKnown("socket", key, 5, 100)).toBe(false);
    wo.observeAs(node, "socket", 5, 100, ["2"], key);
    expect(wo.raiseKnown("socket", key, 9, 50)).toBe(true);
    expect(wo.raiseKnown("socket", key, 3, 70)).toBe(true);
    expect(wo.raiseKnown("socket", tupleCountKey(node, ["10"]), 1, 10)).toBe(false);
    const stats = wo.syscalls.get("socket")!;
    expect([...stats.counts]).toEqual([[key, 9]]);
    expect(stats.firstSeen).toBe(50);
    expect([...stats.argTuples.keys()]).toEqual(["2"]);
  });
});
