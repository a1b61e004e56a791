import { describe, expect, it } from "vitest";
import type { WorkloadEvents } from "../../lib/contracts/types.ts";
import {
  EntryAdmission,
  MAX_OWNERSHIP_WAIT_EVENTS,
  STILL_WAITING,
  type RefusedEntries,
} from "./entry-admission.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { ACCEPT, type OwnershipCheck, type OwnershipVerdict } from "./pod-ownership.ts";
import { SessionState, noRefusals } from "./session.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const batch = { node: "node-a", arch: "x86_64", droppedEvents: 2, sentAt: T0 };

function entry(pod: string, events = 2): WorkloadEvents {
  return {
    workload: web,
    pod,
    podUid: `uid-${pod}`,
    syscalls: Array.from({ length: events }, (_, i) => ({ name: "read", count: i + 1, firstSeen: T0 })),
  };
}

/** A check that answers per pod name, as set in `verdicts` (accept when not named). */
function checkOf(verdicts: Map<string, OwnershipVerdict>): OwnershipCheck {
  return { verdict: (_node, e) => verdicts.get(e.pod!) ?? ACCEPT };
}

function setUp(verdicts: Map<string, OwnershipVerdict>, limits: Partial<Limits> = {}) {
  const refused = noRefusals();
  const admission = new EntryAdmission(checkOf(verdicts), { ...DEFAULT_LIMITS, ...limits }, refused);
  const session = new SessionState("s1");
  const node = session.node("node-a");
  return { admission, refused, session, node };
}

describe("EntryAdmission", () => {
  it("lets an accepted entry through and counts a refused one per session, node and reason, naming it", () => {
    const { admission, refused, session, node } = setUp(new Map([["web-x", { refuse: "podElsewhere" }]]));
    const outcome: RefusedEntries = {};
    expect(admission.admit(session, node, batch, entry("web-0"), T0, T0, outcome)).toBe(true);
    expect(admission.admit(session, node, batch, entry("web-x", 3), T0, T0, outcome)).toBe(false);
    expect(outcome.refusedEntries).toEqual([
      { reason: "podElsewhere", workload: web, pod: "web-x", podUid: "uid-web-x" },
    ]);
    expect([refused.podElsewhere, session.refused.podElsewhere, node.ownershipRefused.podElsewhere]).toEqual([
      1, 1, 1,
    ]);
    expect(node.refusedEvents).toBe(3);
    expect(session.waiting).toEqual([]);
  });

  it("keeps an entry whose pod is not seen yet waiting, with its batch's context, until the wait is over", () => {
    const { admission, session, node } = setUp(new Map([["web-1", { wait: "podUnknown" }]]), {
      ownershipWaitMs: 5000,
    });
    const e = entry("web-1", 4);
    expect(admission.admit(session, node, batch, e, T0 - 10, T0, {})).toBe(false);
    expect(session.waiting).toEqual([
      {
        node: "node-a",
        arch: "x86_64",
        droppedEvents: 2,
        sentAt: T0,
        sessionStart: T0 - 10,
        since: T0,
        entry: e,
      },
    ]);
    expect([node.waitingEvents, admission.waitingEvents]).toEqual([4, 4]);
    const w = session.waiting[0]!;
    expect(admission.recheck(w, T0 + 4999)).toBe(STILL_WAITING);
    expect(admission.recheck(w, T0 + 5000)).toBe("podUnknown");
    admission.release(node, w);
    expect([node.waitingEvents, admission.waitingEvents]).toEqual([0, 0]);
  });

  it("merges a waiting entry the check accepts now, and refuses one it refuses now", () => {
    const verdicts = new Map<string, OwnershipVerdict>([["web-1", { wait: "podUnknown" }]]);
    const { admission, session, node } = setUp(verdicts, { ownershipWaitMs: 5000 });
    admission.admit(session, node, batch, entry("web-1"), T0, T0, {});
    verdicts.delete("web-1");
    expect(admission.recheck(session.waiting[0]!, T0 + 1)).toBeUndefined();
    verdicts.set("web-1", { refuse: "ownerMismatch" });
    expect(admission.recheck(session.waiting[0]!, T0 + 1)).toBe("ownerMismatch");
  });

  it("refuses at once with the wait's reason when waiting is off, and as an overflow past the node's bound", () => {
    const waits = new Map<string, OwnershipVerdict>([
      ["web-1", { wait: "containerMismatch" }],
      ["web-2", { wait: "containerMismatch" }],
    ]);
    const off = setUp(waits, { ownershipWaitMs: 0 });
    const outcome: RefusedEntries = {};
    off.admission.admit(off.session, off.node, batch, entry("web-1"), T0, T0, outcome);
    expect(outcome.refusedEntries?.map((r) => r.reason)).toEqual(["containerMismatch"]);

    const bounded = setUp(waits, { ownershipWaitMs: 5000, maxOwnershipWaitEventsPerNode: 3 });
    const out: RefusedEntries = {};
    bounded.admission.admit(bounded.session, bounded.node, batch, entry("web-1", 2), T0, T0, out);
    bounded.admission.admit(bounded.session, bounded.node, batch, entry("web-2", 2), T0, T0, out);
    expect(bounded.session.waiting.map((w) => w.entry.pod)).toEqual(["web-1"]);
    expect(out.refusedEntries?.map((r) => r.reason)).toEqual(["ownershipWaitOverflow"]);
    expect(bounded.refused.ownershipWaitOverflow).toBe(1);
  });

  it("bounds the events waiting in all sessions together", () => {
    const { admission, session, node } = setUp(new Map([["web-1", { wait: "podUnknown" }]]), {
      ownershipWaitMs: 5000,
      maxOwnershipWaitEventsPerNode: Number.MAX_SAFE_INTEGER,
    });
    const outcome: RefusedEntries = {};
    admission.admit(session, node, batch, entry("web-1", MAX_OWNERSHIP_WAIT_EVENTS), T0, T0, outcome);
    admission.admit(session, node, batch, entry("web-1", 1), T0, T0, outcome);
    expect(admission.waitingEvents).toBe(MAX_OWNERSHIP_WAIT_EVENTS);
    expect(outcome.refusedEntries?.map((r) => r.reason)).toEqual(["ownershipWaitOverflow"]);
  });

  it("counts a restored session's waiting entries again, at least one event each, and drops them with the session", () => {
    const { admission } = setUp(new Map());
    const session = new SessionState("s1");
    const waiting = { node: "node-b", arch: "x86_64", droppedEvents: 0, sessionStart: T0, since: T0 };
    session.waiting = [
      { ...waiting, entry: entry("web-1", 3) },
      { ...waiting, entry: entry("web-2", 0) },
    ];
    admission.restore(session);
    expect([session.node("node-b").waitingEvents, admission.waitingEvents]).toEqual([4, 4]);
    admission.forget(session);
    expect(admission.waitingEvents).toBe(0);
  });
});
