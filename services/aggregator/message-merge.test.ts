import { describe, expect, it } from "vitest";
import type { WorkloadEvents } from "../../lib/contracts/types.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { EntryAdmission } from "./entry-admission.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import { MessageMerge } from "./message-merge.ts";
import { ACCEPT, type OwnershipVerdict } from "./pod-ownership.ts";
import { SessionState, noRefusals } from "./session.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const WEB = "shop/Deployment/web/nginx";

function entry(names: string[], pod = "web-0"): WorkloadEvents {
  return {
    workload: web,
    pod,
    podUid: `uid-${pod}`,
    syscalls: names.map((name) => ({ name, count: 1, firstSeen: T0 })),
  };
}

function batch(seq: number, entries: WorkloadEvents[], node = "node-a") {
  return syscallBatch({ session: "s1", node, seq, sentAt: T0 + seq, workloads: entries });
}

function session(): SessionState {
  const s = new SessionState("s1");
  s.record = sessionRecord("s1", { expectedNodes: ["node-a"], createdAt: new Date(T0).toISOString() });
  return s;
}

describe("MessageMerge", () => {
  it("counts a batch once however often it comes, and completes a node once its FIN's batches are all merged", () => {
    const refused = noRefusals();
    const merge = new MessageMerge(() => T0, DEFAULT_LIMITS, refused, undefined);
    const s = session();
    const first = merge.mergeBatch(s, batch(1, [entry(["read", "write", "no_such_call"])]));
    expect(first).toMatchObject({ fresh: true, late: false, events: 2, nodeComplete: false });
    expect(merge.mergeBatch(s, batch(1, [entry(["read", "write"])]))).toMatchObject({
      fresh: false,
      events: 0,
    });
    expect([s.batches, s.events, s.node("node-a").events]).toEqual([1, 2, 2]);
    expect([s.refused.unknownSyscall, refused.unknownSyscall, s.node("node-a").refusedEvents]).toEqual([
      1, 1, 1,
    ]);
    expect(merge.mergeFin(s, finMarker({ session: "s1", node: "node-a", batches: 2 })).nodeComplete).toBe(
      false,
    );
    expect(merge.mergeBatch(s, batch(2, [entry(["openat"])])).nodeComplete).toBe(true);
    expect([...s.workloads.get(WEB)!.observations.syscalls.keys()].sort()).toEqual([
      "openat",
      "read",
      "write",
    ]);
  });

  it("refuses a FIN announcing far more batches than were merged, and a batch number beyond the limit", () => {
    const refused = noRefusals();
    const merge = new MessageMerge(
      () => T0,
      { ...DEFAULT_LIMITS, maxBatchesPerNode: 5000 },
      refused,
      undefined,
    );
    const s = session();
    merge.mergeBatch(s, batch(1, [entry(["read"])]));
    const fin = merge.mergeFin(s, finMarker({ session: "s1", node: "node-a", batches: 1 + 1025 }));
    expect(fin.refused).toBe("implausible");
    expect(merge.mergeFin(s, finMarker({ session: "s1", node: "node-a", batches: 1 + 1024 })).fresh).toBe(
      true,
    );
    expect(merge.mergeBatch(s, batch(5001, [entry(["read"])])).refused).toBe("implausible");
    expect([refused.implausible, s.refused.implausible]).toEqual([2, 2]);
  });

  it("keeps a FIN's gaps once each, and its drops in the documents of the node's workloads", () => {
    const merge = new MessageMerge(() => T0, DEFAULT_LIMITS, noRefusals(), undefined);
    const s = session();
    merge.mergeBatch(s, batch(1, [entry(["read"])]));
    const gaps = [{ from: T0, to: T0 + 10 }];
    merge.mergeFin(s, finMarker({ session: "s1", node: "node-a", batches: 1, droppedEvents: 9, gaps }));
    merge.mergeFin(s, finMarker({ session: "s1", node: "node-a", batches: 1, droppedEvents: 9, gaps }));
    expect(s.node("node-a").gaps).toEqual(gaps);
    expect(s.workloads.get(WEB)!.observations.nodes.get("node-a")?.droppedEvents).toBe(9);
  });

  it("names at most 32 foreign nodes of a session, and counts every refusal", () => {
    const refused = noRefusals();
    const merge = new MessageMerge(() => T0, DEFAULT_LIMITS, refused, undefined);
    const s = session();
    for (let i = 0; i < 40; i++) merge.refuse(s, batch(1, [], `stranger-${i}`), "foreignNode");
    merge.refuse(undefined, batch(1, []), "unknownSession");
    expect(s.foreignNodes.size).toBe(32);
    expect([refused.foreignNode, s.refused.foreignNode, refused.unknownSession]).toEqual([40, 40, 1]);
  });

  it("merges a new batch that comes after finalisation into the late observations only", () => {
    const merge = new MessageMerge(() => T0, DEFAULT_LIMITS, noRefusals(), undefined);
    const s = session();
    s.finalised = { status: "complete", missingNodes: [], at: T0, workloads: [] };
    const outcome = merge.mergeBatch(s, batch(3, [entry(["socket"])]));
    expect(outcome).toMatchObject({ fresh: true, late: true });
    expect(merge.mergeBatch(s, batch(3, [entry(["socket"])])).fresh).toBe(false);
    expect(s.lateBatches).toBe(1);
    expect(s.workloads.size).toBe(0);
    expect(s.late.get(WEB)?.version).toBe(1);
  });

  it("decides a batch's entries by the pod ownership check on first delivery, and merges a waiting one once accepted", () => {
    const verdicts = new Map<string, OwnershipVerdict>([
      ["web-x", { refuse: "podElsewhere" }],
      ["web-1", { wait: "podUnknown" }],
    ]);
    const refused = noRefusals();
    const limits = { ...DEFAULT_LIMITS, ownershipWaitMs: 5000 };
    const check = { verdict: (_node: string, e: WorkloadEvents) => verdicts.get(e.pod!) ?? ACCEPT };
    let now = T0;
    const merge = new MessageMerge(() => now, limits, refused, new EntryAdmission(check, limits, refused));
    const s = session();
    const outcome = merge.mergeBatch(
      s,
      batch(1, [entry(["read"]), entry(["write"], "web-x"), entry(["futex"], "web-1")]),
    );
    expect(outcome.events).toBe(1);
    expect(outcome.refusedEntries?.map((r) => r.pod)).toEqual(["web-x"]);
    expect(s.waiting.map((w) => w.entry.pod)).toEqual(["web-1"]);
    // A redelivery was decided by the first delivery.
    expect(merge.mergeBatch(s, batch(1, [entry(["read"]), entry(["futex"], "web-1")])).events).toBe(0);
    expect(s.waiting).toHaveLength(1);

    now = T0 + 1000;
    expect(merge.recheckWaiting([s])).toEqual([]);
    verdicts.delete("web-1");
    const [rechecked, ...others] = merge.recheckWaiting([s]);
    expect(others).toEqual([]);
    expect(rechecked).toMatchObject({
      session: "s1",
      node: "node-a",
      kind: "batch",
      fresh: false,
      events: 1,
    });
    expect(s.waiting).toEqual([]);
    expect(s.events).toBe(2);
    expect([...s.workloads.get(WEB)!.observations.syscalls.keys()].sort()).toEqual(["futex", "read"]);
    expect(merge.recheckWaiting([s])).toEqual([]);
  });
});
