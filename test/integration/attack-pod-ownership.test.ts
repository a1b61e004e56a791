/**
 * Issue 9, finding 6, from the attacker's side: with node-a's *agent* credentials on a real
 * nats-server running the shipped permission model, an attacker adds syscalls to workloads whose
 * pods run only on node-b, to kube-system workloads, and to workloads it names wrongly. The real
 * aggregator process checks every workload entry against its own watch of the cluster's pods (the
 * stand-in Kubernetes API server), so the profiles come out byte-identical to those of the same
 * session without the attack, and the status counts each refusal per node and reason.
 *
 * Both sessions also carry honest data the check must not refuse: a pod that ran on node-a and was
 * deleted during the session before its data arrived, and a pod whose data reaches the aggregator
 * before its pod reaches the aggregator's watch.
 */
import { readFile } from "node:fs/promises";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  AggregatorSessionStatus,
  AggregatorStatus,
  EventMessage,
  SessionRecord,
  SyscallEventBatch,
  WorkloadEvents,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import {
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  batchMessageId,
  eventSubject,
  finMessageId,
  profileKey,
} from "../../lib/subjects.ts";
import { connectAs as connectUser, natsUsers, testPassword } from "../deploy/nats-users.ts";
import type { Component } from "../deploy/nats-users.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  containerIdFor,
  makeNamespace,
  makePod,
  makeReplicaSet,
  startFakeApiServer,
  uidFor,
  type FakeApiServer,
  type FakeObject,
} from "../helpers/fake-apiserver.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { sessionRecord } from "../helpers/session-record.ts";
import { finMarker, syscallBatch } from "../helpers/event-messages.ts";

const NODE_A = "node-a";
const NODE_B = "node-b";
const CLEAN = "own-clean";
const ATTACKED = "own-attack";
/** Long enough for the test to add the fresh pod on a busy machine; the forged coredns entry waits this long. */
const WAIT_MS = 4000;
const T0 = Date.parse("2026-11-27T10:00:00Z");
/** Events of node-a's entries that may wait for the pod watch, lowered so the flood reaches it. */
const MAX_WAIT_EVENTS = 5000;
const MiB = 1024 * 1024;

const WEB: WorkloadKey = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const API: WorkloadKey = { namespace: "shop", kind: "Deployment", name: "api", container: "api" };
const WORKER: WorkloadKey = { namespace: "shop", kind: "Deployment", name: "worker", container: "worker" };
const PROXY: WorkloadKey = {
  namespace: "kube-system",
  kind: "DaemonSet",
  name: "kube-proxy",
  container: "kp",
};
const DNS: WorkloadKey = {
  namespace: "kube-system",
  kind: "Deployment",
  name: "coredns",
  container: "coredns",
};
const EVIL = ["ptrace", "bpf", "init_module", "kexec_load", "keyctl", "mount"];

/** A pod of workload `key` on `node`, with the workload's container. */
function podOf(key: WorkloadKey, name: string, node: string): FakeObject {
  return makePod({
    name,
    namespace: key.namespace,
    node,
    owner: { kind: key.kind, name: key.name },
    containers: [{ name: key.container }],
  });
}

/** Pods of each session: a worker pod deleted during it, an api pod created after its data. */
const workerPod = (session: string) => `worker-${session}`;
const freshApiPod = (session: string) => `api-${session}-fresh`;

let fake: FakeApiServer;
let server: NatsServerHandle;
let aggregator: AggregatorProcess;
let cli: NatsConnection;
let agentA: NatsConnection;
let agentB: NatsConnection;
let sessions: KV;
let profiles: KV;
const connections: NatsConnection[] = [];

async function connectAs(component: Component, node?: string): Promise<NatsConnection> {
  const nc = await connectUser(server.url, component, node);
  connections.push(nc);
  return nc;
}

/** What an agent sends for container `key.container` of pod `pod` (the ids the API server shows). */
function entry(key: WorkloadKey, pod: string, names: string[], podNamespace = key.namespace): WorkloadEvents {
  return {
    workload: key,
    pod,
    podUid: uidFor("Pod", podNamespace, pod),
    containerId: containerIdFor(pod, key.container),
    syscalls: names.map((name, i) => ({ name, count: i + 1, firstSeen: T0 + i })),
  };
}

