import { describe, expect, it } from "vitest";
import type { EventMessage, SessionRecord, SyscallEventBatch } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { AggregatorState } from "./session-state.ts";
import type { Action } from "./publication-plan.ts";

const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const db = { namespace: "shop", kind: "StatefulSet", name: "db", container: "postgres" };
const NAMES = ["read", "write", "openat", "close", "mmap", "futex", "epoll_wait", "socket", "connect"];
const T0 = 1_700_000_000_000;

/** Deterministic batches with cumulative counts from each node, then each node's FIN. */
function recording(session: string, nodes: string[], perNode: number, seed = 7): EventMessage[] {
  let x = seed;
  const rand = (n: number) => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
  const out: EventMessage[] = [];
  for (const node of nodes) {
    const cumulative = new Map<string, number>();
    for (let seq = 1; seq <= perNode; seq++) {
      const batch: SyscallEventBatch = {
        schemaVersion: 1,
        kind: "batch",
        session,
        node,
        arch: "x86_64",
        seq,
        sentAt: T0 + seq * 1000,
        droppedEvents: seq - 1,
        workloads: [web, db].map((workload) => ({
          workload,
          pod: `${workload.name}-0`,
          syscalls: Array.from({ length: 5 }, () => {
            const name = NAMES[rand(NAMES.length)]!;
            const args = name === "socket" ? [String([1, 2, 10][rand(3)])] : undefined;
            const k = `${workload.name}/${name}/${args ?? ""}`;
            const count = (cumulative.get(k) ?? 0) + 1 + rand(4);
            cumulative.set(k, count);
            return { name, count, firstSeen: T0 + seq * 1000 + rand(999), ...(args ? { args } : {}) };
          }),
        })),
      };
      out.push(assertValid("eventMessage", batch, "test"));
    }
    out.push({
      schemaVersion: 1,
      kind: "fin",
      session,
      node,
      batches: perNode,
      sentAt: T0 + 999_000,
      droppedEvents: perNode,
    });
  }
  return out;
}

function record(id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id,
    mode: "oneshot",
    state: "stopping",
    createdAt: "2026-11-27T10:00:00Z",
    expectedNodes: ["node-a", "node-b", "node-c"],
    targets: { namespaces: ["shop"] },
    profile: { argSyscalls: ["socket"] },
    ...extra,
  };
}

function finalise(state: AggregatorState): Extract<Action, { kind: "finalise" }> {
  const actions = state.due().filter((a) => a.kind === "finalise");
  expect(actions).toHaveLength(1);
  return actions[0] as Extract<Action, { kind: "finalise" }>;
}

/** A state that knows the record of `session`, stopping, with exactly these nodes. */
function stateWith(session: string, nodes: string[], clock = () => T0): AggregatorState {
  const state = new AggregatorState(clock);
  state.setRecord(record(session, { expectedNodes: nodes }));
  return state;
}

/** Merges every message and returns the final documents as JSON text, by workload token. */
function finalDocuments(messages: EventMessage[], records?: SessionRecord[]): Record<string, string> {
  const state = new AggregatorState(() => T0);
  const nodes = [...new Set(messages.map((m) => m.node))];
  for (const r of records ?? [record(messages[0]!.session, { expectedNodes: nodes })]) state.setRecord(r);
  for (const m of messages) state.apply(m);
  const action = finalise(state);
  return Object.fromEntries(action.publications.map((p) => [p.token, JSON.stringify(p.document)]));
}

