/**
 * Issue 9, aggregator side, from the attacker's side: each attack runs with node-a's *agent*
 * credentials (its node-held NKey seed) against a real nats-server configured with the shipped permission model
 * (deploy/nats-permissions.json), while the real aggregator process and the CLI use theirs. Each
 * test asserts that the session, the stored profile and the aggregator's memory are unaffected.
 * An `admin` user exists only to inject faults (a lost checkpoint, a lost message).
 */
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  AggregatorSessionStatus,
  AggregatorStatus,
  EventMessage,
  ProfileDocument,
  SessionRecord,
  SyscallEventBatch,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import {
  aggregatorDurable,
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  SESSION_CHANGES_PREFIX,
  STREAM_EVENTS,
  batchMessageId,
  eventSubject,
  finMessageId,
  profileKey,
} from "../../lib/subjects.ts";
import { natsUsers } from "../deploy/nats-users.ts";
import { connectAs as connectUser, testPassword } from "../deploy/nats-users.ts";
import type { Component } from "../deploy/nats-users.ts";
import { checkpointHeadKey } from "../../services/aggregator/checkpoint.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { sessionRecord } from "../helpers/session-record.ts";
import { finMarker, syscallBatch } from "../helpers/event-messages.ts";

const NODE_A = "node-a";
const NODE_B = "node-b";
const password = testPassword;
const ADMIN = { user: "admin", password: "attack-test-admin" };
const WEB: WorkloadKey = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const SYSTEM: WorkloadKey = {
  namespace: "kube-system",
  kind: "DaemonSet",
  name: "kube-proxy",
  container: "kp",
};
const EVIL = ["ptrace", "bpf", "init_module", "kexec_load", "keyctl", "mount"];
const HONEST = ["read", "write", "openat", "close", "fstat", "mmap", "futex", "epoll_wait"];
/** Tuples one node may add, lowered so the tuple flood hits the limit within seconds. */
const MAX_TUPLES_PER_NODE = 5000;
const MiB = 1024 * 1024;

let server: NatsServerHandle;
let aggregator: AggregatorProcess;
let cli: NatsConnection;
let agentA: NatsConnection;
let agentB: NatsConnection;
let admin: NatsConnection;
let sessions: KV;
let profiles: KV;
const connections: NatsConnection[] = [];

async function connectAs(component: Component, node?: string): Promise<NatsConnection> {
  const nc = await connectUser(server.url, component, node);
  connections.push(nc);
  return nc;
}

async function startAggregator(): Promise<AggregatorProcess> {
  aggregator = await startAggregatorProcess({
    natsUrls: [server.url],
    extraArgs: [
      "--nats-user",
      "aggregator",
      "--checkpoint-interval-ms",
      "100",
      "--max-tuples-per-node",
      String(MAX_TUPLES_PER_NODE),
    ],
    env: { SECCOMPOSE_NATS_PASS: password("aggregator"), SECCOMPOSE_LOG_LEVEL: "info" },
  });
  return aggregator;
}

/**
 * Publishes like an agent of `m.node` would: its own connection, subject and message ids (`idSuffix`
 * makes a second FIN of a node a new message for the stream's de-duplication).
 */
async function publish(nc: NatsConnection, messages: EventMessage[], idSuffix = ""): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < messages.length; i += 32) {
    await Promise.all(
      messages.slice(i, i + 32).map((m) =>
        js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
          msgID:
            (m.kind === "batch"
              ? batchMessageId(m.session, m.node, m.seq)
              : finMessageId(m.session, m.node)) + idSuffix,
        }),
      ),
    );
  }
}

function batch(
  session: string,
  node: string,
  seq: number,
  names: string[],
  workload: WorkloadKey = WEB,
): SyscallEventBatch {
  const syscalls = names.map((name) => ({ name, count: seq, firstSeen: Date.now() - 1000 }));
  return syscallBatch({ session, node, seq, workloads: [{ workload, syscalls }] });
}

function fin(session: string, node: string, batches: number): EventMessage {
  return finMarker({ session, node, batches });
}

/** What an honest agent on node-b sends: three batches of the web workload's calls, then its FIN. */
function honest(session: string, node = NODE_B): EventMessage[] {
  return [
    batch(session, node, 1, HONEST.slice(0, 3)),
    batch(session, node, 2, HONEST.slice(0, 6)),
    batch(session, node, 3, HONEST),
    fin(session, node, 3),
  ];
}

function record(id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return sessionRecord(id, { targets: { namespaces: ["shop"] }, ...extra });
}