function batch(session: string, node: string, seq: number, workloads: WorkloadEvents[]): SyscallEventBatch {
  return syscallBatch({ session, node, seq, workloads });
}

function fin(session: string, node: string, batches: number): EventMessage {
  return finMarker({ session, node, batches });
}

async function publish(nc: NatsConnection, messages: EventMessage[]): Promise<void> {
  const js = jetstream(nc);
  for (const m of messages) {
    await js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
      msgID: m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node),
    });
  }
}

function record(id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return sessionRecord(id, { expectedNodes: [NODE_A, NODE_B], ...extra });
}

async function status(session?: string): Promise<AggregatorStatus> {
  const body = session === undefined ? "" : JSON.stringify({ session });
  const reply = await cli.request(AGGREGATOR_STATUS_SUBJECT, body, { timeout: 5000 });
  return assertValid("aggregatorStatus", reply.json(), "status reply");
}

async function sessionStatus(id: string): Promise<AggregatorSessionStatus | undefined> {
  return (await status(id)).sessions.find((s) => s.session === id);
}

async function rssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(text)![1]) * 1024;
}

async function storedText(id: string, workload: WorkloadKey): Promise<string | undefined> {
  const e = await profiles.get(profileKey(id, workloadToken(workload)));
  return e === null || e.operation !== "PUT" ? undefined : e.string();
}

/**
 * One session as the honest agents record it, plus, when `attack` is set, what node-a's
 * credentials add: entries in node-a's own batches and one more batch of its own.
 */
async function runSession(id: string, attack: boolean): Promise<AggregatorSessionStatus> {
  await sessions.create(id, JSON.stringify(record(id)));
  // node-a's worker pod ends during the session, before its data is published.
  fake.remove("Pod", "shop", workerPod(id));
  const forged: WorkloadEvents[] = [
    // api runs only on node-b: its real pod, claimed by node-a.
    entry(API, "api-b", EVIL),
    // kube-system: kube-proxy's real pod (on node-b), and a coredns pod that does not exist.
    entry(PROXY, "kube-proxy-b", EVIL),
    { ...entry(DNS, "coredns-x", EVIL), podUid: "00000000-0000-4000-a000-000000000000" },
    // No pod at all.
    { workload: WEB, syscalls: EVIL.map((name) => ({ name, count: 1, firstSeen: T0 })) },
    // node-a's own pod, named as another workload, and as a container it does not have.
    { ...entry(WEB, "web-a", EVIL), workload: API },
    { ...entry(WEB, "web-a", EVIL), workload: { ...WEB, container: "sidecar" } },
  ];
  const nodeA = [
    batch(id, NODE_A, 1, [
      entry(WEB, "web-a", ["read", "write", "openat"]),
      ...(attack ? forged.slice(0, 3) : []),
    ]),
    batch(id, NODE_A, 2, [entry(WORKER, workerPod(id), ["clock_nanosleep", "read"])]),
    batch(id, NODE_A, 3, [
      entry(WEB, "web-a", ["read", "write", "openat", "close"]),
      ...(attack ? forged.slice(3) : []),
    ]),
  ];
  if (attack) nodeA.push(batch(id, NODE_A, 4, [entry(PROXY, "kube-proxy-b", ["reboot"]), forged[1]!]));
  await publish(agentB, [
    batch(id, NODE_B, 1, [
      entry(WEB, "web-b", ["read", "epoll_wait"]),
      entry(API, "api-b", ["accept4", "recvfrom", "sendto"]),
      entry(PROXY, "kube-proxy-b", ["socket", "setsockopt"]),
    ]),
    // A pod the aggregator's watch learns of only after its data arrived.
    batch(id, NODE_B, 2, [entry(API, freshApiPod(id), ["futex", "sendto"])]),
    fin(id, NODE_B, 2),
  ]);
  await eventually("the fresh pod's entry waiting for the pod watch", async () =>
    (await sessionStatus(id))?.ownershipWaiting === 1 ? true : undefined,
  );
  // By now the aggregator has long seen the worker pod's deletion.
  await publish(agentA, [...nodeA, fin(id, NODE_A, nodeA.length)]);
  fake.add(podOf(API, freshApiPod(id), NODE_B));
  const now = Date.now();
  await sessions.put(
    id,
    JSON.stringify(
      record(id, {
        state: "stopping",
        stopRequestedAt: new Date(now).toISOString(),
        stopDeadline: new Date(now + 30_000).toISOString(),
      }),
    ),
  );
  return eventually(
    `session ${id} finalised`,
    async () => {
      const s = await sessionStatus(id);
      return s !== undefined && s.state !== "recording" ? s : undefined;
    },
    30_000,
  );
}