function shuffled<T>(items: T[], seed: number): T[] {
  let x = seed;
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("AggregatorState merge and finalisation", () => {
  it("merges batches from several nodes into one profile per workload container with per-node counts", () => {
    const messages = recording("s1", ["node-a", "node-b", "node-c"], 6);
    const state = stateWith("s1", ["node-a", "node-b", "node-c"]);
    for (const m of messages) state.apply(m);
    const action = finalise(state);
    expect(action.status).toBe("complete");
    expect(action.publications.map((p) => p.token)).toEqual([
      "shop_Deployment_web_nginx",
      "shop_StatefulSet_db_postgres",
    ]);
    const doc = action.publications[0]!.document;
    expect(doc.revision).toBe(1);
    expect(doc.nodes.map((n) => n.name)).toEqual(["node-a", "node-b", "node-c"]);
    // The FIN carries the node's last cumulative drop count (6), beyond its last batch's (5).
    expect(doc.nodes.every((n) => n.droppedEvents === 6)).toBe(true);
    // Counts are cumulative per node: the document holds each node's latest (largest) count.
    const batches = messages.filter((m): m is SyscallEventBatch => m.kind === "batch");
    for (const entry of doc.syscalls) {
      for (const [node, count] of Object.entries(entry.nodes)) {
        let expected = 0;
        const perArgs = new Map<string, number>();
        for (const b of batches.filter((b) => b.node === node)) {
          for (const ev of b.workloads[0]!.syscalls.filter((e) => e.name === entry.name)) {
            const k = ev.args?.join(",") ?? "";
            perArgs.set(k, Math.max(perArgs.get(k) ?? 0, ev.count));
          }
        }
        for (const c of perArgs.values()) expected += c;
        expect(count).toBe(expected);
      }
      expect(entry.count).toBe(Object.values(entry.nodes).reduce((a, b) => a + b, 0));
    }
    expect(state.sessions.get("s1")!.batches).toBe(18);
    expect(state.sessions.get("s1")!.events).toBe(18 * 10);
  });

  it("gives byte-identical documents for duplicated and reordered messages, and counts each batch once", () => {
    const messages = recording("s1", ["node-a", "node-b"], 8);
    const reference = finalDocuments(messages);
    for (const seed of [1, 2, 3]) {
      const noisy = shuffled([...messages, ...messages.slice(3, 9), ...messages.slice(0, 2)], seed);
      // FIN markers last, so that finalisation sees everything; their order among batches does not matter.
      const ordered = [...noisy.filter((m) => m.kind === "batch"), ...noisy.filter((m) => m.kind === "fin")];
      expect(finalDocuments(ordered)).toEqual(reference);
      const state = stateWith("s1", ["node-a", "node-b"]);
      for (const m of noisy) state.apply(m);
      expect(state.sessions.get("s1")!.batches).toBe(16);
    }
  });

  it("does not depend on the order of the fields of a workload key", () => {
    const messages = recording("s1", ["node-a"], 2);
    const reordered = messages.map((m) =>
      m.kind === "batch"
        ? {
            ...m,
            workloads: m.workloads.map((w) => ({
              ...w,
              workload: {
                container: w.workload.container,
                name: w.workload.name,
                kind: w.workload.kind,
                namespace: w.workload.namespace,
              },
            })),
          }
        : m,
    );
    expect(finalDocuments(reordered)).toEqual(finalDocuments(messages));
  });

  it("waits for the batches a FIN announces before it calls the node complete", () => {
    const messages = recording("s1", ["node-a"], 3);
    const fin = messages.pop()!;
    const state = stateWith("s1", ["node-a"]);
    const finOutcome = state.apply(fin);
    expect(finOutcome.nodeComplete).toBe(false);
    expect(state.due()).toEqual([]);
    const outcomes = messages.map((m) => state.apply(m));
    expect(outcomes.map((o) => o.nodeComplete)).toEqual([false, false, true]);
    expect(finalise(state).status).toBe("complete");
  });

  it("waits for every expected node of the session record, then finalises as partial at the stop deadline", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(
      record("s1", {
        state: "stopping",
        expectedNodes: ["node-a", "node-b", "node-c"],
        stopDeadline: new Date(T0 + 60_000).toISOString(),
      }),
    );
    for (const m of recording("s1", ["node-a", "node-b"], 2)) state.apply(m);
    expect(state.due()).toEqual([]);
    expect(state.sessions.get("s1")!.incompleteNodes()).toEqual(["node-c"]);
    now = T0 + 60_000;
    const action = finalise(state);
    expect(action.status).toBe("partial");
    expect(action.missingNodes).toEqual(["node-c"]);
    expect(action.publications[0]!.document.missingNodes).toEqual(["node-c"]);
    expect(action.publications[0]!.document.status).toBe("partial");
  });

  it("counts an expected node that sent data but no FIN as missing at the deadline", () => {
    let now = T0;
    const state = stateWith("s1", ["node-a", "node-b"], () => now);
    state.setRecord(
      record("s1", { expectedNodes: ["node-a", "node-b"], stopDeadline: new Date(T0 + 1000).toISOString() }),
    );
    const messages = recording("s1", ["node-a", "node-b"], 2).filter(
      (m) => !(m.kind === "fin" && m.node === "node-b"),
    );
    for (const m of messages) state.apply(m);
    expect(state.due()).toEqual([]);
    now = T0 + 1000;
    expect(finalise(state).missingNodes).toEqual(["node-b"]);
  });

  it("records argument tuples for the session's argument syscalls only", () => {
    const docs = finalDocuments(recording("s1", ["node-a"], 4));
    const doc = JSON.parse(docs["shop_Deployment_web_nginx"]!) as {
      argSyscalls: string[];
      syscalls: { name: string; args?: string[][] }[];
    };
    expect(doc.argSyscalls).toEqual(["socket"]);
    const socket = doc.syscalls.find((s) => s.name === "socket");
    expect(socket?.args?.length).toBeGreaterThan(0);
    expect(doc.syscalls.filter((s) => s.name !== "socket").every((s) => s.args === undefined)).toBe(true);
  });

  it("releases a finalised session's observations and turns later new batches into a late revision, not into the final one", () => {
    let now = T0;
    const state = stateWith("s1", ["node-a"], () => now);
    const messages = recording("s1", ["node-a"], 2);
    for (const m of messages) state.apply(m);
    const action = finalise(state);
    state.confirm(action);
    const s = state.sessions.get("s1")!;
    expect(s.finalised?.status).toBe("complete");
    expect(s.workloads.size).toBe(0);
    expect(s.finalised?.workloads.map((w) => w.token)).toEqual(action.publications.map((p) => p.token));
    const redelivered = state.apply(messages[0]!);
    expect(redelivered).toMatchObject({ late: true, fresh: false });
    const first = messages[0] as SyscallEventBatch;
    const extra: SyscallEventBatch = {
      ...first,
      seq: 9,
      workloads: [{ workload: web, syscalls: [{ name: "getrandom", count: 1, firstSeen: T0 }] }],
    };
    expect(state.apply(extra)).toMatchObject({ late: true, fresh: true, events: 0 });
    expect(s.lateBatches).toBe(1);
    // Published once no more late data came for a moment.
    expect(state.due()).toEqual([]);
    now += 1000;
    const late = state.due();
    expect(late).toHaveLength(1);
    const lateAction = late[0] as Extract<Action, { kind: "late" }>;
    expect(lateAction).toMatchObject({ kind: "late", status: "complete", lateBatches: 1 });
    expect(lateAction.publications.map((p) => [p.token, p.lateRevision])).toEqual([
      ["shop_Deployment_web_nginx", 1],
    ]);
    expect(lateAction.publications[0]!.document.syscalls.map((x) => x.name)).toEqual(["getrandom"]);
    // The late data survives a restart until it is published.
    const restored = AggregatorState.restore(structuredClone(state.snapshot()), () => now);
    restored.setRecord(record("s1", { expectedNodes: ["node-a"] }));
    expect(restored.due()).toEqual(late);
    state.confirm(lateAction, new Map([["shop_Deployment_web_nginx", 2]]));
    expect(state.due()).toEqual([]);
    expect(s.finalised?.workloads.find((w) => w.token === "shop_Deployment_web_nginx")?.lateRevision).toBe(2);
  });

  it("ignores a stopped record of a session it never saw, but uses it once that session's messages arrive", () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(record("old", { state: "stopped", expectedNodes: ["node-a"] }));
    expect(state.sessions.has("old")).toBe(false);
    for (const m of recording("old", ["node-a"], 2)) state.apply(m);
    const doc = finalise(state).publications[0]!.document;
    expect(doc.argSyscalls).toEqual(["socket"]);
  });

  it("restores a snapshot taken mid-session and, with the uncovered messages merged again, ends byte-identical", () => {
    const messages = recording("s1", ["node-a", "node-b", "node-c"], 10);
    const reference = finalDocuments(messages, [record("s1")]);
    for (const cut of [0, 7, 19, 33]) {
      const first = new AggregatorState(() => T0);
      first.setRecord(record("s1"));
      for (const m of messages.slice(0, cut)) first.apply(m);
      const snapshot = structuredClone(first.snapshot());
      // The crash loses what came after the snapshot; the consumer redelivers from a little before it.
      const restored = AggregatorState.restore(snapshot, () => T0);
      restored.setRecord(record("s1"));
      for (const m of messages.slice(Math.max(0, cut - 5))) restored.apply(m);
      const action = finalise(restored);
      expect(
        Object.fromEntries(action.publications.map((p) => [p.token, JSON.stringify(p.document)])),
      ).toEqual(reference);
      expect(restored.sessions.get("s1")!.batches).toBe(30);
      expect(restored.sessions.get("s1")!.events).toBe(300);
    }
  });

  it("counts undecodable messages in its snapshot", () => {
    const state = new AggregatorState(() => T0);
    state.noteBadMessage();
    state.noteBadMessage();
    state.noteStreamSeq(12);
    const restored = AggregatorState.restore(structuredClone(state.snapshot()), () => T0);
    expect(restored.badMessages).toBe(2);
    expect(restored.highestStreamSeq).toBe(12);
  });
});

