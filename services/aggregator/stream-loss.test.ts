import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  AggregatorConfig,
  AggregatorStatus,
  EventMessage,
  ProfileDocument,
  SessionRecord,
} from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import {
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  STREAM_EVENTS,
  batchMessageId,
  eventSubject,
  finMessageId,
} from "../../lib/subjects.ts";
import { eventually } from "../../test/helpers/eventually.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { startAggregator } from "./aggregator.ts";
import type { RunningAggregator } from "./aggregator.ts";
import { createMetrics } from "./metrics.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import { recordingBatches, recordingFins } from "./recording-fixture.ts";
import { StreamLossWatch, streamLoss } from "./stream-loss.ts";
import { AggregatorState } from "./session-state.ts";

const logger = pino({ level: "silent" });
const NODES = ["node-a", "node-b"];

describe("StreamLossWatch", () => {
  it("finds a sequence skipped between deliveries when the consumer takes the whole stream", () => {
    const w = new StreamLossWatch(10, true);
    expect(w.delivered(11)).toBeUndefined();
    expect(w.delivered(14)).toEqual({ firstSeq: 12, lastSeq: 13 });
    expect(w.delivered(15)).toBeUndefined();
  });

  it("takes skipped sequences for other partitions' when the consumer takes part of the stream", () => {
    const w = new StreamLossWatch(10, false);
    expect(w.delivered(20)).toBeUndefined();
  });

  it("finds a stream that starts beyond what was seen, once, and never while deliveries are in flight", () => {
    const w = new StreamLossWatch(10, true);
    expect(w.look({ firstSeq: 30, lastSeq: 40, pending: 5, inFlight: true })).toBeUndefined();
    expect(w.look({ firstSeq: 30, lastSeq: 40, pending: 5, inFlight: false })).toEqual({
      firstSeq: 11,
      lastSeq: 29,
    });
    expect(w.look({ firstSeq: 30, lastSeq: 40, pending: 5, inFlight: false })).toBeUndefined();
    // The next delivery, 30, follows what was reported: no second report.
    expect(w.delivered(30)).toBeUndefined();
  });

  it("does not take other partitions' aged-out messages for its own while it has nothing pending", () => {
    const w = new StreamLossWatch(10, false);
    expect(w.look({ firstSeq: 5, lastSeq: 100, pending: 0, inFlight: false })).toBeUndefined();
    // Messages up to 100 aged out; nothing of this partition was pending among them.
    expect(w.look({ firstSeq: 101, lastSeq: 150, pending: 0, inFlight: false })).toBeUndefined();
  });

  it("does not report the holes a deleted session's purge left, only those beyond it", () => {
    const w = new StreamLossWatch(10, true);
    w.purged(20);
    expect(w.delivered(15)).toBeUndefined();
    expect(w.look({ firstSeq: 18, lastSeq: 30, pending: 3, inFlight: false })).toBeUndefined();
    expect(w.delivered(21)).toBeUndefined();
    // A hole beyond what was purged is still a loss, named from the purge's end on.
    expect(w.delivered(25)).toEqual({ firstSeq: 22, lastSeq: 24 });
    const head = new StreamLossWatch(10, true);
    head.purged(20);
    expect(head.look({ firstSeq: 26, lastSeq: 30, pending: 3, inFlight: false })).toEqual({
      firstSeq: 21,
      lastSeq: 25,
    });
  });

  it("names the range in the reason", () => {
    expect(streamLoss("SC_EVENTS", { firstSeq: 7, lastSeq: 10 }).reason).toMatch(
      /^stream SC_EVENTS discarded messages 7-10 before the aggregator consumed them/,
    );
  });
});

describe("AggregatorState.noteStreamLoss", () => {
  function record(id: string, state: SessionRecord["state"]): SessionRecord {
    return {
      schemaVersion: 1,
      id,
      mode: "oneshot",
      state,
      createdAt: "2026-11-27T10:00:00Z",
      expectedNodes: NODES,
      targets: {},
      profile: {},
    };
  }

  it("marks every session accepting data, merges adjacent ranges, and makes a complete session partial", () => {
    const state = new AggregatorState(() => 0);
    state.setRecord(record("running", "running"));
    state.setRecord(record("old", "stopped"));
    const spec = { session: "running", nodes: NODES, batchesPerNode: 2, workloads: 1, eventsPerWorkload: 3 };
    for (const m of [...recordingBatches(spec), ...recordingFins(spec)]) state.apply(m);
    expect(state.noteStreamLoss(streamLoss("SC_EVENTS", { firstSeq: 7, lastSeq: 10 }))).toEqual(["running"]);
    state.noteStreamLoss(streamLoss("SC_EVENTS", { firstSeq: 11, lastSeq: 12 }));
    expect(state.lostMessages).toBe(6);
    state.setRecord({ ...record("running", "stopping") });
    const action = state.due().find((a) => a.kind === "finalise");
    expect(action?.kind === "finalise" && action.status).toBe("partial");
    const doc = action?.kind === "finalise" ? action.publications[0]!.document : undefined;
    expect(doc?.streamLoss).toEqual([streamLoss("SC_EVENTS", { firstSeq: 7, lastSeq: 12 })]);
    expect(doc?.missingNodes).toBeUndefined();
    // Kept across a checkpoint.
    const restored = AggregatorState.restore(state.snapshot(), () => 0);
    expect(restored.sessions.get("running")?.streamLoss).toEqual(doc?.streamLoss);
    expect(restored.lostMessages).toBe(6);
  });
});

