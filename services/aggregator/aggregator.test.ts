import { createHash } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { pack } from "msgpackr";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  AggregatorStatus,
  EventMessage,
  ProfileDocument,
  ProfilePointer,
  SessionRecord,
  SyscallEventBatch,
} from "../../lib/contracts/types.ts";
import { assertValid, isValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import {
  aggregatorDurable,
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  OBJECT_STORE_PROFILES,
  STREAM_EVENTS,
  batchMessageId,
  convergenceSubject,
  driftSubject,
  eventSubject,
  finMessageId,
  profileKey,
} from "../../lib/subjects.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { startAggregator } from "./aggregator.ts";
import type { RunningAggregator } from "./aggregator.ts";
import { AGGREGATOR_FREEZE_SUBJECT } from "./freeze.ts";
import { createMetrics } from "./metrics.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import { profileRevisionKey, statusEventSubject } from "../../lib/subjects.ts";
import { fixtureWorkload, syntheticRecording } from "./recording-fixture.ts";
import { AggregatorState } from "./session-state.ts";
import { eventually } from "../../test/helpers/eventually.ts";

const logger = pino({ level: "silent" });
const NODES = ["node-a", "node-b", "node-c"];

function messageId(m: EventMessage): string {
  return m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node);
}

/** Publishes like an agent: msgpack, message id per batch; `withIds: false` lets the stream keep duplicates. */
async function publishAll(js: JetStreamClient, messages: EventMessage[], withIds = true): Promise<void> {
  for (let i = 0; i < messages.length; i += 64) {
    await Promise.all(
      messages
        .slice(i, i + 64)
        .map((m) =>
          js.publish(
            eventSubject(0, m.session, m.node),
            encodeEventMessage(m),
            withIds ? { msgID: messageId(m) } : {},
          ),
        ),
    );
  }
}

function sessionRecord(id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id,
    mode: "oneshot",
    state: "stopping",
    createdAt: "2026-11-27T10:00:00Z",
    expectedNodes: NODES,
    targets: {},
    profile: { argSyscalls: ["socket"] },
    ...extra,
  };
}

/** What the pure state machine publishes for these messages: the reference for the end-to-end path. */
function expectedDocuments(record: SessionRecord, messages: EventMessage[]): Map<string, string> {
  const state = new AggregatorState(() => 0);
  state.setRecord(record);
  for (const m of messages) state.apply(m);
  const action = state.due().find((a) => a.kind === "finalise");
  if (action?.kind !== "finalise") throw new Error("the reference state did not finalise");
  return new Map(action.publications.map((p) => [p.token, JSON.stringify(p.document)]));
}

function collect<T>(sub: Subscription): T[] {
  const seen: T[] = [];
  void (async () => {
    for await (const m of sub) seen.push(m.json<T>());
  })();
  return seen;
}

