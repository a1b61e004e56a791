/**
 * Final documents checked against expectations written out by hand, not computed by the code under
 * test: two replicas of a workload on one node, argument tuples, a node that never reported, and
 * drops reported only in a FIN.
 */
import { describe, expect, it } from "vitest";
import type { EventMessage, SyscallEventBatch, WorkloadEvents } from "../../lib/contracts/types.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import type { Action } from "./publication-plan.ts";
import { AggregatorState } from "./session-state.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

function batch(node: string, seq: number, workloads: WorkloadEvents[], droppedEvents = 0): SyscallEventBatch {
  return syscallBatch({ session: "s1", node, seq, sentAt: T0 + seq, droppedEvents, workloads });
}

function fin(node: string, batches: number, droppedEvents: number): EventMessage {
  return finMarker({ session: "s1", node, batches, sentAt: T0 + 100, droppedEvents });
}

/** Past the stop deadline, with node-b of the node set silent. */
function finalised(messages: EventMessage[]): Extract<Action, { kind: "finalise" }> {
  const state = new AggregatorState(() => T0 + 1000);
  state.setRecord(
    sessionRecord("s1", {
      state: "stopping",
      expectedNodes: ["node-a", "node-b"],
      stopRequestedAt: "2026-12-01T10:00:00Z",
      stopDeadline: "2026-12-01T10:00:00.500Z",
      profile: { argSyscalls: ["socket"] },
    }),
  );
  for (const m of messages) state.apply(m);
  const actions = state.due().filter((a) => a.kind === "finalise");
  expect(actions).toHaveLength(1);
  return actions[0] as Extract<Action, { kind: "finalise" }>;
}

describe("final documents, expectations written by hand", () => {
  it("adds replicas' counts on one node, keeps every argument tuple, names the silent node and the FIN's drops", () => {
    const replica = (
      pod: string,
      containerId: string,
      read: number,
      socketArgs: string[],
      firstRead: number,
    ) => ({
      workload: web,
      pod,
      podUid: `uid-${pod}`,
      containerId,
      syscalls: [
        { name: "read", count: read, firstSeen: T0 + firstRead },
        { name: "socket", count: 1, firstSeen: T0 + 20, args: socketArgs },
      ],
    });
    const action = finalised([
      batch(
        "node-a",
        1,
        [replica("web-1", "c1", 5, ["2", "1", "0"], 10), replica("web-2", "c2", 7, ["10", "1", "0"], 5)],
        1,
      ),
      // A later, cumulative count of replica web-1 replaces its 5; web-2's 7 still adds.
      batch(
        "node-a",
        2,
        [
          {
            ...replica("web-1", "c1", 9, ["2", "1", "0"], 10),
            syscalls: [{ name: "read", count: 9, firstSeen: T0 + 10 }],
          },
        ],
        1,
      ),
      fin("node-a", 2, 3),
    ]);
    expect(action.status).toBe("partial");
    expect(action.missingNodes).toEqual(["node-b"]);
    expect(action.publications).toHaveLength(1);
    expect(action.publications[0]!.document).toEqual({
      schemaVersion: 1,
      kind: "ProfileDocument",
      session: "s1",
      workload: web,
      revision: 1,
      status: "partial",
      nodes: [{ name: "node-a", arch: "x86_64", droppedEvents: 3 }],
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [
        { name: "read", count: 16, firstSeen: "2026-12-01T10:00:00.005Z", nodes: { "node-a": 16 } },
        {
          name: "socket",
          count: 2,
          firstSeen: "2026-12-01T10:00:00.020Z",
          nodes: { "node-a": 2 },
          args: [
            ["2", "1", "0"],
            ["10", "1", "0"],
          ],
        },
      ],
      missingNodes: ["node-b"],
      argSyscalls: ["socket"],
    });
  });
});
