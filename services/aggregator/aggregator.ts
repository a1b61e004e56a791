/**
 * startAggregator, which sets up NATS and starts a replica (replica.ts); the replica runs a partition
 * aggregator (partition-aggregator.ts) for each partition of SC_EVENTS it holds:
 *
 *   SC_EVENTS ──durable pull──► decode + validate ──► AggregatorState.apply (merge, drift)
 *                                   │ bad: counted, terminated at the next checkpoint
 *   every checkpointIntervalMs ──► snapshot → KV sc_aggregator ──► ack/term the messages it covers
 *                                  (partition-checkpoints.ts)
 *   every tick, and at once when a node completes ──► AggregatorState.due() ──► ActionPerformer ──► Publisher
 *                                  (publication-pass.ts)
 *   replica's KV sc_sessions watch ──► AggregatorState.setRecord (this partition's sessions)
 *   replica's Kubernetes pod watch ──► PodHistory ◄── AggregatorState checks every workload entry
 *                                      (entries waiting for a pod are checked again every tick)
 *   replica's sc.agg.freeze (accept) and sc.agg.delete, for this partition's sessions ──► accept, forget
 *
 * Crash safety (see checkpoint.ts): messages are settled only after a checkpoint reflecting them is
 * stored, and at start the durable consumer resumes right after its ack floor. Whatever the moment
 * of a crash, the restarted process restores the last checkpoint and receives again every message it
 * does not reflect; the merge being idempotent, the final profiles are byte-identical to those of an
 * uninterrupted run. Publications are repeated when a crash comes between publishing and the next
 * checkpoint; they carry the same bytes (one-shot) or the next unused revision (continuous).
 */
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { SeccomposeError } from "../../lib/errors.ts";
import { connectNats } from "../../lib/nats/connect.ts";
import { ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import {
  BUCKET_AGGREGATOR_LEASES,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_INSTALLED,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  OBJECT_STORE_PROFILES,
} from "../../lib/subjects.ts";
import { CheckpointStore, partitionKeyPrefix } from "./checkpoint.ts";
import {
  PartitionAggregator,
  type AggregatorOptions,
  type PartitionStorage,
} from "./partition-aggregator.ts";
import { Publisher } from "./publisher.ts";
import { DEFAULT_LEASE_TTL_MS } from "./partition-leases.ts";
import { startReplica, type RunningAggregator, type WorkerContext } from "./replica.ts";
import { startPodOwnership } from "./pod-ownership.ts";
import { upgradeLegacyStream } from "./upgrade.ts";

export { DEFAULT_CHECKPOINT_INTERVAL_MS } from "./partition-checkpoints.ts";
export type { AggregatorOptions } from "./partition-aggregator.ts";
export type { RunningAggregator } from "./replica.ts";

export const DEFAULT_KV_VALUE_MAX_BYTES = 512 * 1024;
/** KV and JetStream headers ride along with a chunk inside the server's max_payload. */
const PAYLOAD_HEADROOM = 8 * 1024;
/** The aggregator's NATS user may subscribe to reply inboxes under this prefix only (deploy/nats-permissions.json). */
const AGGREGATOR_INBOX_PREFIX = "_INBOX.aggregator";

interface Stores {
  sessions: KV;
  profiles: KV;
  state: KV;
  objects: Awaited<ReturnType<typeof ensureObjectStore>>;
}

async function ensureObjectStore(nc: NatsConnection, replicas: number) {
  try {
    return await new Objm(nc).create(OBJECT_STORE_PROFILES, { storage: StorageType.File, replicas });
  } catch (err) {
    throw new SeccomposeError(
      "SC_NATS_UNREACHABLE",
      `could not open object store ${OBJECT_STORE_PROFILES}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A partition's publisher and checkpoint store, their values sized to the server's max_payload. */
function partitionStorage(
  o: AggregatorOptions,
  ctx: WorkerContext,
  nc: NatsConnection,
  stores: Stores,
): PartitionStorage {
  const kvLimit = o.config.kvValueMaxBytes ?? DEFAULT_KV_VALUE_MAX_BYTES;
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  return {
    publisher: new Publisher({
      nc,
      profiles: stores.profiles,
      objects: stores.objects,
      sessions: stores.sessions,
      kvValueMaxBytes: Math.min(kvLimit, maxPayload - PAYLOAD_HEADROOM),
    }),
    checkpoints: new CheckpointStore(stores.state, {
      instance: ctx.instance,
      chunkBytes: Math.max(1024, Math.min(kvLimit, maxPayload - PAYLOAD_HEADROOM)),
      prefix: partitionKeyPrefix(ctx.partition),
    }),
  };
}

/** The NATS password from `nats.passFile` (a mounted Secret), read at start. */
async function readPassword(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `cannot read the NATS password file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Starts the pod watch of the ownership check (when on; one per replica, shared by its partitions),
 * connects, creates or updates the stream, buckets and object store, then runs a replica that takes
 * partitions by lease and an aggregator for each (replica.ts).
 */
export async function startAggregator(o: AggregatorOptions): Promise<RunningAggregator> {
  const { config, logger } = o;
  const { passFile, ...nats } = config.nats;
  const pass = passFile === undefined ? nats.pass : await readPassword(passFile);
  const pods = await startPodOwnership({
    config,
    env: o.env ?? process.env,
    clock: o.clock ?? Date.now,
    logger,
  });
  let nc: NatsConnection;
  try {
    nc = await connectNats(
      {
        ...nats,
        ...(pass !== undefined ? { pass } : {}),
        name: "seccompose-aggregator",
        waitOnFirstConnect: true,
        inboxPrefix: AGGREGATOR_INBOX_PREFIX,
      },
      logger,
    );
  } catch (err) {
    await pods.stop();
    throw err;
  }
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const replicas = config.replicas ?? 1;
    const partitions = config.partitions ?? 1;
    const state = await ensureKv(js, BUCKET_AGGREGATOR_STATE, { replicas });
    await upgradeLegacyStream(jsm, state, partitions, logger);
    await ensureEventStream(jsm, { ...config.stream, replicas, partitions });
    const leaseTtlMs = config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    const stores: Stores = {
      sessions: await ensureKv(js, BUCKET_SESSIONS, {
        replicas,
        warn: (message) => logger.warn({ bucket: BUCKET_SESSIONS }, message),
      }),
      profiles: await ensureKv(js, BUCKET_PROFILES, { replicas }),
      state,
      objects: await ensureObjectStore(nc, replicas),
    };
    // Written by the CLI (`profile apply`), read by agents at start; the aggregator only owns it.
    await ensureKv(js, BUCKET_INSTALLED, { replicas });
    const leases = await ensureKv(js, BUCKET_AGGREGATOR_LEASES, { replicas, ttlSeconds: leaseTtlMs / 1000 });
    return await startReplica({
      logger,
      metrics: o.metrics,
      nc,
      jsm,
      sessions: stores.sessions,
      objects: stores.objects,
      leases,
      partitions,
      leaseTtlMs,
      pods,
      ...(config.replicaId !== undefined ? { replicaId: config.replicaId } : {}),
      worker: (ctx) => new PartitionAggregator(o, ctx, nc, jsm, partitionStorage(o, ctx, nc, stores), pods),
    });
  } catch (err) {
    await pods.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw err;
  }
}