describe("AggregatorState continuous sessions", () => {
  const continuous = (extra: Partial<SessionRecord> = {}) =>
    record("c1", {
      mode: "continuous",
      state: "running",
      continuous: { convergenceWindowSeconds: 60, revisionDebounceMs: 5000 },
      ...extra,
    });

  function batch(seq: number, names: string[], node = "node-a"): SyscallEventBatch {
    return {
      schemaVersion: 1,
      kind: "batch",
      session: "c1",
      node,
      arch: "x86_64",
      seq,
      sentAt: T0 + seq,
      droppedEvents: 0,
      workloads: [
        { workload: web, pod: "web-0", syscalls: names.map((name) => ({ name, count: seq, firstSeen: T0 })) },
      ],
    };
  }

  function publish(state: AggregatorState): Extract<Action, { kind: "publish" }>[] {
    const actions = state
      .due()
      .filter((a): a is Extract<Action, { kind: "publish" }> => a.kind === "publish");
    for (const a of actions) state.confirm(a);
    return actions;
  }

  it("publishes a revision once the debounce window after a change has passed, and only when the set changed", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(continuous());
    state.apply(batch(1, ["read", "write"]));
    now += 1000;
    state.apply(batch(2, ["openat"]));
    expect(publish(state)).toEqual([]);
    now = T0 + 5000;
    const [first] = publish(state);
    expect(first?.step.kind).toBe("revision");
    expect(first?.publication.document.revision).toBe(1);
    expect(first?.publication.document.status).toBe("recording");
    expect(first?.publication.document.syscalls.map((s) => s.name)).toEqual(["openat", "read", "write"]);
    now += 10_000;
    state.apply(batch(3, ["read", "write"]));
    expect(publish(state)).toEqual([]);
    state.apply(batch(4, ["close"]));
    now += 5000;
    const [second] = publish(state);
    expect(second?.publication.document.revision).toBe(2);
  });

  it("announces convergence when nothing changed for the window, and loses it on the next change", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(continuous());
    state.apply(batch(1, ["read"]));
    now += 5000;
    expect(publish(state).map((a) => a.step.kind)).toEqual(["revision"]);
    now = T0 + 59_999;
    expect(publish(state)).toEqual([]);
    now = T0 + 60_000;
    const [converged] = publish(state);
    expect(converged?.step.kind).toBe("converged");
    expect(converged?.publication.document.convergedAt).toBe(new Date(T0 + 60_000).toISOString());
    expect(converged?.publication.document.revision).toBe(1);
    now += 1000;
    expect(publish(state)).toEqual([]);
    state.apply(batch(2, ["write"]));
    expect(state.sessions.get("c1")!.workloads.values().next().value!.track.convergedAt).toBeUndefined();
    now += 5000;
    const [revision] = publish(state);
    expect(revision?.publication.document.revision).toBe(2);
    expect(revision?.publication.document.convergedAt).toBeUndefined();
  });

  it("after a freeze reports each call outside the frozen profile once per node and keeps it out of the profile", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(continuous());
    state.apply(batch(1, ["read", "write"]));
    now += 5000;
    publish(state);
    state.setRecord(
      continuous({ continuous: { convergenceWindowSeconds: 60, frozen: ["shop_Deployment_web_nginx"] } }),
    );
    const [republished] = publish(state);
    expect(republished?.step.kind).toBe("republish");
    expect(republished?.publication.document.frozen).toBe(true);
    expect(republished?.publication.document.revision).toBe(1);

    const drift = state.apply(batch(2, ["read", "ptrace"]));
    expect(drift.drift.map((d) => [d.node, d.syscall, d.pod, d.frozenRevision])).toEqual([
      ["node-a", "ptrace", "web-0", 1],
    ]);
    expect(state.apply(batch(3, ["ptrace"])).drift).toEqual([]);
    expect(state.apply(batch(1, ["ptrace"], "node-b")).drift.map((d) => d.node)).toEqual(["node-b"]);
    const ws = state.sessions.get("c1")!.workloads.values().next().value!;
    expect(ws.track.driftEvents).toBe(2);
    expect(ws.observations.syscalls.has("ptrace")).toBe(false);
    now += 60_000;
    expect(publish(state).map((a) => a.publication.document.syscalls.map((s) => s.name))).toEqual([
      ["read", "write"],
    ]);
  });

  it("treats a new argument tuple of an argument syscall as drift from a frozen profile", () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(continuous({ continuous: { frozen: ["shop_Deployment_web_nginx"] } }));
    const withArgs = (seq: number, family: string): SyscallEventBatch => ({
      ...batch(seq, []),
      workloads: [{ workload: web, syscalls: [{ name: "socket", count: 1, firstSeen: T0, args: [family] }] }],
    });
    // Frozen before anything was seen: everything is outside the (empty) profile.
    expect(state.apply(withArgs(1, "2")).drift.map((d) => d.args)).toEqual([["2"]]);
    expect(state.apply(withArgs(2, "10")).drift.map((d) => d.args)).toEqual([["10"]]);
  });

  const frozenWeb = () =>
    continuous({ continuous: { convergenceWindowSeconds: 60, frozen: ["shop_Deployment_web_nginx"] } });

  /** A continuous session whose web workload recorded read and write, then was frozen at revision 1. */
  function frozenState(clock: () => number): AggregatorState {
    const state = new AggregatorState(clock);
    state.setRecord(continuous());
    state.apply(batch(1, ["read", "write"]));
    return state;
  }

  it("keeps each drifted call with its pod, node, count and last sighting, and writes the drift report", () => {
    let now = T0 + 10_000;
    const state = frozenState(() => now);
    publish(state);
    state.setRecord(frozenWeb());
    publish(state);
    state.apply(batch(2, ["ptrace"]));
    state.apply(batch(3, ["ptrace"]));
    const drift = state.due().filter((a): a is Extract<Action, { kind: "drift" }> => a.kind === "drift");
    expect(drift).toHaveLength(1);
    expect(drift[0]!.report).toMatchObject({
      kind: "DriftReport",
      session: "c1",
      workloadToken: "shop_Deployment_web_nginx",
      frozen: true,
      frozenRevision: 1,
      omitted: 0,
      entries: [
        {
          node: "node-a",
          pod: "web-0",
          syscall: "ptrace",
          count: 3,
          firstSeen: new Date(T0).toISOString(),
          lastSeen: new Date(T0 + 3).toISOString(),
          detectedAt: new Date(now).toISOString(),
        },
      ],
    });
    assertValid("driftReport", drift[0]!.report, "test");
    state.confirm(drift[0]!);
    expect(state.due().filter((a) => a.kind === "drift")).toEqual([]);
    // Drift outlives finalisation: its last state goes with the final profiles, and status keeps it.
    state.apply(batch(4, ["kill"]));
    state.setRecord({ ...frozenWeb(), state: "stopping", expectedNodes: ["node-a"] });
    state.apply({
      schemaVersion: 1,
      kind: "fin",
      session: "c1",
      node: "node-a",
      batches: 4,
      sentAt: T0,
      droppedEvents: 0,
    });
    now += 1;
    const final = state.due().find((a) => a.kind === "finalise") as Extract<Action, { kind: "finalise" }>;
    expect(final.driftReports.map((r) => r.entries.map((e) => e.syscall))).toEqual([["kill", "ptrace"]]);
    expect(final.publications[0]!.document.syscalls.map((s) => s.name)).toEqual(["read", "write"]);
    state.confirm(final);
    expect(state.sessions.get("c1")!.finalised!.workloads[0]).toMatchObject({ frozen: true, drifted: 2 });
  });

  it("takes accepted drift into the frozen profile as the next revision, and refuses what did not drift", () => {
    const now = T0 + 10_000;
    const state = frozenState(() => now);
    publish(state);
    state.setRecord(frozenWeb());
    publish(state);
    state.apply(batch(2, ["ptrace", "kill"]));
    state.apply(batch(1, ["ptrace"], "node-b"));
    expect(() => state.accept("c1", ["shop_Deployment_web_nginx"], ["mount"])).toThrow(
      "mount did not drift in shop/Deployment/web/nginx (drifted: kill, ptrace)",
    );
    expect(() => state.accept("nope", ["shop_Deployment_web_nginx"], ["kill"])).toThrow(
      "the aggregator has no data of session nope",
    );
    expect(state.accept("c1", ["shop_Deployment_web_nginx"], ["ptrace"])).toEqual([
      { workloadToken: "shop_Deployment_web_nginx", syscalls: ["ptrace"], calls: 2, revision: 2 },
    ]);
    const [revision] = publish(state);
    expect(revision?.step.kind).toBe("revision");
    expect(revision?.publication.document.revision).toBe(2);
    expect(revision?.publication.document.frozen).toBe(true);
    expect(revision?.publication.document.syscalls.map((s) => s.name)).toEqual(["ptrace", "read", "write"]);
    const ws = state.sessions.get("c1")!.workloads.values().next().value!;
    expect([...ws.track.drift.values()].map((e) => e.syscall)).toEqual(["kill"]);
    // ptrace is in the frozen profile now; kill still drifts.
    expect(state.apply(batch(3, ["ptrace"])).drift).toEqual([]);
    expect(state.apply(batch(2, ["kill"], "node-b")).drift.map((d) => d.syscall)).toEqual(["kill"]);
  });

  it("takes all drift into the profile when the workload is unfrozen", () => {
    let now = T0 + 10_000;
    const state = frozenState(() => now);
    publish(state);
    state.setRecord(frozenWeb());
    publish(state);
    state.apply(batch(2, ["ptrace"]));
    state.setRecord(continuous());
    now += 5000;
    const [revision] = publish(state);
    expect(revision?.publication.document.syscalls.map((s) => s.name)).toEqual(["ptrace", "read", "write"]);
    expect(revision?.publication.document.frozen).toBeUndefined();
    const report = state.due().find((a) => a.kind === "drift") as Extract<Action, { kind: "drift" }>;
    expect(report.report).toMatchObject({ frozen: false, entries: [] });
  });

  it("bounds the drift kept per workload and counts what it could not keep", () => {
    const state = new AggregatorState(() => T0, { maxTuplesPerNode: 3 });
    state.setRecord(frozenWeb());
    state.apply(batch(1, ["ptrace", "kill", "mount", "umount2", "reboot"]));
    const ws = state.sessions.get("c1")!.workloads.values().next().value!;
    expect(ws.track.drift.size).toBe(3);
    expect(ws.track.driftOmitted).toBe(2);
    expect(state.sessions.get("c1")!.refused.overLimit).toBe(2);
  });

  it("forgets a deleted session, which then refuses its data as unknown", () => {
    const state = frozenState(() => T0);
    expect(state.forget("c1")).toBe(true);
    expect(state.sessions.has("c1")).toBe(false);
    expect(state.apply(batch(2, ["read"])).refused).toBe("unknownSession");
  });
});