/** The CLI's writes: the record as `start` creates it, its node set, then `stop`'s deadline. */
async function createSession(id: string): Promise<void> {
  await sessions.create(id, JSON.stringify(record(id)));
}
async function setNodes(id: string, nodes: string[]): Promise<void> {
  await sessions.put(id, JSON.stringify(record(id, { expectedNodes: nodes })));
}
async function stopSession(id: string, nodes: string[], deadlineMs: number): Promise<void> {
  const now = Date.now();
  await sessions.put(
    id,
    JSON.stringify(
      record(id, {
        expectedNodes: nodes,
        state: "stopping",
        stopRequestedAt: new Date(now).toISOString(),
        stopDeadline: new Date(now + deadlineMs).toISOString(),
      }),
    ),
  );
}

async function status(session?: string): Promise<AggregatorStatus> {
  const body = session === undefined ? "" : JSON.stringify({ session });
  const reply = await cli.request(AGGREGATOR_STATUS_SUBJECT, body, { timeout: 5000 });
  return assertValid("aggregatorStatus", reply.json(), "status reply");
}

async function sessionStatus(id: string): Promise<AggregatorSessionStatus | undefined> {
  return (await status(id)).sessions.find((s) => s.session === id);
}

async function finalised(id: string, timeoutMs = 20_000): Promise<AggregatorSessionStatus> {
  return eventually(
    `session ${id} finalised`,
    async () => {
      const s = await sessionStatus(id);
      return s !== undefined && s.state !== "recording" ? s : undefined;
    },
    timeoutMs,
  );
}

async function storedText(id: string, workload: WorkloadKey = WEB): Promise<string | undefined> {
  const entry = await profiles.get(profileKey(id, workloadToken(workload)));
  return entry === null || entry.operation !== "PUT" ? undefined : entry.string();
}

async function storedDocument(id: string, workload: WorkloadKey = WEB): Promise<ProfileDocument> {
  const text = await storedText(id, workload);
  if (text === undefined) throw new Error(`no profile for ${id}`);
  return assertValid("profileDocument", JSON.parse(text), "stored profile");
}

const names = (doc: ProfileDocument) => doc.syscalls.map((s) => s.name).sort();

async function rssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(text)![1]) * 1024;
}

beforeAll(async () => {
  const users = [...natsUsers([NODE_A, NODE_B]), ADMIN];
  server = await startNatsServer({ config: `authorization { users: ${JSON.stringify(users)} }` });
  await startAggregator();
  cli = await connectAs("cli");
  agentA = await connectAs("agent", NODE_A);
  agentB = await connectAs("agent", NODE_B);
  admin = await connect({ servers: server.url, user: ADMIN.user, pass: ADMIN.password });
  connections.push(admin);
  const kvm = new Kvm(jetstream(cli));
  sessions = await kvm.open(BUCKET_SESSIONS);
  profiles = await kvm.open(BUCKET_PROFILES);
}, 60_000);

