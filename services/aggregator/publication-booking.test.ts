import { describe, expect, it } from "vitest";
import type { SessionRecord, WorkloadEvents } from "../../lib/contracts/types.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { followFrozen } from "./frozen-profiles.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import { MessageMerge } from "./message-merge.ts";
import { bookAction } from "./publication-booking.ts";
import { dueActions, type Action } from "./publication-plan.ts";
import { SessionState, noRefusals } from "./session.ts";

const T0 = 1_700_000_000_000;
const TOKEN = "shop_Deployment_web_nginx";
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const merge = new MessageMerge(() => T0, DEFAULT_LIMITS, noRefusals(), undefined);

function entry(names: string[]): WorkloadEvents {
  return { workload: web, pod: "web-0", syscalls: names.map((name) => ({ name, count: 1, firstSeen: T0 })) };
}

function sessionOf(record: SessionRecord): SessionState {
  const session = new SessionState(record.id);
  session.record = record;
  return session;
}

function merged(session: SessionState, seq: number, names: string[]): void {
  merge.mergeBatch(
    session,
    syscallBatch({ session: session.id, node: "node-a", seq, workloads: [entry(names)] }),
  );
}

function due<K extends Action["kind"]>(
  session: SessionState,
  kind: K,
  now: number,
): Extract<Action, { kind: K }> {
  const action = dueActions([session], now, true).find((a) => a.kind === kind);
  if (action === undefined) throw new Error(`no ${kind} action due`);
  return action as Extract<Action, { kind: K }>;
}

/** A one-shot session of node-a, asked to stop, with read and write merged and node-a complete. */
function complete(): SessionState {
  const session = sessionOf(sessionRecord("s1", { state: "stopping", expectedNodes: ["node-a"] }));
  merged(session, 1, ["read", "write"]);
  merge.mergeFin(session, finMarker({ session: "s1", node: "node-a", batches: 1 }));
  return session;
}

describe("bookAction", () => {
  it("keeps a finalised session's summary and releases its observations", () => {
    const session = complete();
    bookAction(session, due(session, "finalise", T0), new Map(), T0 + 7);
    expect(session.finalised).toEqual({
      status: "complete",
      missingNodes: [],
      at: T0 + 7,
      workloads: [{ workload: web, token: TOKEN, revision: 1, syscalls: 2 }],
    });
    expect(session.workloads.size).toBe(0);
    expect(dueActions([session], T0 + 8, true)).toEqual([]);
  });

  it("books late data as published up to its version, with the revision it was stored under", () => {
    const session = complete();
    bookAction(session, due(session, "finalise", T0), new Map(), T0);
    merged(session, 2, ["socket"]);
    const late = due(session, "late", T0 + 1000);
    expect(late.publications.map((p) => [p.lateRevision, p.version])).toEqual([[1, 1]]);
    bookAction(session, late, new Map([[TOKEN, 2]]), T0 + 1000);
    expect(session.late.get("shop/Deployment/web/nginx")).toMatchObject({
      publishedVersion: 1,
      published: 1,
    });
    expect(session.finalised?.workloads[0]?.lateRevision).toBe(2);
    expect(dueActions([session], T0 + 5000, true)).toEqual([]);

    // A workload seen only after finalisation gets its own entry in the summary.
    session.finalised!.workloads = [];
    merged(session, 3, ["kill"]);
    bookAction(session, due(session, "late", T0 + 2000), new Map([[TOKEN, 3]]), T0 + 2000);
    expect(session.finalised?.workloads).toEqual([
      { workload: web, token: TOKEN, revision: 0, syscalls: 0, lateRevision: 3 },
    ]);
  });

  it("books a continuous revision and a drift report, so neither is due again", () => {
    const record = sessionRecord("c1", { mode: "continuous", expectedNodes: ["node-a"] });
    const session = sessionOf(record);
    merged(session, 1, ["read"]);
    followFrozen(session, { ...record, continuous: { frozen: [TOKEN] } }, T0);
    const publish = due(session, "publish", T0);
    bookAction(session, publish, new Map(), T0);
    const track = session.workloads.get("shop/Deployment/web/nginx")!.track;
    expect([track.revision, track.frozen?.revision]).toEqual([1, 1]);
    merged(session, 2, ["ptrace"]);
    const drift = due(session, "drift", T0 + 10);
    bookAction(session, drift, new Map(), T0 + 10);
    expect([track.driftPublishedVersion, track.driftPublishedAt]).toEqual([drift.version, T0 + 10]);
    expect(dueActions([session], T0 + 5000, true)).toEqual([]);
  });
});