describe("AggregatorState integrity: only sessions that exist, only their nodes, bounded", () => {
  const batchOf = (session: string, node: string, seq: number, names: string[], extra = {}) =>
    ({
      schemaVersion: 1,
      kind: "batch",
      session,
      node,
      arch: "x86_64",
      seq,
      sentAt: T0 + seq,
      droppedEvents: 0,
      workloads: [{ workload: web, syscalls: names.map((name) => ({ name, count: 1, firstSeen: T0 })) }],
      ...extra,
    }) as SyscallEventBatch;
  const finOf = (session: string, node: string, batches: number, extra = {}): EventMessage => ({
    schemaVersion: 1,
    kind: "fin",
    session,
    node,
    batches,
    sentAt: T0 + 100,
    droppedEvents: 0,
    ...extra,
  });

  it("refuses data for a session without a record and keeps nothing of it, even in the snapshot", () => {
    const state = new AggregatorState(() => T0);
    expect(state.apply(batchOf("nope", "node-a", 1, ["ptrace"]))).toMatchObject({
      refused: "unknownSession",
    });
    expect(state.apply(finOf("nope", "node-a", 1))).toMatchObject({ refused: "unknownSession" });
    expect(state.sessions.size).toBe(0);
    expect(state.refused.unknownSession).toBe(2);
    expect(state.snapshot().sessions).toEqual([]);
    // The record written later does not resurrect refused data.
    state.setRecord(record("nope", { expectedNodes: ["node-a"] }));
    expect(state.due()).toEqual([]);
  });

  it("holds a node's data until the node set is written, then merges members' and refuses the others'", () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(record("s1", { state: "running", expectedNodes: undefined }));
    expect(state.apply(batchOf("s1", "node-a", 1, ["read"]))).toMatchObject({ held: true });
    expect(state.apply(batchOf("s1", "node-x", 1, ["ptrace"]))).toMatchObject({ held: true });
    expect(state.apply(finOf("s1", "node-x", 1))).toMatchObject({ held: true });
    // Held messages survive a restart: they are acked with the checkpoint that carries them.
    const restored = AggregatorState.restore(structuredClone(state.snapshot()), () => T0);
    restored.setRecord(record("s1", { state: "running", expectedNodes: undefined }));
    expect(restored.sessions.get("s1")!.heldMessages).toBe(3);
    const outcomes = restored.setRecord(record("s1", { state: "running", expectedNodes: ["node-a"] }));
    expect(outcomes.map((o) => o.refused ?? "merged")).toEqual(["merged", "foreignNode", "foreignNode"]);
    const s = restored.sessions.get("s1")!;
    expect([...s.nodes.keys()]).toEqual(["node-a"]);
    expect([...s.foreignNodes]).toEqual(["node-x"]);
    expect(s.heldMessages).toBe(0);
    restored.setRecord(record("s1", { expectedNodes: ["node-a"] }));
    restored.apply(finOf("s1", "node-a", 1));
    const doc = finalise(restored).publications[0]!.document;
    expect(doc.syscalls.map((x) => x.name)).toEqual(["read"]);
  });

  it("bounds what it holds per node before the node set is written", () => {
    const state = new AggregatorState(() => T0, { maxHeldMessagesPerNode: 3 });
    state.setRecord(record("s1", { state: "running", expectedNodes: undefined }));
    const outcomes = [1, 2, 3, 4, 5].map((seq) => state.apply(batchOf("s1", "node-a", seq, ["read"])));
    expect(outcomes.map((o) => o.held === true)).toEqual([true, true, true, false, false]);
    expect(state.sessions.get("s1")!.refused.heldOverflow).toBe(2);
  });

  it("never finalises a session that was not asked to stop, whatever its nodes' FINs say", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(record("s1", { state: "running", expectedNodes: ["node-a"] }));
    state.apply(batchOf("s1", "node-a", 1, ["read"]));
    expect(state.apply(finOf("s1", "node-a", 1))).toMatchObject({ nodeComplete: true });
    now += 3_600_000;
    expect(state.due()).toEqual([]);
    state.setRecord(record("s1", { expectedNodes: ["node-a"] }));
    expect(finalise(state).status).toBe("complete");
  });

  it("refuses data from a node outside the node set and never counts it", () => {
    const state = stateWith("s1", ["node-a"]);
    expect(state.apply(batchOf("s1", "node-b", 1, ["kexec_load"]))).toMatchObject({ refused: "foreignNode" });
    expect(state.apply(finOf("s1", "node-b", 1))).toMatchObject({ refused: "foreignNode" });
    state.apply(batchOf("s1", "node-a", 1, ["read"]));
    state.apply(finOf("s1", "node-a", 1));
    const action = finalise(state);
    expect(action.status).toBe("complete");
    expect(action.publications[0]!.document.syscalls.map((x) => x.name)).toEqual(["read"]);
    expect(state.sessions.get("s1")!.refused.foreignNode).toBe(2);
  });

  it("refuses names that are no syscall of the batch's architecture, and an architecture it has no table for", () => {
    const state = stateWith("s1", ["node-a"]);
    state.apply(batchOf("s1", "node-a", 1, ["read", "not_a_syscall", "fake_0001"]));
    const s = state.sessions.get("s1")!;
    expect(s.refused.unknownSyscall).toBe(2);
    expect(s.nodes.get("node-a")!.refusedEvents).toBe(2);
    expect([...s.workloads.values()][0]!.observations.syscalls.size).toBe(1);
    // Only bogus names: no workload is created at all.
    state.apply({
      ...batchOf("s1", "node-a", 2, ["bogus_a", "bogus_b"]),
      workloads: [{ workload: db, syscalls: [{ name: "bogus_a", count: 1, firstSeen: T0 }] }],
    });
    expect(s.workloads.size).toBe(1);
    expect(() => state.apply(batchOf("s1", "node-a", 3, ["read"], { arch: "vax" }))).toThrow(/vax/);
  });

  it("caps workloads and count entries per node; a capped node makes the result partial", () => {
    const state = new AggregatorState(() => T0, { maxTuplesPerNode: 3, maxWorkloadsPerNode: 1 });
    state.setRecord(record("s1", { expectedNodes: ["node-a"] }));
    state.apply(batchOf("s1", "node-a", 1, ["read", "write", "openat", "close", "mmap"]));
    state.apply({
      ...batchOf("s1", "node-a", 2, []),
      workloads: [{ workload: db, syscalls: [{ name: "read", count: 1, firstSeen: T0 }] }],
    });
    // Updating an existing count entry stays possible at the limit.
    state.apply(batchOf("s1", "node-a", 3, ["read"]));
    state.apply(finOf("s1", "node-a", 3));
    const s = state.sessions.get("s1")!;
    expect(s.tuples).toBe(3);
    expect(s.refused.overLimit).toBe(3);
    expect(s.nodes.get("node-a")!.limited).toBe(true);
    const action = finalise(state);
    expect(action).toMatchObject({ status: "partial", missingNodes: ["node-a"] });
    expect(action.publications).toHaveLength(1);
  });

  it("refuses a FIN announcing far more batches than were sent, so it cannot wedge its node", () => {
    const state = stateWith("s1", ["node-a"]);
    state.apply(batchOf("s1", "node-a", 1, ["read"]));
    expect(state.apply(finOf("s1", "node-a", 1_000_000_000))).toMatchObject({ refused: "implausible" });
    expect(state.apply(batchOf("s1", "node-a", 2_000_000, ["read"]))).toMatchObject({
      refused: "implausible",
    });
    expect(state.apply(finOf("s1", "node-a", 1))).toMatchObject({ nodeComplete: true });
    expect(finalise(state).status).toBe("complete");
  });

  it("makes any gap of a node qualify the result: partial, with the gaps named in the document", () => {
    const state = stateWith("s1", ["node-a", "node-b"]);
    state.apply(batchOf("s1", "node-a", 1, ["read"]));
    state.apply(finOf("s1", "node-a", 1, { gaps: [{ from: T0 + 10, to: T0 + 20 }] }));
    state.apply(batchOf("s1", "node-b", 1, ["write"]));
    state.apply(finOf("s1", "node-b", 1));
    const action = finalise(state);
    expect(action.status).toBe("partial");
    expect(action.missingNodes).toEqual([]);
    const doc = action.publications[0]!.document;
    expect(doc.status).toBe("partial");
    expect(doc.gaps).toEqual([
      { node: "node-a", from: new Date(T0 + 10).toISOString(), to: new Date(T0 + 20).toISOString() },
    ]);
    assertValid("profileDocument", doc, "test");
  });

  it("does not finalise at the deadline before it has merged the stream as it was at start-up", () => {
    let now = T0;
    const state = new AggregatorState(() => now);
    state.setRecord(
      record("s1", { expectedNodes: ["node-a"], stopDeadline: new Date(T0 + 1000).toISOString() }),
    );
    state.catchUpTo(10);
    now = T0 + 5000;
    state.noteStreamSeq(9);
    expect(state.due()).toEqual([]);
    state.noteStreamSeq(10);
    state.apply(batchOf("s1", "node-a", 1, ["read"]));
    state.apply(finOf("s1", "node-a", 1));
    expect(finalise(state).status).toBe("complete");
  });

  it("adds the counts of two replicas of a workload on one node instead of taking the larger", () => {
    const state = stateWith("s1", ["node-a"]);
    state.apply({
      ...batchOf("s1", "node-a", 1, []),
      workloads: ["c1", "c2"].map((containerId, i) => ({
        workload: web,
        containerId,
        syscalls: [{ name: "read", count: 10 + i, firstSeen: T0 }],
      })),
    });
    state.apply(finOf("s1", "node-a", 1));
    expect(finalise(state).publications[0]!.document.syscalls[0]).toMatchObject({ name: "read", count: 21 });
  });
});
