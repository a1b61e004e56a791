import { connect, nanos } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import { BUCKET_SESSIONS, partitionSubjects, STREAM_EVENTS } from "../subjects.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { ensureEventStream, ensureKv, streamPartitions } from "./streams.ts";

describe("JetStream assets", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("creates the event stream with the given limits, then updates them in place when they change", async () => {
    const created = await ensureEventStream(jsm, {
      maxBytes: 32 * 1024 * 1024,
      maxAgeSeconds: 3_600,
      maxMsgSize: 512 * 1024,
      duplicateWindowSeconds: 300,
    });
    expect(created.config).toMatchObject({
      name: STREAM_EVENTS,
      subjects: [partitionSubjects(0)],
      max_bytes: 32 * 1024 * 1024,
      max_age: nanos(3_600_000),
      max_msg_size: 512 * 1024,
      duplicate_window: nanos(300_000),
      discard: DiscardPolicy.Old,
      num_replicas: 1,
    });
    await jetstream(nc).publish("sc.ev.0.s1.node-a", "kept");

    const updated = await ensureEventStream(jsm, { maxBytes: 16 * 1024 * 1024, maxMsgSize: 256 * 1024 });
    expect(updated.config).toMatchObject({ max_bytes: 16 * 1024 * 1024, max_msg_size: 256 * 1024 });
    expect(updated.state.messages).toBe(1);

    const again = await ensureEventStream(jsm, { maxBytes: 16 * 1024 * 1024, maxMsgSize: 256 * 1024 });
    expect(again.config.max_bytes).toBe(16 * 1024 * 1024);
  });

  it("keeps the partition count of an existing stream, which anyone may read, and refuses another", async () => {
    expect(await streamPartitions(jsm)).toBe(1);
    const err = await ensureEventStream(jsm, { partitions: 4 }).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toMatch(/has 1 partition\(s\), the configuration asks for 4/);
    expect((await jsm.streams.info(STREAM_EVENTS)).config.subjects).toEqual([partitionSubjects(0)]);
  });

  it("refuses a duplicate window longer than the maximum age before asking the server", async () => {
    const err = await ensureEventStream(jsm, { maxAgeSeconds: 60, duplicateWindowSeconds: 120 }).catch(
      (e: unknown) => e,
    );
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toContain(
      "duplicateWindowSeconds (120) must not exceed maxAgeSeconds (60)",
    );
  });

  it("creates a KV bucket and applies changed settings to an existing one", async () => {
    const js = jetstream(nc);
    const kv = await ensureKv(js, "sc_test_bucket", { history: 3 });
    await kv.put("k", "v1");
    expect((await jsm.streams.info("KV_sc_test_bucket")).config.max_msgs_per_subject).toBe(3);

    const reopened = await ensureKv(js, "sc_test_bucket", { history: 5, maxValueSize: 4096 });
    const { config } = await jsm.streams.info("KV_sc_test_bucket");
    expect(config).toMatchObject({ max_msgs_per_subject: 5, max_msg_size: 4096 });
    expect((await reopened.get("k"))?.string()).toBe("v1");
  });

  it("opens a session bucket made without republishing, applies the other settings and says what that costs", async () => {
    const js = jetstream(nc);
    // As a bucket made before republishing existed: this nats-server cannot add RePublish later.
    const old = await new Kvm(js).create(BUCKET_SESSIONS, { history: 1 });
    await old.put("s1", "record");
    const warnings: string[] = [];
    const kv = await ensureKv(js, BUCKET_SESSIONS, { history: 2, warn: (m) => warnings.push(m) });
    const { config } = await jsm.streams.info(`KV_${BUCKET_SESSIONS}`);
    expect(config.max_msgs_per_subject).toBe(2);
    expect(config.republish).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/without republishing .* within 30 s/);
    expect((await kv.get("s1"))?.string()).toBe("record");
  });
});
