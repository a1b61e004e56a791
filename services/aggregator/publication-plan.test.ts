import { describe, expect, it } from "vitest";
import type { EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { dueActions } from "./publication-plan.ts";
import { AggregatorState } from "./session-state.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

function record(state: SessionRecord["state"], extra: Partial<SessionRecord> = {}): SessionRecord {
  return sessionRecord("s1", { state, expectedNodes: ["node-a", "node-b"], ...extra });
}

function batch(node: string, name: string): EventMessage {
  return syscallBatch({
    session: "s1",
    node,
    seq: 1,
    sentAt: T0,
    workloads: [{ workload: web, pod: `web-${node}`, syscalls: [{ name, count: 3, firstSeen: T0 }] }],
  });
}

function fin(node: string): EventMessage {
  return finMarker({ session: "s1", node, batches: 1, sentAt: T0 + 1 });
}

function stateOf(rec: SessionRecord, messages: EventMessage[]): AggregatorState {
  const state = new AggregatorState(() => T0);
  state.setRecord(rec);
  for (const m of messages) state.apply(m);
  return state;
}

describe("dueActions", () => {
  it("finalises a stopping session once every node is complete, never a running one", () => {
    const complete = [batch("node-a", "read"), fin("node-a"), batch("node-b", "write"), fin("node-b")];
    expect(dueActions(stateOf(record("running"), complete).sessions.values(), T0, true)).toEqual([]);
    const actions = dueActions(stateOf(record("stopping"), complete).sessions.values(), T0, false);
    expect(actions).toHaveLength(1);
    const action = actions[0]!;
    if (action.kind !== "finalise") throw new Error(`expected a finalisation, got ${action.kind}`);
    expect(action.status).toBe("complete");
    expect(action.missingNodes).toEqual([]);
    expect(action.publications.map((p) => p.document.syscalls.map((s) => s.name))).toEqual([
      ["read", "write"],
    ]);
  });

  it("at the stop deadline, finalises a session with a silent node as partial only once the stream is caught up", () => {
    const rec = record("stopping", { stopDeadline: new Date(T0 + 1000).toISOString() });
    const state = stateOf(rec, [batch("node-a", "read"), fin("node-a")]);
    expect(dueActions(state.sessions.values(), T0, true)).toEqual([]);
    expect(dueActions(state.sessions.values(), T0 + 1000, false)).toEqual([]);
    const [action] = dueActions(state.sessions.values(), T0 + 1000, true);
    expect(action).toMatchObject({ kind: "finalise", status: "partial", missingNodes: ["node-b"] });
  });
});
