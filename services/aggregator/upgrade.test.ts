import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import { streamSubjects } from "../../lib/partitions.ts";
import {
  BUCKET_AGGREGATOR_STATE,
  LEGACY_AGGREGATOR_DURABLE,
  LEGACY_EVENT_SUBJECTS,
  STREAM_EVENTS,
} from "../../lib/subjects.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { startAggregator } from "./aggregator.ts";
import { checkpointHeadKey } from "./checkpoint.ts";
import { createMetrics } from "./metrics.ts";

const logger = pino({ level: "silent" });

describe("a stream of aggregators before partitions", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeEach(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: STREAM_EVENTS,
      subjects: [LEGACY_EVENT_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
    await jsm.consumers.add(STREAM_EVENTS, {
      durable_name: LEGACY_AGGREGATOR_DURABLE,
      ack_policy: AckPolicy.Explicit,
      filter_subject: LEGACY_EVENT_SUBJECTS,
    });
    for (let i = 0; i < 3; i++) await jetstream(nc).publish("sc.ev.old-session.node-a", "old batch");
  });

  afterEach(async () => {
    await nc.close();
    await server.stop();
  });

  const start = () =>
    startAggregator({
      config: { nats: { servers: [server.url] }, partitions: 3 },
      logger,
      metrics: createMetrics(),
    });

  it("is refused while it holds messages the previous aggregator did not consume", async () => {
    const err = await start().catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_UPGRADE_REQUIRED")).toBe(true);
    expect((err as Error).message).toMatch(
      /holds messages up to 3 it consumed only up to 0; run the previous aggregator/,
    );
    const info = await (await jetstreamManager(nc)).streams.info(STREAM_EVENTS);
    expect(info.config.subjects).toEqual([LEGACY_EVENT_SUBJECTS]);
  });

  it("is converted in place once everything in it was consumed, and its old messages are no loss", async () => {
    const old = await jetstream(nc).consumers.get(STREAM_EVENTS, LEGACY_AGGREGATOR_DURABLE);
    for (let i = 0; i < 3; i++) expect(await (await old.next())!.ackAck()).toBe(true);
    const aggregator = await start();
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(STREAM_EVENTS)).config.subjects).toEqual(streamSubjects(3));
      const consumers: string[] = [];
      for await (const c of jsm.consumers.list(STREAM_EVENTS)) consumers.push(c.name);
      expect(consumers.sort()).toEqual(["sc_aggregator_0", "sc_aggregator_1", "sc_aggregator_2"]);
      const state = await new Kvm(nc).open(BUCKET_AGGREGATOR_STATE);
      for (let p = 0; p < 3; p++) {
        expect((await state.get(checkpointHeadKey(p)))?.json<{ coveredSeq: number }>().coveredSeq).toBe(3);
      }
      expect((await aggregator.status()).lostMessages).toBe(0);
    } finally {
      await aggregator.stop();
    }
  });
});
