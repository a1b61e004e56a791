import type { ConsumerInfo } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import type { Action } from "./publication-plan.ts";
import { PublicationPasses, type PublicationPassDeps } from "./publication-pass.ts";
import { AggregatorState, type MergeOutcome } from "./session-state.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

/** A state with session `id` of node-a, asked to stop, whose node is complete: its finalisation is due. */
function finishing(state: AggregatorState, id: string): void {
  state.setRecord(sessionRecord(id, { state: "stopping", expectedNodes: ["node-a"] }));
  const workloads = [{ workload: web, pod: "web-0", syscalls: [{ name: "read", count: 1, firstSeen: T0 }] }];
  state.apply(syscallBatch({ session: id, node: "node-a", seq: 1, workloads }));
  state.apply(finMarker({ session: id, node: "node-a", batches: 1 }));
}

function consumerInfo(pending: number, ackPending: number, deliveredSeq: number): ConsumerInfo {
  return {
    num_pending: pending,
    num_ack_pending: ackPending,
    delivered: { stream_seq: deliveredSeq },
  } as ConsumerInfo;
}

function setUp(state: AggregatorState, deps: Partial<PublicationPassDeps> = {}) {
  const performed: Action[] = [];
  let changes = 0;
  const passes = new PublicationPasses({
    state: () => state,
    performer: {
      perform: async (action) => {
        performed.push(action);
        state.confirm(action);
      },
    },
    holds: () => true,
    consumerInfo: async () => consumerInfo(0, 0, 0),
    retentionSeconds: 0,
    latestRevision: async () => undefined,
    merged: (_outcome: MergeOutcome) => undefined,
    changed: () => changes++,
    log: pino({ level: "silent" }),
    ...deps,
  });
  return { passes, performed, changes: () => changes };
}

async function settled(passes: PublicationPasses): Promise<void> {
  while (passes.running !== undefined) await passes.running;
}

/** A performer that records each action, then holds it until `release()` before confirming it. */
function gatedPerformer(state: AggregatorState) {
  const performed: Action[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const performer: PublicationPassDeps["performer"] = {
    perform: async (action) => {
      performed.push(action);
      await gate;
      state.confirm(action);
    },
  };
  return { performer, performed, release: () => release() };
}

describe("PublicationPasses", () => {
  it("performs what is due, one pass at a time; a request during a pass runs one more after it", async () => {
    const state = new AggregatorState(() => T0);
    finishing(state, "s1");
    const { performer, performed, release } = gatedPerformer(state);
    const { passes } = setUp(state, { performer });
    passes.request();
    await new Promise((resolve) => setImmediate(resolve));
    finishing(state, "s2");
    passes.request();
    passes.request();
    expect(performed.map((a) => [a.kind, a.session])).toEqual([["finalise", "s1"]]);
    release();
    await settled(passes);
    expect(performed.map((a) => [a.kind, a.session])).toEqual([
      ["finalise", "s1"],
      ["finalise", "s2"],
    ]);
  });

  it("publishes nothing once the replica no longer holds the lease, nor once stopped", async () => {
    const state = new AggregatorState(() => T0);
    finishing(state, "s1");
    const lost = setUp(state, { holds: () => false });
    lost.passes.request();
    await settled(lost.passes);
    expect(lost.performed).toEqual([]);
    const stopped = setUp(state);
    stopped.passes.stop();
    stopped.passes.request();
    expect(stopped.passes.running).toBeUndefined();
  });

  it("performs nothing more once stopped during a pass, and runs no pass queued behind it", async () => {
    const state = new AggregatorState(() => T0);
    finishing(state, "s1");
    finishing(state, "s2");
    const { performer, performed, release } = gatedPerformer(state);
    const { passes } = setUp(state, { performer });
    passes.request();
    await new Promise((resolve) => setImmediate(resolve));
    expect(performed.map((a) => a.session)).toEqual(["s1"]);
    passes.request();
    passes.stop();
    release();
    await settled(passes);
    expect(performed.map((a) => a.session)).toEqual(["s1"]);
    expect(state.due().map((a) => a.session)).toEqual(["s2"]);
  });

  it("finalises at the deadline only once the consumer has nothing older left and everything delivered was merged", async () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(
      sessionRecord("s1", {
        state: "stopping",
        expectedNodes: ["node-a"],
        stopDeadline: new Date(T0).toISOString(),
      }),
    );
    state.catchUpTo(50);
    state.noteStreamSeq(40);
    let info = consumerInfo(3, 0, 40);
    const { passes, performed } = setUp(state, { consumerInfo: async () => info });
    passes.request();
    await settled(passes);
    expect(performed).toEqual([]);
    info = consumerInfo(0, 2, 41);
    passes.request();
    await settled(passes);
    expect(state.caughtUp()).toBe(false);
    info = consumerInfo(0, 2, 40);
    now += 1;
    passes.request();
    await settled(passes);
    expect(state.caughtUp()).toBe(true);
    expect(performed.map((a) => a.kind === "finalise" && a.status)).toEqual(["partial"]);
  });

  it("forgets finalised sessions whose messages have aged out of the stream", async () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    finishing(state, "s1");
    const { passes, changes } = setUp(state, { retentionSeconds: 60 });
    passes.request();
    await settled(passes);
    const before = changes();
    now += 60_001;
    passes.request();
    await settled(passes);
    expect(state.sessions.has("s1")).toBe(false);
    expect(changes()).toBe(before + 1);
  });

  it("numbers continuous revisions after the latest one published since the last checkpoint", async () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(sessionRecord("c1", { mode: "continuous", expectedNodes: ["node-a"] }));
    const workloads = [
      { workload: web, pod: "web-0", syscalls: [{ name: "read", count: 1, firstSeen: T0 }] },
    ];
    state.apply(syscallBatch({ session: "c1", node: "node-a", seq: 1, workloads }));
    const asked: string[] = [];
    const { passes } = setUp(state, {
      latestRevision: async (session, token) => {
        asked.push(`${session}/${token}`);
        return 4;
      },
    });
    await passes.reconcileRevisions();
    expect(asked).toEqual(["c1/shop_Deployment_web_nginx"]);
    expect(state.sessions.get("c1")!.workloads.values().next().value!.track.revision).toBe(4);
  });
});
