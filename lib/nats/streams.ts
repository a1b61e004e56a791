/**
 * Create-or-update of the JetStream assets seccompose owns, so a restart with changed limits
 * converges the server to the configuration instead of failing on "stream name already in use".
 */
import { nanos } from "@nats-io/transport-node";
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type {
  JetStreamClient,
  JetStreamManager,
  Republish,
  StreamInfo,
  StreamUpdateConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { SeccomposeError } from "../errors.ts";
import { partitionsOfStream, streamSubjects } from "../partitions.ts";
import { BUCKET_SESSIONS, SESSION_CHANGES_PREFIX, STREAM_EVENTS } from "../subjects.ts";
import { isRepublishUnchangeable, isStreamNameInUse, isStreamNotFound, toSeccomposeError } from "./errors.ts";

export interface EventStreamLimits {
  /** Total stream size; the oldest messages are discarded beyond it. -1 = unlimited. */
  maxBytes?: number;
  /** Age after which messages are discarded; 0 = unlimited. */
  maxAgeSeconds?: number;
  /** Largest message the stream accepts (headers included). */
  maxMsgSize?: number;
  /** How long a message id is remembered for de-duplication. */
  duplicateWindowSeconds?: number;
  replicas?: number;
  /** Partitions (subjects `sc.ev.<p>.*.*`); fixed once the stream exists. */
  partitions?: number;
}

export const EVENT_STREAM_DEFAULTS: Required<EventStreamLimits> = {
  maxBytes: 1024 ** 3,
  maxAgeSeconds: 24 * 3600,
  maxMsgSize: 1024 * 1024,
  // Longer than the server's 2 minutes: agents replay their spool after outages of several minutes.
  duplicateWindowSeconds: 10 * 60,
  replicas: 1,
  partitions: 1,
};

function eventStreamSettings(limits: EventStreamLimits): Partial<StreamUpdateConfig> {
  const l = { ...EVENT_STREAM_DEFAULTS, ...limits };
  if (l.maxAgeSeconds > 0 && l.duplicateWindowSeconds > l.maxAgeSeconds) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `stream ${STREAM_EVENTS}: duplicateWindowSeconds (${l.duplicateWindowSeconds}) must not exceed maxAgeSeconds (${l.maxAgeSeconds})`,
    );
  }
  return {
    subjects: streamSubjects(l.partitions),
    max_bytes: l.maxBytes,
    max_age: nanos(l.maxAgeSeconds * 1000),
    max_msg_size: l.maxMsgSize,
    duplicate_window: nanos(l.duplicateWindowSeconds * 1000),
    discard: DiscardPolicy.Old,
    num_replicas: l.replicas,
  };
}

/**
 * Creates stream SC_EVENTS with one subject per partition, or updates its limits when it exists
 * with others. The partition count cannot change (a session's partition is in its record), nor can
 * a stream of aggregators before partitions be used (services/aggregator/upgrade.ts converts it).
 */
export async function ensureEventStream(
  jsm: JetStreamManager,
  limits: EventStreamLimits = {},
): Promise<StreamInfo> {
  const settings = eventStreamSettings(limits);
  try {
    return await jsm.streams.add({
      name: STREAM_EVENTS,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      ...settings,
    });
  } catch (err) {
    if (!isStreamNameInUse(err)) {
      throw toSeccomposeError(err, `creating stream ${STREAM_EVENTS}`);
    }
  }
  const existing = partitionsOfStream((await jsm.streams.info(STREAM_EVENTS)).config.subjects ?? []);
  const wanted = limits.partitions ?? EVENT_STREAM_DEFAULTS.partitions;
  if (existing !== wanted) {
    const has =
      existing === "legacy"
        ? "the subject sc.ev.> of aggregators before partitions"
        : existing === undefined
          ? "subjects seccompose did not write"
          : `${existing} partition(s)`;
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `stream ${STREAM_EVENTS} has ${has}, the configuration asks for ${wanted} partition(s); the partition count is fixed once the stream exists: to change it, stop every session, let the aggregators finalise them, delete the stream (nats stream rm ${STREAM_EVENTS}) and start the aggregators again (deploy/README.md)`,
    );
  }
  try {
    return await jsm.streams.update(STREAM_EVENTS, settings);
  } catch (err) {
    throw toSeccomposeError(err, `updating the limits of stream ${STREAM_EVENTS}`);
  }
}