afterAll(async () => {
  await aggregator?.stop();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe("attacks on the aggregator with node-a's agent credentials", () => {
  it("squatting before expectedNodes is written: node-a's data and FIN neither finish the session nor reach the profile", async () => {
    const id = "squat";
    // The attacker learns of the new session the fastest way its credentials allow (the bucket's
    // republish on sc.sessions.<id>; agents may create no consumer) and strikes at once.
    const announced = agentA.subscribe(`${SESSION_CHANGES_PREFIX}.${id}`, { max: 1 });
    await agentA.flush();
    await createSession(id);
    for await (const _ of announced) break;
    await publish(agentA, [batch(id, NODE_A, 1, EVIL), fin(id, NODE_A, 1)]);
    await eventually("the attacker's messages held", async () =>
      (await sessionStatus(id))?.heldMessages === 2 ? true : undefined,
    );
    // node-a did not acknowledge the start (another engineer makes acks unforgeable): node-b did.
    await setNodes(id, [NODE_B]);
    await publish(agentB, honest(id));
    await eventually("node-b's batches merged", async () =>
      (await sessionStatus(id))?.nodes.find((n) => n.name === NODE_B)?.complete ? true : undefined,
    );
    // Every FIN is in, but nobody asked the session to stop: it keeps recording.
    await new Promise((r) => setTimeout(r, 600));
    expect((await sessionStatus(id))?.state).toBe("recording");
    await stopSession(id, [NODE_B], 30_000);
    const s = await finalised(id);
    expect(s).toMatchObject({ state: "complete", lateBatches: 0, foreignNodes: [NODE_A], heldMessages: 0 });
    expect(s.refused?.foreignNode).toBe(2);
    expect(s.nodes.map((n) => n.name)).toEqual([NODE_B]);
    const doc = await storedDocument(id);
    expect(doc.status).toBe("complete");
    expect(names(doc)).toEqual([...HONEST].sort());
    expect(doc.nodes.map((n) => n.name)).toEqual([NODE_B]);
  });

  it("squatting as a member of the node set: an early FIN does not finalise, and the real batches are not discarded as late", async () => {
    const id = "squat-member";
    await createSession(id);
    await publish(agentA, [batch(id, NODE_A, 1, EVIL, SYSTEM), fin(id, NODE_A, 1)]);
    await setNodes(id, [NODE_A, NODE_B]);
    await new Promise((r) => setTimeout(r, 600));
    expect((await sessionStatus(id))?.state).toBe("recording");
    await publish(agentB, honest(id));
    await stopSession(id, [NODE_A, NODE_B], 30_000);
    const s = await finalised(id);
    expect(s).toMatchObject({ state: "complete", lateBatches: 0, batchesMerged: 4 });
    expect(names(await storedDocument(id))).toEqual([...HONEST].sort());
    // What a member node says about its own workloads is not checked against pods outside
    // Kubernetes (attack-pod-ownership.test.ts is the attack inside): the status says so, and why,
    // and shows what each node reported.
    const all = await status(id);
    expect(all.podOwnershipChecked).toBe(false);
    expect(all.podOwnershipReason).toMatch(/no Kubernetes API/);
    expect(all.sessions[0]!.nodes.map((n) => [n.name, n.workloads])).toEqual([
      [NODE_A, 1],
      [NODE_B, 1],
    ]);
  });

  it("data for a session that does not exist yet is refused, so the session cannot be pre-finalised", async () => {
    const id = "future";
    const before = (await status()).refused!.unknownSession;
    await publish(agentA, [batch(id, NODE_A, 1, EVIL), batch(id, NODE_A, 2, EVIL), fin(id, NODE_A, 2)]);
    await eventually("refusals counted", async () =>
      (await status()).refused!.unknownSession >= before + 3 ? true : undefined,
    );
    expect(await sessionStatus(id)).toBeUndefined();
    await createSession(id);
    await setNodes(id, [NODE_A, NODE_B]);
    await publish(agentB, honest(id));
    await new Promise((r) => setTimeout(r, 600));
    expect((await sessionStatus(id))?.state).toBe("recording");
    await stopSession(id, [NODE_A, NODE_B], 2000);
    // node-a's early FIN did not count: at the deadline it is the one missing.
    const s = await finalised(id);
    expect(s).toMatchObject({ state: "partial", missingNodes: [NODE_A], lateBatches: 0 });
    const doc = await storedDocument(id);
    expect(names(doc)).toEqual([...HONEST].sort());
    expect(doc.nodes.map((n) => n.name)).toEqual([NODE_B]);
  });

  it("a flood of 50k fake syscall names and 50k distinct argument tuples leaves state and memory bounded", async () => {
    const id = "flood";
    await createSession(id);
    await setNodes(id, [NODE_A, NODE_B]);
    const baseline = await rssBytes(aggregator.pid);
    const fake = (i: number) => `fake_${i.toString(36)}`;
    const flood: EventMessage[] = [];
    let seq = 0;
    for (let i = 0; i < 50_000; i += 4000) {
      const chunk = Array.from({ length: Math.min(4000, 50_000 - i) }, (_, k) => fake(i + k));
      // The same names under a session that was never started, and under this one.
      flood.push({ ...batch("never-started", NODE_A, ++seq, chunk) });
      flood.push(batch(id, NODE_A, seq, chunk));
    }
    // Distinct argument tuples of a real syscall: only the tuple limit stops these.
    for (let i = 0; i < 50_000; i += 4000) {
      const b = batch(id, NODE_A, ++seq, []);
      b.workloads[0]!.syscalls = Array.from({ length: Math.min(4000, 50_000 - i) }, (_, k) => ({
        name: "socket",
        count: 1,
        firstSeen: Date.now(),
        args: [String(i + k)],
      }));
      flood.push(b);
    }
    await publish(agentA, flood);
    await publish(agentB, honest(id));
    const s = await eventually(
      "the flood merged",
      async () => {
        const st = await sessionStatus(id);
        return st !== undefined && st.batchesMerged >= seq + 3 ? st : undefined;
      },
      60_000,
    );
    const nodeA = s.nodes.find((n) => n.name === NODE_A)!;
    expect(s.refused?.unknownSyscall).toBe(50_000);
    expect(nodeA.limited).toBe(true);
    expect(nodeA.tuples).toBeLessThanOrEqual(MAX_TUPLES_PER_NODE);
    expect(s.tuples).toBeLessThanOrEqual(MAX_TUPLES_PER_NODE + HONEST.length);
    expect(s.refused?.overLimit).toBeGreaterThanOrEqual(50_000 - MAX_TUPLES_PER_NODE);
    expect((await status()).refused!.unknownSession).toBeGreaterThanOrEqual(13);
    // The checkpoint holds the bounded state only (5000 tuples: well under a few MiB).
    const head = await (
      await new Kvm(jetstream(admin)).open(BUCKET_AGGREGATOR_STATE)
    ).get(checkpointHeadKey(0));
    const bytes = head === null ? 0 : (head.json<{ bytes: number }>().bytes ?? 0);
    expect(bytes).toBeLessThan(4 * MiB);
    const rss = await rssBytes(aggregator.pid);
    expect(rss - baseline).toBeLessThan(150 * MiB);
    expect(rss).toBeLessThan(300 * MiB);
    await publish(agentA, [fin(id, NODE_A, seq)]);
    await stopSession(id, [NODE_A, NODE_B], 30_000);
    // node-a's cut-off data makes the result partial, naming node-a; node-b's data is whole.
    const done = await finalised(id);
    expect(done).toMatchObject({ state: "partial", missingNodes: [NODE_A] });
    for (const n of HONEST) expect(names(await storedDocument(id))).toContain(n);
  }, 120_000);

  it("a FIN claiming 10^9 batches is refused and does not wedge its node", async () => {
    const id = "fin-billion";
    await createSession(id);
    await setNodes(id, [NODE_A, NODE_B]);
    await publish(agentA, [batch(id, NODE_A, 1, ["read"]), fin(id, NODE_A, 1_000_000_000)]);
    await publish(agentB, honest(id));
    await eventually("the FIN refused", async () =>
      (await sessionStatus(id))?.refused?.implausible === 1 ? true : undefined,
    );
    expect((await sessionStatus(id))?.nodes.find((n) => n.name === NODE_A)?.finBatches).toBeUndefined();
    // The node's true FIN still completes it.
    await publish(agentA, [fin(id, NODE_A, 1)], ":again");
    await stopSession(id, [NODE_A, NODE_B], 30_000);
    expect(await finalised(id)).toMatchObject({ state: "complete" });
  });
});

describe("restarts never lose data and never downgrade a finished result", () => {
  it("data after finalisation becomes a new revision; the final profile is untouched", async () => {
    const id = "squat";
    const final = await storedText(id);
    await publish(agentB, [batch(id, NODE_B, 4, [...HONEST, "getrandom"])]);
    // node-a is outside this session: its late data is refused like its early data.
    await publish(agentA, [batch(id, NODE_A, 7, EVIL)]);
    const s = await eventually("a late revision", async () => {
      const st = await sessionStatus(id);
      return st?.workloads[0]?.lateRevisionKey !== undefined ? st : undefined;
    });
    expect(s).toMatchObject({ state: "complete", lateBatches: 1 });
    expect(s.refused?.foreignNode).toBe(3);
    expect(await storedText(id)).toBe(final);
    const entry = await profiles.get(s.workloads[0]!.lateRevisionKey!);
    const late = assertValid("profileDocument", entry!.json(), "late revision");
    expect(late).toMatchObject({ revision: 2, status: "complete", lateBatches: 1 });
    expect(names(late)).toEqual([...HONEST, "getrandom"].sort());
  });

  it("an aggregator restarted after the stop deadline merges what the stream holds before it decides", async () => {
    const id = "late-restart";
    await aggregator.stop();
    await sessions.put(id, JSON.stringify(record(id, { expectedNodes: [NODE_A, NODE_B] })));
    await publish(agentA, honest(id, NODE_A));
    await publish(agentB, honest(id));
    await stopSession(id, [NODE_A, NODE_B], 200);
    await new Promise((r) => setTimeout(r, 500));
    await startAggregator();
    const s = await finalised(id);
    expect(s).toMatchObject({ state: "complete", batchesMerged: 6, lateBatches: 0 });
    expect(s.missingNodes).toBeUndefined();
    expect((await storedDocument(id)).status).toBe("complete");
  }, 60_000);

  it("a rebuild after a lost checkpoint, from a stream that lost a FIN, keeps the stored complete result", async () => {
    const id = "late-restart";
    const before = await storedText(id);
    expect(JSON.parse(before!).status).toBe("complete");
    await aggregator.stop();
    const jsm = await jetstreamManager(admin);
    // The checkpoint is lost, and so is node-b's FIN (the last message on its subject).
    await jsm.streams.delete(`KV_${BUCKET_AGGREGATOR_STATE}`);
    const last = await jsm.streams.getMessage(STREAM_EVENTS, { last_by_subj: eventSubject(0, id, NODE_B) });
    await jsm.streams.deleteMessage(STREAM_EVENTS, last!.seq);
    await jsm.consumers.delete(STREAM_EVENTS, aggregatorDurable(0));
    await startAggregator();
    const s = await finalised(id);
    // The rebuilt state can only call it partial; the stored result stays as it was.
    expect(s).toMatchObject({ state: "partial", missingNodes: [NODE_B] });
    expect(await storedText(id)).toBe(before);
    expect(aggregator.logs.some((l) => l.event === "profile.final-kept")).toBe(true);
  }, 60_000);
});