describe("aggregator on a real NATS server", () => {
  let server: NatsServerHandle;
  let aggregator: RunningAggregator;
  let metrics: AggregatorMetrics;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let profiles: KV;
  let sessions: KV;

  /** The document stored under `key`, following a ProfilePointer into the Object Store. */
  async function storedDocument(
    key: string,
  ): Promise<{ text: string; pointer?: ProfilePointer } | undefined> {
    const entry = await profiles.get(key);
    if (entry === null || entry.operation !== "PUT") return undefined;
    const value = entry.json<{ kind: string }>();
    if (value.kind !== "ProfilePointer") return { text: entry.string() };
    const pointer = assertValid("profilePointer", value, key);
    const bytes = await (await new Objm(nc).open(pointer.objectStore)).getBlob(pointer.object);
    if (bytes === null) return undefined;
    return { text: new TextDecoder().decode(bytes), pointer };
  }

  async function status(session: string): Promise<AggregatorStatus> {
    const reply = await nc.request(AGGREGATOR_STATUS_SUBJECT, JSON.stringify({ session }), { timeout: 5000 });
    return assertValid("aggregatorStatus", reply.json(), "status reply");
  }

  beforeAll(async () => {
    server = await startNatsServer();
    metrics = createMetrics();
    aggregator = await startAggregator({
      config: { nats: { servers: [server.url] }, checkpointIntervalMs: 200, kvValueMaxBytes: 8192 },
      logger,
      metrics,
      tickMs: 50,
    });
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    profiles = await new Kvm(js).open(BUCKET_PROFILES);
    sessions = await new Kvm(js).open(BUCKET_SESSIONS);
  });

  afterAll(async () => {
    await aggregator?.stop();
    await nc?.close();
    await server?.stop();
  });

  it("merges batches from several nodes into the expected profile per workload and completes the session", async () => {
    const record = sessionRecord("multi");
    await sessions.put("multi", JSON.stringify(record));
    const finalised = collect<unknown>(nc.subscribe(statusEventSubject("multi")));
    const rec = syntheticRecording({
      session: "multi",
      nodes: NODES,
      batchesPerNode: 6,
      workloads: 3,
      eventsPerWorkload: 40,
    });
    const messages = [...rec.batches, ...rec.fins];
    await publishAll(js, messages);

    const expected = expectedDocuments(record, messages);
    expect(expected.size).toBe(3);
    for (const [token, text] of expected) {
      const stored = await eventually(`profile ${token}`, () => storedDocument(profileKey("multi", token)));
      expect(stored.text).toBe(text);
      const doc = JSON.parse(stored.text) as ProfileDocument;
      expect(doc).toMatchObject({
        status: "complete",
        revision: 1,
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      });
      expect(doc.nodes.map((n) => n.name)).toEqual(NODES);
      // These documents exceed the 8 KiB KV value limit: the KV value points into the Object Store.
      expect(stored.pointer).toMatchObject({
        objectStore: OBJECT_STORE_PROFILES,
        object: profileKey("multi", token),
        revision: 1,
      });
      expect(stored.pointer?.sha256).toBe(createHash("sha256").update(stored.text).digest("hex"));
    }
    const stopped = await eventually("session record stopped", async () => {
      const r = (await sessions.get("multi"))?.json<SessionRecord>();
      return r?.state === "stopped" ? r : undefined;
    });
    expect(stopped.expectedNodes).toEqual(NODES);
    const event = await eventually("finalised event", async () => finalised[0]);
    expect(assertValid("sessionFinalisedEvent", event, "event")).toMatchObject({ status: "complete" });

    const s = (await status("multi")).sessions[0]!;
    expect(s).toMatchObject({
      session: "multi",
      state: "complete",
      nodesReporting: 3,
      batchesMerged: 18,
      eventsMerged: rec.events,
      lateBatches: 0,
    });
    expect(s.nodes.map((n) => [n.name, n.mergedBatches, n.finBatches, n.complete])).toEqual(
      NODES.map((n) => [n, "1-6", 6, true]),
    );
  });

  it("publishes byte-identical profiles for a session whose batches arrive duplicated and reordered", async () => {
    const rec = syntheticRecording({
      session: "clean",
      nodes: NODES,
      batchesPerNode: 5,
      workloads: 2,
      eventsPerWorkload: 10,
      seed: 3,
    });
    const noisy = [...rec.batches, ...rec.fins].map((m) => ({ ...m, session: "noisy" }) as EventMessage);
    await sessions.put("clean", JSON.stringify(sessionRecord("clean")));
    await sessions.put("noisy", JSON.stringify(sessionRecord("noisy")));
    await publishAll(js, [...rec.batches, ...rec.fins]);
    // Reversed, with every batch published twice without a message id, so the stream keeps both copies.
    const batches = noisy.filter((m) => m.kind === "batch").reverse();
    await publishAll(
      js,
      [...batches.slice(0, 7), ...batches, ...noisy.filter((m) => m.kind === "fin"), ...batches.slice(7)],
      false,
    );

    for (const w of [0, 1]) {
      const token = workloadToken(fixtureWorkload(w));
      const clean = await eventually("clean profile", () => storedDocument(profileKey("clean", token)));
      const reordered = await eventually("noisy profile", () => storedDocument(profileKey("noisy", token)));
      expect(reordered.text).toBe(clean.text.replace('"session":"clean"', '"session":"noisy"'));
    }
    const s = (await status("noisy")).sessions[0]!;
    expect(s.batchesMerged).toBe(15);
    expect(s.eventsMerged).toBe(rec.events);
  });

  it("terminates, counts and logs malformed messages without holding back the others", async () => {
    const badBefore = (await status("none")).badBatches;
    const metricBefore = (await metrics.badBatches.get()).values[0]?.value ?? 0;
    const rec = syntheticRecording({
      session: "bad",
      nodes: ["node-a"],
      batchesPerNode: 3,
      workloads: 1,
      eventsPerWorkload: 5,
    });
    const record = sessionRecord("bad", { expectedNodes: ["node-a"] });
    await sessions.put("bad", JSON.stringify(record));
    const subject = eventSubject(0, "bad", "node-a");
    await js.publish(subject, new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
    const invalid = structuredClone(rec.batches[0]!) as SyscallEventBatch;
    invalid.workloads[0]!.syscalls[0]!.count = -1;
    await js.publish(subject, pack({ ...invalid, seq: 99 }));
    // A valid batch on another node's subject: a node may only speak for itself.
    await js.publish(eventSubject(0, "bad", "node-b"), encodeEventMessage({ ...rec.batches[0]!, seq: 98 }));
    await publishAll(js, [...rec.batches, ...rec.fins]);

    const token = workloadToken(fixtureWorkload(0));
    const stored = await eventually("profile despite bad messages", () =>
      storedDocument(profileKey("bad", token)),
    );
    expect(stored.text).toBe(expectedDocuments(record, [...rec.batches, ...rec.fins]).get(token));
    const after = await eventually("bad messages counted", async () => {
      const st = await status("bad");
      return st.badBatches - badBefore === 3 && st.consumer?.numAckPending === 0 ? st : undefined;
    });
    expect(after.sessions[0]).toMatchObject({ state: "complete", batchesMerged: 3 });
    expect(((await metrics.badBatches.get()).values[0]?.value ?? 0) - metricBefore).toBe(3);
    // Settled (terminated or acked) after the next checkpoint: nothing is left to redeliver.
    const info = await (await jetstreamManager(nc)).consumers.info(STREAM_EVENTS, aggregatorDurable(0));
    expect(info.num_ack_pending).toBe(0);
  });

  it("publishes revisions of a continuous session, signals convergence, and reports drift after a freeze", async () => {
    const session = "cont";
    const workload = fixtureWorkload(7);
    const token = workloadToken(workload);
    const record = sessionRecord(session, {
      mode: "continuous",
      state: "running",
      continuous: { convergenceWindowSeconds: 1, revisionDebounceMs: 0 },
    });
    await sessions.put(session, JSON.stringify(record));
    const convergence = collect<unknown>(nc.subscribe(convergenceSubject(session, token)));
    const drift = collect<unknown>(nc.subscribe(driftSubject(session, token)));
    const batch = (seq: number, names: string[]): SyscallEventBatch => ({
      schemaVersion: 1,
      kind: "batch",
      session,
      node: "node-a",
      arch: "aarch64",
      seq,
      sentAt: 1_764_000_000_000 + seq,
      droppedEvents: 0,
      workloads: [
        {
          workload,
          pod: "app-7-abc",
          syscalls: names.map((name) => ({ name, count: seq, firstSeen: 1_764_000_000_000 })),
        },
      ],
    });
    const revision = async (n: number) =>
      eventually(`revision ${n}`, async () => {
        const doc = (await storedDocument(profileKey(session, token)))?.text;
        const parsed = doc === undefined ? undefined : (JSON.parse(doc) as ProfileDocument);
        return parsed?.revision === n ? parsed : undefined;
      });

    await publishAll(js, [batch(1, ["read", "write"])]);
    expect((await revision(1)).syscalls.map((s) => s.name)).toEqual(["read", "write"]);
    await publishAll(js, [batch(2, ["read", "openat"])]);
    const second = await revision(2);
    expect(second.syscalls.map((s) => s.name)).toEqual(["openat", "read", "write"]);
    expect(second.status).toBe("recording");
    const first = JSON.parse(
      (await storedDocument(profileRevisionKey(session, token, 1)))!.text,
    ) as ProfileDocument;
    expect(first.syscalls.map((s) => s.name)).toEqual(["read", "write"]);

    const converged = assertValid(
      "convergenceEvent",
      await eventually("convergence", async () => convergence[0]),
      "event",
    );
    expect(converged).toMatchObject({
      session,
      workloadToken: token,
      revision: 2,
      windowSeconds: 1,
      syscalls: 3,
    });
    const convergedDoc = await revision(2);
    expect(convergedDoc.convergedAt).toBe(converged.convergedAt);
    expect((await status(session)).sessions[0]!.workloads[0]).toMatchObject({ converged: true, revision: 2 });

    // A freeze request edits the session record; the aggregator follows the record.
    const reply = await nc.request(
      AGGREGATOR_FREEZE_SUBJECT,
      JSON.stringify({ session, workloadTokens: [token] }),
      {
        timeout: 5000,
      },
    );
    expect(reply.json()).toEqual({ session, frozen: [token] });
    expect((await sessions.get(session))?.json<SessionRecord>().continuous?.frozen).toEqual([token]);
    await eventually("frozen profile", async () => ((await revision(2)).frozen === true ? true : undefined));
    const driftBefore = (await metrics.driftEvents.get()).values[0]?.value ?? 0;
    await publishAll(js, [batch(3, ["read", "ptrace"])]);
    const event = assertValid("driftEvent", await eventually("drift event", async () => drift[0]), "event");
    expect(event).toMatchObject({
      session,
      node: "node-a",
      pod: "app-7-abc",
      syscall: "ptrace",
      frozenRevision: 2,
    });
    expect(((await metrics.driftEvents.get()).values[0]?.value ?? 0) - driftBefore).toBe(1);
    const w = (await status(session)).sessions[0]!.workloads[0]!;
    expect(w).toMatchObject({ frozen: true, driftEvents: 1, revision: 2 });
    expect((await revision(2)).syscalls.map((s) => s.name)).toEqual(["openat", "read", "write"]);
    expect(isValid("aggregatorStatus", await status(session))).toBe(true);
  });
});
