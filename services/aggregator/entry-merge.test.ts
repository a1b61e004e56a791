import { describe, expect, it } from "vitest";
import type { WorkloadEvents } from "../../lib/contracts/types.ts";
import { countsByNode } from "../../lib/profile/observations.ts";
import { knownSyscalls, mergeEntry, mergeLateEntry, type Tally } from "./entry-merge.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import { SessionState } from "./session.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const batch = { node: "node-a", arch: "x86_64", droppedEvents: 0, sentAt: T0 };

function entry(containerId: string, names: Array<[string, number]>, workload = web): WorkloadEvents {
  return {
    workload,
    pod: `web-${containerId}`,
    containerId,
    syscalls: names.map(([name, count]) => ({ name, count, firstSeen: T0 })),
  };
}

const tally = (): Tally => ({ events: 0, unknownNames: 0, overLimit: 0 });

describe("mergeEntry", () => {
  it("adds up two replicas on one node, raises known counts by maximum, and counts unknown names apart", () => {
    const session = new SessionState("s1");
    const node = session.node("node-a");
    const known = knownSyscalls("x86_64");
    const t = tally();
    const outcome = { fresh: true, drift: [] };
    mergeEntry(
      session,
      node,
      batch,
      entry("c1", [
        ["read", 5],
        ["not_a_syscall", 1],
      ]),
      known,
      T0,
      outcome,
      t,
      DEFAULT_LIMITS,
    );
    mergeEntry(session, node, batch, entry("c2", [["read", 7]]), known, T0, outcome, t, DEFAULT_LIMITS);
    mergeEntry(session, node, batch, entry("c1", [["read", 4]]), known, T0, outcome, t, DEFAULT_LIMITS);
    expect(t).toEqual({ events: 3, unknownNames: 1, overLimit: 0 });
    const observations = [...session.workloads.values()][0]!.observations;
    expect([...observations.syscalls.keys()]).toEqual(["read"]);
    expect(countsByNode(observations.syscalls.get("read")!)).toEqual(new Map([["node-a", 12]]));
    expect(node.tuples).toBe(2);
  });

  it("refuses a workload beyond the node's limit whole, and marks the node limited", () => {
    const session = new SessionState("s1");
    const node = session.node("node-a");
    const t = tally();
    const limits = { ...DEFAULT_LIMITS, maxWorkloadsPerNode: 1 };
    const db = { ...web, name: "db" };
    const known = knownSyscalls("x86_64");
    mergeEntry(
      session,
      node,
      batch,
      entry("c1", [["read", 1]]),
      known,
      T0,
      { fresh: true, drift: [] },
      t,
      limits,
    );
    mergeEntry(
      session,
      node,
      batch,
      entry(
        "c3",
        [
          ["read", 1],
          ["write", 1],
        ],
        db,
      ),
      known,
      T0,
      { fresh: true, drift: [] },
      t,
      limits,
    );
    expect(t).toEqual({ events: 1, unknownNames: 0, overLimit: 2 });
    expect(node.limited).toBe(true);
    expect([...session.workloads.keys()]).toEqual(["shop/Deployment/web/nginx"]);
  });
});

describe("mergeLateEntry", () => {
  it("keeps data that came after finalisation apart from the session's workloads", () => {
    const session = new SessionState("s1");
    const node = session.node("node-a");
    const t = tally();
    mergeLateEntry(
      session,
      node,
      batch,
      entry("c1", [["openat", 2]]),
      knownSyscalls("x86_64"),
      T0,
      t,
      DEFAULT_LIMITS,
    );
    expect(session.workloads.size).toBe(0);
    const late = session.late.get("shop/Deployment/web/nginx")!;
    expect([...late.observations.syscalls.keys()]).toEqual(["openat"]);
    expect(late.version).toBe(1);
  });
});
