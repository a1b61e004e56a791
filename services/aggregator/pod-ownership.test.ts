import type { V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  EventMessage,
  SessionRecord,
  SyscallEventBatch,
  WorkloadEvents,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import type { PodChange } from "../../lib/k8s/pod-watch.ts";
import {
  containerIdFor,
  makeNamespace,
  makePod,
  makeReplicaSet,
  startFakeApiServer,
  type FakeApiServer,
  type PodSpecInput,
} from "../../test/helpers/fake-apiserver.ts";
import { decodeSnapshot, encodeSnapshot } from "./checkpoint.ts";
import { ACCEPT, PodHistory, startPodOwnership } from "./pod-ownership.ts";
import { AggregatorState } from "./session-state.ts";
import type { Action } from "./publication-plan.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";

const T0 = Date.parse("2026-11-27T10:00:00Z");
const WEB: WorkloadKey = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const PROXY: WorkloadKey = {
  namespace: "kube-system",
  kind: "DaemonSet",
  name: "kube-proxy",
  container: "kp",
};

const webA = pod({
  name: "web-a",
  namespace: "shop",
  node: "node-a",
  owner: { kind: "Deployment", name: "web" },
});
const webB = pod({
  name: "web-b",
  namespace: "shop",
  node: "node-b",
  owner: { kind: "Deployment", name: "web" },
});
const proxyB = pod({
  name: "kube-proxy-b",
  namespace: "kube-system",
  node: "node-b",
  owner: { kind: "DaemonSet", name: "kube-proxy" },
  containers: [{ name: "kp" }],
});

function pod(spec: PodSpecInput & { containers?: Array<{ name: string; id?: string }> }): V1Pod {
  return makePod({ containers: [{ name: "nginx" }, { name: "sidecar" }], ...spec }) as V1Pod;
}

/** The workload the pod watch resolves for these pods (the owner resolver is tested in lib/k8s). */
function ownerOf(p: V1Pod) {
  const ref = p.metadata!.ownerReferences![0]!;
  return ref.kind === "ReplicaSet" ? { kind: "Deployment", name: "web" } : { kind: ref.kind, name: ref.name };
}

function see(history: PodHistory, type: PodChange, p: V1Pod, now = T0): void {
  history.observe({ type, pod: p, owner: ownerOf(p) }, now);
}

/** The entry an honest agent sends for container `container` of pod `p`. */
function entryFor(
  p: V1Pod,
  workload: WorkloadKey,
  container = workload.container,
  names = ["read"],
): WorkloadEvents {
  return {
    workload,
    pod: p.metadata!.name!,
    podUid: p.metadata!.uid!,
    containerId: containerIdFor(p.metadata!.name!, container),
    syscalls: names.map((name) => ({ name, count: 1, firstSeen: T0 })),
  };
}

function historyOf(...pods: V1Pod[]): PodHistory {
  const history = new PodHistory();
  for (const p of pods) see(history, "added", p);
  return history;
}

describe("PodHistory: whose pod an entry names", () => {
  it("accepts a node's entry about its own pod's workload and container", () => {
    const history = historyOf(webA, webB, proxyB);
    expect(history.verdict("node-a", entryFor(webA, WEB), T0)).toBe(ACCEPT);
    expect(history.verdict("node-a", entryFor(webA, { ...WEB, container: "sidecar" }), T0)).toBe(ACCEPT);
    expect(history.verdict("node-b", entryFor(proxyB, PROXY), T0)).toBe(ACCEPT);
  });

  it("refuses an entry about a pod on another node, also of the same workload", () => {
    const history = historyOf(webA, webB, proxyB);
    expect(history.verdict("node-a", entryFor(webB, WEB), T0)).toEqual({ refuse: "podElsewhere" });
  });

  it("refuses kube-system workloads from a node that runs no such pod, whatever pod it names", () => {
    const history = historyOf(webA, webB, proxyB);
    // kube-proxy's real pod, which runs on node-b.
    expect(history.verdict("node-a", entryFor(proxyB, PROXY), T0)).toEqual({ refuse: "podElsewhere" });
    // node-a's own pod, passed off as kube-proxy.
    expect(history.verdict("node-a", entryFor(webA, PROXY, "nginx"), T0)).toEqual({
      refuse: "ownerMismatch",
    });
    // A pod nobody has seen: waits for the watch, and is refused once the wait is over (below).
    expect(history.verdict("node-a", { ...entryFor(proxyB, PROXY), podUid: "made-up" }, T0)).toEqual({
      wait: "podUnknown",
    });
  });

  it("refuses an entry whose workload or container is not the pod's", () => {
    const history = historyOf(webA);
    for (const workload of [
      { ...WEB, name: "api" },
      { ...WEB, kind: "StatefulSet" },
      { ...WEB, namespace: "default" },
    ]) {
      expect(
        history.verdict("node-a", entryFor(webA, workload, "nginx"), T0),
        JSON.stringify(workload),
      ).toEqual({
        refuse: "ownerMismatch",
      });
    }
    // The sidecar's container id under the nginx container's name.
    expect(history.verdict("node-a", entryFor(webA, WEB, "sidecar"), T0)).toEqual({
      refuse: "containerMismatch",
    });
    // A container the pod does not have, without a container id.
    const { containerId: _, ...noId } = entryFor(webA, { ...WEB, container: "shell" });
    expect(history.verdict("node-a", noId, T0)).toEqual({ refuse: "containerMismatch" });
    expect(history.verdict("node-a", { ...noId, workload: WEB }, T0)).toBe(ACCEPT);
  });

  it("refuses an entry without a pod uid", () => {
    const { podUid: _, ...entry } = entryFor(webA, WEB);
    expect(historyOf(webA).verdict("node-a", entry, T0)).toEqual({ refuse: "noPodUid" });
  });

  it("accepts a pod that ran during the session and was deleted, not one deleted before it began", () => {
    const history = historyOf(webA);
    see(history, "deleted", webA, T0 + 5000);
    expect(history.verdict("node-a", entryFor(webA, WEB), T0)).toBe(ACCEPT);
    expect(history.verdict("node-a", entryFor(webA, WEB), T0 + 4000)).toBe(ACCEPT);
    expect(history.verdict("node-a", entryFor(webA, WEB), T0 + 6000)).toEqual({ refuse: "podUnknown" });
    // No more news will come of a deleted pod: a container id it never had is refused at once.
    expect(history.verdict("node-a", { ...entryFor(webA, WEB), containerId: "f".repeat(64) }, T0)).toEqual({
      refuse: "containerMismatch",
    });
  });

  it("waits for a container id the watch has not seen, and knows the one before a restart", () => {
    const history = historyOf(webA);
    const restarted = structuredClone(webA);
    const status = restarted.status!.containerStatuses!.find((c) => c.name === "nginx")!;
    status.lastState = { terminated: { exitCode: 1, containerID: status.containerID } };
    status.containerID = `containerd://${"a".repeat(64)}`;
    const fresh = { ...entryFor(webA, WEB), containerId: "a".repeat(64) };
    expect(history.verdict("node-a", fresh, T0)).toEqual({ wait: "containerMismatch" });
    // A history that first saw the pod after the restart still knows the earlier container.
    const later = new PodHistory();
    see(later, "added", restarted);
    expect(later.verdict("node-a", fresh, T0)).toBe(ACCEPT);
    expect(later.verdict("node-a", entryFor(webA, WEB), T0)).toBe(ACCEPT);
    see(history, "modified", restarted);
    expect(history.verdict("node-a", fresh, T0)).toBe(ACCEPT);
  });

  it("waits for an unscheduled pod and takes its node once it is bound", () => {
    const pending = pod({ name: "web-c", namespace: "shop", owner: { kind: "Deployment", name: "web" } });
    const history = historyOf(pending);
    const entry = { ...entryFor(pending, WEB), containerId: undefined };
    expect(history.verdict("node-a", entry, T0)).toEqual({ wait: "podElsewhere" });
    see(
      history,
      "modified",
      pod({ name: "web-c", namespace: "shop", node: "node-a", owner: { kind: "Deployment", name: "web" } }),
    );
    expect(history.verdict("node-a", entry, T0)).toBe(ACCEPT);
    expect(history.verdict("node-b", entry, T0)).toEqual({ refuse: "podElsewhere" });
  });

  it("remembers a bounded number of deleted pods, forgetting the oldest first", () => {
    const history = new PodHistory({ maxEndedPods: 3 });
    const pods = Array.from({ length: 5 }, (_, i) =>
      pod({ name: `job-${i}`, namespace: "shop", node: "node-a", owner: { kind: "Job", name: `job-${i}` } }),
    );
    for (const [i, p] of pods.entries()) {
      see(history, "added", p, T0 + i);
      see(history, "deleted", p, T0 + 10 + i);
    }
    expect(history.size).toBe(3);
    expect(history.endedPods).toBe(3);
    const job = (i: number): WorkloadKey => ({
      namespace: "shop",
      kind: "Job",
      name: `job-${i}`,
      container: "nginx",
    });
    expect(history.verdict("node-a", entryFor(pods[0]!, job(0)), T0)).toEqual({ wait: "podUnknown" });
    expect(history.verdict("node-a", entryFor(pods[4]!, job(4)), T0)).toBe(ACCEPT);
  });

  it("does not record live pods beyond its limit", () => {
    const history = new PodHistory({ maxLivePods: 1 });
    expect(history.observe({ type: "added", pod: webA, owner: ownerOf(webA) }, T0)).toBe(true);
    expect(history.observe({ type: "added", pod: webB, owner: ownerOf(webB) }, T0)).toBe(false);
    expect(history.size).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The session state with the check: waiting, finalisation, limits, checkpoints.

const SESSION = "owned";
const WAIT_MS = 1000;

function record(extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id: SESSION,
    mode: "oneshot",
    state: "stopping",
    createdAt: new Date(T0).toISOString(),
    stopDeadline: new Date(T0 + 60_000).toISOString(),
    expectedNodes: ["node-a", "node-b"],
    targets: {},
    profile: {},
    ...extra,
  };
}

function batch(node: string, seq: number, workloads: WorkloadEvents[]): SyscallEventBatch {
  return syscallBatch({ session: SESSION, node, seq, sentAt: T0 + seq, workloads });
}

function fin(node: string, batches: number): EventMessage {
  return finMarker({ session: SESSION, node, batches, sentAt: T0 + 100 });
}

function checkedState(history: PodHistory, clock: { now: number }, limits = {}): AggregatorState {
  const state = new AggregatorState(() => clock.now, { ownershipWaitMs: WAIT_MS, ...limits }, history);
  state.setRecord(record());
  return state;
}

function finalisations(state: AggregatorState): Array<Extract<Action, { kind: "finalise" }>> {
  return state.due().filter((a): a is Extract<Action, { kind: "finalise" }> => a.kind === "finalise");
}

const syscallsOf = (action: Extract<Action, { kind: "finalise" }>, workload: WorkloadKey) =>
  action.publications
    .find((p) => p.workload.name === workload.name && p.workload.container === workload.container)
    ?.document.syscalls.map((s) => s.name);

describe("AggregatorState with the pod ownership check", () => {
  it("merges honest entries and never lets refused ones reach the profile; counts them per node and reason", () => {
    const clock = { now: T0 };
    const state = checkedState(historyOf(webA, webB, proxyB), clock);
    const a = state.apply(
      batch("node-a", 1, [
        entryFor(webA, WEB, "nginx", ["read", "write"]),
        entryFor(webB, WEB, "nginx", ["ptrace"]),
        entryFor(proxyB, PROXY, "kp", ["bpf"]),
        entryFor(webA, { ...WEB, name: "api" }, "nginx", ["mount"]),
      ]),
    );
    expect(a.refused).toBeUndefined();
    expect(a.events).toBe(2);
    expect(a.refusedEntries?.map((r) => r.reason)).toEqual(["podElsewhere", "podElsewhere", "ownerMismatch"]);
    state.apply(
      batch("node-b", 1, [entryFor(webB, WEB, "nginx", ["openat"]), entryFor(proxyB, PROXY, "kp", ["read"])]),
    );
    state.apply(fin("node-a", 1));
    state.apply(fin("node-b", 1));
    const [done] = finalisations(state);
    expect(done).toMatchObject({ status: "complete", missingNodes: [] });
    expect(syscallsOf(done!, WEB)).toEqual(["openat", "read", "write"]);
    expect(syscallsOf(done!, PROXY)).toEqual(["read"]);
    expect(done!.publications.map((p) => p.workload.name).sort()).toEqual(["kube-proxy", "web"]);
    const session = state.sessions.get(SESSION)!;
    expect(session.nodes.get("node-a")!.ownershipRefused).toMatchObject({
      podElsewhere: 2,
      ownerMismatch: 1,
    });
    expect(session.nodes.get("node-a")!.refusedEvents).toBe(3);
    expect(session.nodes.get("node-b")!.ownershipRefused).toMatchObject({
      podElsewhere: 0,
      ownerMismatch: 0,
    });
    expect(session.refused).toMatchObject({ podElsewhere: 2, ownerMismatch: 1 });
    expect(state.refused).toMatchObject({ podElsewhere: 2, ownerMismatch: 1 });
  });

  it("holds an entry for a pod the watch has not seen, merges it when the pod appears, and finalises only then", () => {
    const clock = { now: T0 };
    const history = historyOf(webA);
    const state = checkedState(history, clock);
    const fresh = pod({
      name: "web-new",
      namespace: "shop",
      node: "node-b",
      owner: { kind: "Deployment", name: "web" },
    });
    state.apply(batch("node-a", 1, [entryFor(webA, WEB, "nginx", ["read"])]));
    const held = state.apply(batch("node-b", 1, [entryFor(fresh, WEB, "nginx", ["getrandom"])]));
    expect(held).toMatchObject({ events: 0, fresh: true });
    expect(held.refusedEntries).toBeUndefined();
    state.apply(fin("node-a", 1));
    expect(state.apply(fin("node-b", 1)).nodeComplete).toBe(true);
    // Every node is complete, but an entry waits: no finalisation, also not at the deadline.
    expect(state.sessions.get(SESSION)!.waiting).toHaveLength(1);
    expect(finalisations(state)).toEqual([]);
    clock.now = T0 + WAIT_MS / 2;
    expect(state.recheckWaiting()).toEqual([]);
    see(history, "added", fresh, clock.now);
    const [released] = state.recheckWaiting();
    expect(released).toMatchObject({ node: "node-b", events: 1 });
    expect(state.sessions.get(SESSION)!.nodes.get("node-b")!.events).toBe(1);
    const [done] = finalisations(state);
    expect(done).toMatchObject({ status: "complete" });
    expect(syscallsOf(done!, WEB)).toEqual(["getrandom", "read"]);
  });

  it("refuses a waiting entry once its wait is over, then finalises without it", () => {
    const clock = { now: T0 };
    const state = checkedState(historyOf(webA), clock);
    state.apply(
      batch("node-a", 1, [
        entryFor(webA, WEB, "nginx", ["read"]),
        { ...entryFor(webA, PROXY, "kp", ["kexec_load"]), podUid: "made-up" },
      ]),
    );
    state.apply(fin("node-a", 1));
    state.apply(fin("node-b", 0));
    expect(finalisations(state)).toEqual([]);
    clock.now = T0 + WAIT_MS;
    const [refused] = state.recheckWaiting();
    expect(refused!.refusedEntries).toEqual([
      { reason: "podUnknown", workload: PROXY, pod: "web-a", podUid: "made-up" },
    ]);
    const [done] = finalisations(state);
    expect(done!.publications.map((p) => p.workload.name)).toEqual(["web"]);
    expect(state.sessions.get(SESSION)!.nodes.get("node-a")!.ownershipRefused.podUnknown).toBe(1);
  });

  it("refuses entries beyond the node's wait limit at once, so a flood of unknown pods stays bounded", () => {
    const clock = { now: T0 };
    const state = checkedState(historyOf(webA), clock, { maxOwnershipWaitEventsPerNode: 100 });
    const unknown = (i: number): WorkloadEvents => ({
      workload: { ...WEB, name: `fake-${i}` },
      podUid: `uid-${i}`,
      containerId: "c".repeat(64),
      syscalls: Array.from({ length: 10 }, () => ({ name: "ptrace", count: 1, firstSeen: T0 })),
    });
    for (let seq = 1; seq <= 50; seq++) {
      state.apply(
        batch(
          "node-a",
          seq,
          Array.from({ length: 20 }, (_, i) => unknown(seq * 100 + i)),
        ),
      );
    }
    const session = state.sessions.get(SESSION)!;
    expect(session.waiting).toHaveLength(10);
    expect(session.nodes.get("node-a")!.waitingEvents).toBe(100);
    expect(session.refused.ownershipWaitOverflow).toBe(50 * 20 - 10);
    // node-b is not starved by node-a's flood.
    const fresh = pod({
      name: "web-new",
      namespace: "shop",
      node: "node-b",
      owner: { kind: "Deployment", name: "web" },
    });
    state.apply(batch("node-b", 1, [entryFor(fresh, WEB, "nginx", ["read"])]));
    expect(session.waiting).toHaveLength(11);
    expect(state.snapshot().sessions[0]!.waiting).toHaveLength(11);
  });

  it("decides a redelivered batch once: no second wait, no second count", () => {
    const clock = { now: T0 };
    const state = checkedState(historyOf(webA, webB), clock);
    const b = batch("node-a", 1, [entryFor(webB, WEB), { ...entryFor(webA, WEB), podUid: "later" }]);
    state.apply(b);
    state.apply(b);
    const session = state.sessions.get(SESSION)!;
    expect(session.refused.podElsewhere).toBe(1);
    expect(session.waiting).toHaveLength(1);
  });

  it("keeps waiting entries in its checkpoint, and a restored state releases them", () => {
    const clock = { now: T0 };
    const history = historyOf(webA);
    const state = checkedState(history, clock);
    const fresh = pod({
      name: "web-new",
      namespace: "shop",
      node: "node-a",
      owner: { kind: "Deployment", name: "web" },
    });
    state.apply(batch("node-a", 1, [entryFor(fresh, WEB, "nginx", ["getrandom"])]));
    state.apply(fin("node-a", 1));
    state.apply(fin("node-b", 0));
    const restored = AggregatorState.restore(
      decodeSnapshot(encodeSnapshot(state.snapshot()), "test"),
      () => clock.now,
      { ownershipWaitMs: WAIT_MS },
      history,
    );
    restored.setRecord(record());
    expect(finalisations(restored)).toEqual([]);
    see(history, "added", fresh);
    expect(restored.recheckWaiting()).toHaveLength(1);
    const [done] = finalisations(restored);
    expect(syscallsOf(done!, WEB)).toEqual(["getrandom"]);
  });

  it("counts a restored state's waiting entries against the node's wait limit again", () => {
    const clock = { now: T0 };
    const history = historyOf(webA);
    const limits = { ownershipWaitMs: WAIT_MS, maxOwnershipWaitEventsPerNode: 100 };
    const state = checkedState(history, clock, limits);
    const unknown = (i: number, events: number): WorkloadEvents => ({
      workload: { ...WEB, name: `fake-${i}` },
      podUid: `uid-${i}`,
      containerId: "c".repeat(64),
      syscalls: Array.from({ length: events }, () => ({ name: "ptrace", count: 1, firstSeen: T0 })),
    });
    state.apply(batch("node-a", 1, [unknown(1, 100)]));
    const restored = AggregatorState.restore(
      decodeSnapshot(encodeSnapshot(state.snapshot()), "test"),
      () => clock.now,
      limits,
      history,
    );
    restored.setRecord(record());
    restored.apply(batch("node-a", 2, [unknown(2, 1)]));
    const session = restored.sessions.get(SESSION)!;
    expect(session.nodes.get("node-a")!.waitingEvents).toBe(100);
    expect(session.waiting).toHaveLength(1);
    expect(session.refused.ownershipWaitOverflow).toBe(1);
  });

  it("frees a deleted session's share of the wait budget of all sessions", () => {
    const clock = { now: T0 };
    const history = historyOf(webA);
    // The budget of all sessions (200,000 events) filled by one session's waiting entry.
    const state = checkedState(history, clock, { maxOwnershipWaitEventsPerNode: 250_000 });
    const unknown = (session: string, events: number): SyscallEventBatch =>
      syscallBatch({
        session,
        node: "node-a",
        seq: 1,
        sentAt: T0,
        workloads: [
          {
            workload: WEB,
            podUid: `uid-${session}`,
            containerId: "c".repeat(64),
            syscalls: Array.from({ length: events }, () => ({ name: "ptrace", count: 1, firstSeen: T0 })),
          },
        ],
      });
    state.apply(unknown(SESSION, 200_000));
    expect(state.sessions.get(SESSION)!.waiting).toHaveLength(1);
    state.setRecord(record({ id: "next" }));
    expect(state.apply(unknown("next", 1)).refusedEntries?.map((r) => r.reason)).toEqual([
      "ownershipWaitOverflow",
    ]);
    state.forget(SESSION);
    state.apply({ ...unknown("next", 1), seq: 2 });
    expect(state.sessions.get("next")!.waiting).toHaveLength(1);
  });

  it("checks late data too: a refused entry never reaches a late revision", () => {
    const clock = { now: T0 };
    const state = checkedState(historyOf(webA, webB), clock);
    state.apply(batch("node-a", 1, [entryFor(webA, WEB, "nginx", ["read"])]));
    state.apply(fin("node-a", 1));
    state.apply(fin("node-b", 0));
    state.confirm(finalisations(state)[0]!);
    const late = state.apply(
      batch("node-a", 2, [entryFor(webB, WEB, "nginx", ["ptrace"]), entryFor(webA, WEB, "nginx", ["write"])]),
    );
    expect(late).toMatchObject({ late: true });
    expect(late.refusedEntries?.map((r) => r.reason)).toEqual(["podElsewhere"]);
    clock.now += 2000;
    const action = state.due().find((a) => a.kind === "late");
    expect(action?.kind === "late" && action.publications[0]!.document.syscalls.map((s) => s.name)).toEqual([
      "write",
    ]);
  });

  it("without the check, entries without a pod are merged as before", () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(record({ expectedNodes: ["node-a"] }));
    state.apply(
      batch("node-a", 1, [{ workload: PROXY, syscalls: [{ name: "bpf", count: 1, firstSeen: T0 }] }]),
    );
    state.apply(fin("node-a", 1));
    const [done] = finalisations(state);
    expect(syscallsOf(done!, PROXY)).toEqual(["bpf"]);
  });
});

describe("startPodOwnership: on with a Kubernetes API, off (and why) without one", () => {
  let fake: FakeApiServer;
  const logger = pino({ level: "silent" });
  const start = (config: Parameters<typeof startPodOwnership>[0]["config"], env: NodeJS.ProcessEnv = {}) =>
    startPodOwnership({ config, env, clock: () => T0, logger });

  beforeAll(async () => {
    fake = await startFakeApiServer({
      objects: [
        makeNamespace("shop"),
        makeReplicaSet({ deployment: "web", namespace: "shop" }),
        webA as never,
        webB as never,
      ],
    });
  });
  afterAll(() => fake.stop());

  it("is off when configured off, and in auto mode without a kubeconfig outside a pod", async () => {
    const kubeconfig = fake.kubeconfigPath;
    expect((await start({ podOwnership: "off", kubeconfig })).offReason).toMatch(/off in the configuration/);
    const auto = await start({});
    expect(auto.check).toBeUndefined();
    expect(auto.offReason).toMatch(/no Kubernetes API/);
  });

  it("watches every pod of the cluster, resolving Deployments through their ReplicaSets", async () => {
    const on = await start({ podOwnership: "auto", kubeconfig: fake.kubeconfigPath });
    try {
      expect(on.offReason).toBeUndefined();
      expect(on.check!.size).toBe(2);
      expect(on.check!.verdict("node-a", entryFor(webA, WEB), T0)).toBe(ACCEPT);
      expect(on.check!.verdict("node-a", entryFor(webB, WEB), T0)).toEqual({ refuse: "podElsewhere" });
      let changes = 0;
      on.onChange(() => changes++);
      const fresh = pod({
        name: "web-c",
        namespace: "shop",
        node: "node-a",
        owner: { kind: "Deployment", name: "web" },
      });
      expect(on.check!.verdict("node-a", entryFor(fresh, WEB), T0)).toEqual({ wait: "podUnknown" });
      fake.add(fresh as never);
      await expect.poll(() => on.check!.verdict("node-a", entryFor(fresh, WEB), T0)).toBe(ACCEPT);
      expect(changes).toBeGreaterThan(0);
    } finally {
      await on.stop();
    }
  });

  it("turns off with the reason when the API refuses in auto mode, and refuses to start when required", async () => {
    const denied = await startFakeApiServer({ objects: [] });
    try {
      denied.forbid({ verb: "list", resource: "pods" });
      const auto = await start({ kubeconfig: denied.kubeconfigPath });
      expect(auto.check).toBeUndefined();
      expect(auto.offReason).toMatch(/could not be used: Not allowed to watch pods \(403 Forbidden\)/);
      await expect(
        start({ podOwnership: "required", kubeconfig: denied.kubeconfigPath }),
      ).rejects.toMatchObject({
        code: "SC_K8S_FORBIDDEN",
      });
      await expect(
        start({ podOwnership: "required", kubeconfig: `${denied.kubeconfigPath}.missing` }),
      ).rejects.toMatchObject({ code: "SC_K8S_CONFIG" });
    } finally {
      await denied.stop();
    }
  });
});
