/**
 * The stream of aggregators before partitions had the one subject `sc.ev.>` and one durable
 * consumer `sc_aggregator`. Once everything in it was consumed and every session finalised, it is
 * converted in place: its subjects become the partitions', the old durable goes, and every
 * partition gets a first checkpoint that starts after the old messages (so they are not taken for
 * a loss). Otherwise the aggregator refuses to start (SC_UPGRADE_REQUIRED), and deploy/README.md
 * says what to do.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { SeccomposeError } from "../../lib/errors.ts";
import { isStreamNotFound } from "../../lib/nats/errors.ts";
import { partitionsOfStream, streamSubjects } from "../../lib/partitions.ts";
import { LEGACY_AGGREGATOR_DURABLE, STREAM_EVENTS } from "../../lib/subjects.ts";
import { CheckpointStore, encodeSnapshot, partitionKeyPrefix } from "./checkpoint.ts";
import { durableInfo } from "./consumer.ts";
import { AggregatorState } from "./session-state.ts";

export async function upgradeLegacyStream(
  jsm: JetStreamManager,
  state: KV,
  partitions: number,
  logger: Logger,
): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(STREAM_EVENTS);
  } catch (err) {
    if (isStreamNotFound(err)) return;
    throw err;
  }
  if (partitionsOfStream(info.config.subjects ?? []) !== "legacy") return;
  const durable = await durableInfo(jsm, 0, LEGACY_AGGREGATOR_DURABLE);
  const legacy = await new CheckpointStore(state, { instance: "upgrade", chunkBytes: 1024 * 1024 })
    .load()
    .catch(() => undefined);
  const consumedUpTo = Math.max(durable?.ack_floor.stream_seq ?? 0, legacy?.head.coveredSeq ?? 0);
  const { first_seq: firstSeq, last_seq: lastSeq, messages } = info.state;
  const unconsumed = messages > 0 && lastSeq > consumedUpTo && lastSeq >= firstSeq;
  const open = (legacy?.snapshot.sessions ?? []).filter((s) => s.finalised === undefined).map((s) => s.id);
  if (unconsumed || open.length > 0) {
    throw new SeccomposeError(
      "SC_UPGRADE_REQUIRED",
      `stream ${STREAM_EVENTS} was made by an aggregator before partitions and ` +
        (unconsumed
          ? `holds messages up to ${lastSeq} it consumed only up to ${consumedUpTo}`
          : `its checkpoint has sessions not finalised (${open.slice(0, 5).join(", ")})`) +
        "; run the previous aggregator until every session is stopped and finalised, then upgrade (deploy/README.md, Upgrading to partitions)",
    );
  }
  await jsm.streams.update(STREAM_EVENTS, { subjects: streamSubjects(partitions) });
  const empty = encodeSnapshot(new AggregatorState(Date.now).snapshot());
  for (let p = 0; p < partitions; p++) {
    const store = new CheckpointStore(state, {
      instance: "upgrade",
      chunkBytes: 1024 * 1024,
      prefix: partitionKeyPrefix(p),
    });
    if ((await store.load().catch(() => undefined)) !== undefined) continue;
    await store.write(empty, {
      streamSeq: lastSeq,
      coveredSeq: lastSeq,
      writtenAt: new Date().toISOString(),
    });
  }
  if (durable !== undefined) await jsm.consumers.delete(STREAM_EVENTS, LEGACY_AGGREGATOR_DURABLE);
  logger.info(
    { stream: STREAM_EVENTS, partitions, after: lastSeq },
    "converted the stream of aggregators before partitions",
  );
}