describe("an aggregator that finds messages discarded while it was stopped (real nats-server)", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let sessions: KV;
  let profiles: KV;
  let aggregator: RunningAggregator | undefined;
  let metrics: AggregatorMetrics;
  let id = 0;

  beforeEach(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
  });

  afterEach(async () => {
    await aggregator?.stop();
    aggregator = undefined;
    await nc.close();
    await server.stop();
  });

  afterAll(async () => {
    await aggregator?.stop();
  });

  async function start(stream: AggregatorConfig["stream"] = {}): Promise<void> {
    metrics = createMetrics();
    aggregator = await startAggregator({
      config: { nats: { servers: [server.url] }, checkpointIntervalMs: 100, stream },
      logger,
      metrics,
      tickMs: 50,
    });
    sessions = await new Kvm(js).open(BUCKET_SESSIONS);
    profiles = await new Kvm(js).open(BUCKET_PROFILES);
  }

  async function publish(messages: EventMessage[]): Promise<number[]> {
    const seqs: number[] = [];
    for (const m of messages) {
      const ack = await js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
        msgID:
          m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node),
      });
      seqs.push(ack.seq);
    }
    return seqs;
  }

  async function status(session: string): Promise<AggregatorStatus> {
    const reply = await nc.request(AGGREGATOR_STATUS_SUBJECT, JSON.stringify({ session }), { timeout: 5000 });
    return assertValid("aggregatorStatus", reply.json(), "status reply");
  }

  function sessionRecord(session: string, state: SessionRecord["state"]): SessionRecord {
    return {
      schemaVersion: 1,
      id: session,
      mode: "oneshot",
      state,
      createdAt: new Date().toISOString(),
      expectedNodes: NODES,
      targets: {},
      profile: {},
      ...(state === "stopping" ? { stopDeadline: new Date(Date.now() + 1500).toISOString() } : {}),
    };
  }

  /** Runs a session whose first batches the aggregator merges; the rest is published while it is stopped. */
  async function sessionWithUnconsumedTail(): Promise<{ session: string; tail: number[]; fins: number[] }> {
    const session = `loss-${++id}`;
    const spec = { session, nodes: NODES, batchesPerNode: 6, workloads: 2, eventsPerWorkload: 20 };
    const batches = [...recordingBatches(spec)];
    await start();
    await sessions.put(session, JSON.stringify(sessionRecord(session, "running")));
    await publish(batches.filter((b) => b.seq <= 2));
    await eventually(
      "the first batches merged",
      async () => (await status(session)).sessions[0]?.batchesMerged === 4,
    );
    await aggregator!.stop();
    aggregator = undefined;
    const tail = await publish(batches.filter((b) => b.seq > 2));
    const fins = await publish(recordingFins(spec));
    return { session, tail, fins };
  }

  async function finalised(session: string): Promise<AggregatorStatus["sessions"][number]> {
    return eventually(
      `session ${session} finalised`,
      async () => {
        const s = (await status(session)).sessions[0];
        return s !== undefined && s.state !== "recording" ? s : undefined;
      },
      20_000,
    );
  }

  async function document(session: string): Promise<ProfileDocument> {
    const keys: string[] = [];
    for await (const k of await profiles.keys(`${session}.>`)) keys.push(k);
    expect(keys.length).toBeGreaterThan(0);
    const entry = await profiles.get(keys.sort()[0]!);
    return assertValid("profileDocument", entry!.json(), keys[0]!);
  }

  it("a purge of unconsumed messages makes the session partial, naming the lost range", async () => {
    const { session, tail, fins } = await sessionWithUnconsumedTail();
    const jsm = await jetstreamManager(nc);
    // Everything below the FINs goes: batches 3..6 of both nodes were never consumed.
    await jsm.streams.purge(STREAM_EVENTS, { seq: fins[0]! });
    await start();
    await sessions.put(session, JSON.stringify(sessionRecord(session, "stopping")));
    const s = await finalised(session);
    const lost = streamLoss(STREAM_EVENTS, { firstSeq: tail[0]!, lastSeq: tail.at(-1)! });
    expect(s.state).toBe("partial");
    expect(s.streamLoss).toEqual([lost]);
    expect((await status(session)).lostMessages).toBe(tail.length);
    const doc = await document(session);
    expect(doc.status).toBe("partial");
    expect(doc.streamLoss).toEqual([lost]);
    expect(doc.streamLoss![0]!.reason).toContain(`messages ${tail[0]}-${tail.at(-1)}`);
    expect(
      await metrics.registry.getSingleMetricAsString("seccompose_aggregator_lost_messages_total"),
    ).toMatch(new RegExp(`seccompose_aggregator_lost_messages_total ${tail.length}\\b`));
  }, 60_000);

  it("a message deleted from the middle is found between two deliveries", async () => {
    const { session, tail } = await sessionWithUnconsumedTail();
    const jsm = await jetstreamManager(nc);
    const gone = tail[2]!;
    await jsm.streams.deleteMessage(STREAM_EVENTS, gone);
    await start();
    await sessions.put(session, JSON.stringify(sessionRecord(session, "stopping")));
    const s = await finalised(session);
    expect(s.state).toBe("partial");
    expect(s.streamLoss).toEqual([streamLoss(STREAM_EVENTS, { firstSeq: gone, lastSeq: gone })]);
  }, 60_000);

  it("a stream too small for what came while the aggregator was stopped: partial, never complete", async () => {
    const { session } = await sessionWithUnconsumedTail();
    // The restarted aggregator applies its tiny limit: the oldest messages, not yet consumed, go.
    await start({ maxBytes: 8 * 1024, maxMsgSize: 4096 });
    await sessions.put(session, JSON.stringify(sessionRecord(session, "stopping")));
    const s = await finalised(session);
    expect(s.state).toBe("partial");
    expect(s.streamLoss?.length).toBe(1);
    expect((await document(session)).status).toBe("partial");
  }, 60_000);
});