beforeAll(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeReplicaSet({ deployment: "web", namespace: "shop" }),
      makeReplicaSet({ deployment: "api", namespace: "shop" }),
      makeReplicaSet({ deployment: "worker", namespace: "shop" }),
      makeReplicaSet({ deployment: "coredns", namespace: "kube-system" }),
      podOf(WEB, "web-a", NODE_A),
      podOf(WEB, "web-b", NODE_B),
      podOf(API, "api-b", NODE_B),
      podOf(PROXY, "kube-proxy-b", NODE_B),
      podOf(DNS, "coredns-b", NODE_B),
      ...[CLEAN, ATTACKED].map((id) => podOf(WORKER, workerPod(id), NODE_A)),
    ],
  });
  const users = natsUsers([NODE_A, NODE_B]);
  server = await startNatsServer({ config: `authorization { users: ${JSON.stringify(users)} }` });
  aggregator = await startAggregatorProcess({
    natsUrls: [server.url],
    extraArgs: [
      "--nats-user",
      "aggregator",
      "--checkpoint-interval-ms",
      "100",
      "--pod-ownership",
      "required",
      "--kubeconfig",
      fake.kubeconfigPath,
      "--ownership-wait-ms",
      String(WAIT_MS),
      "--max-ownership-wait-events-per-node",
      String(MAX_WAIT_EVENTS),
    ],
    env: { SECCOMPOSE_NATS_PASS: testPassword("aggregator"), SECCOMPOSE_LOG_LEVEL: "info" },
  });
  cli = await connectAs("cli");
  agentA = await connectAs("agent", NODE_A);
  agentB = await connectAs("agent", NODE_B);
  const kvm = new Kvm(jetstream(cli));
  sessions = await kvm.open(BUCKET_SESSIONS);
  profiles = await kvm.open(BUCKET_PROFILES);
}, 60_000);

afterAll(async () => {
  await aggregator?.stop();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
  await fake?.stop();
});