/**
 * The partition count of stream SC_EVENTS, as its subjects say; 1 when the stream does not exist
 * yet or predates partitions (its sessions all go to partition 0).
 */
export async function streamPartitions(jsm: JetStreamManager): Promise<number> {
  try {
    const found = partitionsOfStream((await jsm.streams.info(STREAM_EVENTS)).config.subjects ?? []);
    return typeof found === "number" ? found : 1;
  } catch (err) {
    if (isStreamNotFound(err)) return 1;
    throw toSeccomposeError(err, `reading the partitions of stream ${STREAM_EVENTS}`);
  }
}

export interface BucketOptions {
  /** Values kept per key. */
  history?: number;
  replicas?: number;
  /** Bucket size; -1 = unlimited. */
  maxBytes?: number;
  /** Largest value; -1 = unlimited (bounded by the server's max_payload). */
  maxValueSize?: number;
  /** Age after which values expire; 0 = never. */
  ttlSeconds?: number;
  /** Told what could not be applied to an existing bucket, and what that costs. */
  warn?: (message: string) => void;
}

const BUCKET_DEFAULTS: Required<Omit<BucketOptions, "warn">> = {
  history: 1,
  replicas: 1,
  maxBytes: -1,
  maxValueSize: -1,
  ttlSeconds: 0,
};

/**
 * sc_sessions republishes the headers of each change (key, sequence, KV-Operation) on
 * `sc.sessions.<id>`, which agents subscribe to instead of watching the bucket with a consumer.
 */
export const SESSION_BUCKET_REPUBLISH: Republish = {
  src: `$KV.${BUCKET_SESSIONS}.>`,
  dest: `${SESSION_CHANGES_PREFIX}.>`,
  headers_only: true,
};

function sameRepublish(a: Republish | undefined, b: Republish | undefined): boolean {
  return (
    a?.src === b?.src && a?.dest === b?.dest && (a?.headers_only ?? false) === (b?.headers_only ?? false)
  );
}

/**
 * Opens KV bucket `bucket`, creating it if missing. `Kvm.create` silently keeps an existing bucket's
 * settings, so differing ones are then applied to its backing stream `KV_<bucket>`.
 */
export async function ensureKv(js: JetStreamClient, bucket: string, opts: BucketOptions = {}): Promise<KV> {
  const o = { ...BUCKET_DEFAULTS, ...opts };
  const republish = bucket === BUCKET_SESSIONS ? SESSION_BUCKET_REPUBLISH : undefined;
  try {
    const kv = await new Kvm(js).create(bucket, {
      history: o.history,
      replicas: o.replicas,
      max_bytes: o.maxBytes,
      maxValueSize: o.maxValueSize,
      ttl: o.ttlSeconds * 1000,
      ...(republish !== undefined ? { republish } : {}),
    });
    const jsm = await js.jetstreamManager();
    const stream = `KV_${bucket}`;
    const { config } = await jsm.streams.info(stream);
    const wanted: Partial<StreamUpdateConfig> = {
      max_msgs_per_subject: o.history,
      num_replicas: o.replicas,
      max_bytes: o.maxBytes,
      max_msg_size: o.maxValueSize,
      max_age: nanos(o.ttlSeconds * 1000),
    };
    const differs = (Object.keys(wanted) as (keyof typeof wanted)[]).some(
      (key) => config[key] !== wanted[key],
    );
    const republishDiffers = !sameRepublish(config.republish, republish);
    if (republishDiffers && republish !== undefined) {
      try {
        await jsm.streams.update(stream, { ...wanted, republish });
        return kv;
      } catch (err) {
        if (!isRepublishUnchangeable(err)) throw err;
        // A bucket made before republishing existed: agents still see every change through their
        // periodic check of the bucket (lib/nats/session-directory.ts), only later.
        opts.warn?.(
          `KV bucket ${bucket} exists without republishing its changes on ${republish.dest}, and this NATS server cannot add it; ` +
            "agents see session changes within 30 s instead of at once (delete the bucket while no session runs to have it recreated)",
        );
      }
    }
    if (differs) await jsm.streams.update(stream, wanted);
    return kv;
  } catch (err) {
    throw toSeccomposeError(err, `opening KV bucket ${bucket}`);
  }
}