describe("node-a's agent credentials cannot add syscalls to pods that are not node-a's", () => {
  it("gives profiles byte-identical to the session without the attack, and counts every refusal", async () => {
    const clean = await runSession(CLEAN, false);
    const attacked = await runSession(ATTACKED, true);
    for (const s of [clean, attacked]) {
      expect(s).toMatchObject({ state: "complete", ownershipWaiting: 0, lateBatches: 0 });
      expect(s.missingNodes).toBeUndefined();
    }

    for (const key of [WEB, API, WORKER, PROXY]) {
      const expected = await storedText(CLEAN, key);
      expect(expected, `${key.name} profile of the clean session`).toBeDefined();
      // The documents name their session; apart from that, every byte is the same.
      expect((await storedText(ATTACKED, key))?.replace(`"${ATTACKED}"`, `"${CLEAN}"`), key.name).toBe(
        expected,
      );
    }
    expect(await storedText(ATTACKED, DNS)).toBeUndefined();
    const api = JSON.parse((await storedText(ATTACKED, API))!) as { syscalls: Array<{ name: string }> };
    expect(api.syscalls.map((s) => s.name)).toEqual(["accept4", "futex", "recvfrom", "sendto"]);

    const refusals = {
      noPodUid: 1,
      podUnknown: 1,
      podElsewhere: 4,
      ownerMismatch: 1,
      containerMismatch: 1,
      ownershipWaitOverflow: 0,
    };
    expect(attacked.refused).toMatchObject(refusals);
    const nodeA = attacked.nodes.find((n) => n.name === NODE_A)!;
    const nodeB = attacked.nodes.find((n) => n.name === NODE_B)!;
    expect(nodeA.ownershipRefused).toEqual(refusals);
    expect(Object.values(nodeB.ownershipRefused!).every((n) => n === 0)).toBe(true);
    expect(
      Object.values(clean.nodes.find((n) => n.name === NODE_A)!.ownershipRefused!).every((n) => n === 0),
    ).toBe(true);
    const all = await status();
    expect(all.podOwnershipChecked).toBe(true);
    expect(all.podOwnershipReason).toBeUndefined();
    expect(all.refused).toMatchObject(refusals);

    const logged = aggregator.logs.filter((l) => l.event === "entry.refused");
    expect(logged).toContainEqual(
      expect.objectContaining({
        session: ATTACKED,
        node: NODE_A,
        workload: workloadToken(PROXY),
        reason: "podElsewhere",
        code: "SC_MESSAGE_REFUSED",
      }),
    );
    expect(logged.every((l) => l.session === ATTACKED && l.node === NODE_A)).toBe(true);
  }, 90_000);

  it("a flood of entries naming pods that do not exist leaves memory bounded and the session finishes", async () => {
    const id = "own-flood";
    await sessions.create(id, JSON.stringify(record(id)));
    const baseline = await rssBytes(aggregator.pid);
    const flood: EventMessage[] = [];
    for (let seq = 1; seq <= 200; seq++) {
      flood.push(
        batch(
          id,
          NODE_A,
          seq,
          Array.from({ length: 100 }, (_, i) => ({
            ...entry(WEB, "web-a", EVIL),
            podUid: `00000000-0000-4000-a000-${String(seq * 1000 + i).padStart(12, "0")}`,
          })),
        ),
      );
    }
    await publish(agentA, [...flood, fin(id, NODE_A, flood.length)]);
    await publish(agentB, [batch(id, NODE_B, 1, [entry(WEB, "web-b", ["read"])]), fin(id, NODE_B, 1)]);
    const s = await eventually(
      "the flood merged",
      async () => {
        const st = await sessionStatus(id);
        return st !== undefined && st.batchesMerged === flood.length + 1 ? st : undefined;
      },
      60_000,
    );
    // 20,000 entries: only as many as MAX_WAIT_EVENTS allows wait at a time; the rest are refused at once.
    expect(s.ownershipWaiting).toBeLessThanOrEqual(Math.floor(MAX_WAIT_EVENTS / EVIL.length));
    expect(s.refused!.ownershipWaitOverflow).toBeGreaterThanOrEqual(20_000 - 2 * MAX_WAIT_EVENTS);
    expect(s.refused!.ownershipWaitOverflow + s.refused!.podUnknown + s.ownershipWaiting!).toBe(20_000);
    expect((await rssBytes(aggregator.pid)) - baseline).toBeLessThan(150 * MiB);
    const now = Date.now();
    await sessions.put(
      id,
      JSON.stringify(
        record(id, {
          state: "stopping",
          stopRequestedAt: new Date(now).toISOString(),
          stopDeadline: new Date(now + 30_000).toISOString(),
        }),
      ),
    );
    const done = await eventually(
      `session ${id} finalised`,
      async () => {
        const st = await sessionStatus(id);
        return st !== undefined && st.state !== "recording" ? st : undefined;
      },
      30_000,
    );
    expect(done).toMatchObject({ state: "complete", ownershipWaiting: 0 });
    expect(done.refused!.ownershipWaitOverflow + done.refused!.podUnknown).toBe(20_000);
    const web = JSON.parse((await storedText(id, WEB))!) as { syscalls: Array<{ name: string }> };
    expect(web.syscalls.map((x) => x.name)).toEqual(["read"]);
  }, 120_000);
});
