/**
 * seccompose-aggregator configuration: an optional YAML/JSON file (--config or
 * SECCOMPOSE_CONFIG_FILE), then environment variables, then flags (lib/service-config.ts); the
 * result is validated against schemas/aggregator-config.schema.json. docs/aggregator.md's option
 * table is generated from SETTINGS and the schema.
 */
import type { AggregatorConfig } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { EVENT_STREAM_DEFAULTS } from "../../lib/nats/streams.ts";
import { readLayeredConfig, setting } from "../../lib/service-config.ts";
import type { ServiceSpec, Setting } from "../../lib/service-config.ts";
import { DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_KV_VALUE_MAX_BYTES } from "./aggregator.ts";
import { DEFAULT_LEASE_TTL_MS } from "./partition-leases.ts";
import { DEFAULT_MAX_ENDED_PODS } from "./pod-ownership.ts";
import { DEFAULT_LIMITS } from "./limits.ts";

export const DEFAULT_HTTP_PORT = 8080;

const SETTINGS: readonly Setting[] = [
  setting("nats.servers", "nats-url", "list", "NATS server URL"),
  setting("nats.user", "nats-user", "string", "NATS user"),
  setting("nats.pass", "nats-pass", "string", "NATS password (prefer the environment or a file)"),
  setting("nats.passFile", "nats-pass-file", "string", "file holding the NATS password"),
  setting("nats.token", "nats-token", "string", "NATS token"),
  setting("nats.credsFile", "nats-creds", "string", "NATS .creds file"),
  setting("httpPort", "http-port", "integer", "port of /healthz, /readyz, /metrics", {
    default: String(DEFAULT_HTTP_PORT),
  }),
  setting("logLevel", "log-level", "string", "fatal|error|warn|info|debug|trace", { default: "info" }),
  setting("replicas", "replicas", "integer", "replicas of the stream, buckets and object store", {
    default: "1",
  }),
  setting("partitions", "partitions", "integer", "partitions of SC_EVENTS (fixed once the stream exists)", {
    default: "1",
  }),
  setting("replicaId", "replica-id", "string", "this replica's stable name in leases (its pod's name)", {
    default: "a random name per process",
  }),
  setting(
    "leaseTtlMs",
    "lease-ttl-ms",
    "integer",
    "a replica's partition lease expires after this long unrenewed",
    { default: String(DEFAULT_LEASE_TTL_MS) },
  ),
  setting(
    "stream.maxBytes",
    "stream-max-bytes",
    "integer",
    "SC_EVENTS size limit (--stream-max-bytes=-1: none)",
    { default: String(EVENT_STREAM_DEFAULTS.maxBytes) },
  ),
  setting(
    "stream.maxAgeSeconds",
    "stream-max-age-seconds",
    "integer",
    "SC_EVENTS message age limit (0: none)",
    { default: String(EVENT_STREAM_DEFAULTS.maxAgeSeconds) },
  ),
  setting("stream.maxMsgSize", "stream-max-msg-size", "integer", "largest event message", {
    default: String(EVENT_STREAM_DEFAULTS.maxMsgSize),
  }),
  setting(
    "stream.duplicateWindowSeconds",
    "stream-duplicate-window-seconds",
    "integer",
    "message id de-duplication window",
    { default: String(EVENT_STREAM_DEFAULTS.duplicateWindowSeconds) },
  ),
  setting(
    "checkpointIntervalMs",
    "checkpoint-interval-ms",
    "integer",
    "how often state is checkpointed to KV",
    { default: String(DEFAULT_CHECKPOINT_INTERVAL_MS) },
  ),
  setting(
    "kvValueMaxBytes",
    "kv-value-max-bytes",
    "integer",
    "larger profile documents go to the Object Store",
    { default: String(DEFAULT_KV_VALUE_MAX_BYTES) },
  ),
  setting(
    "limits.maxWorkloadsPerSession",
    "max-workloads-per-session",
    "integer",
    "workload containers per session",
    { default: String(DEFAULT_LIMITS.maxWorkloadsPerSession) },
  ),
  setting(
    "limits.maxWorkloadsPerNode",
    "max-workloads-per-node",
    "integer",
    "workload containers one node may report per session",
    { default: String(DEFAULT_LIMITS.maxWorkloadsPerNode) },
  ),
  setting("limits.maxTuplesPerSession", "max-tuples-per-session", "integer", "count entries per session", {
    default: String(DEFAULT_LIMITS.maxTuplesPerSession),
  }),
  setting(
    "limits.maxTuplesPerNode",
    "max-tuples-per-node",
    "integer",
    "count entries one node may add per session",
    { default: String(DEFAULT_LIMITS.maxTuplesPerNode) },
  ),
  setting(
    "limits.maxBatchesPerNode",
    "max-batches-per-node",
    "integer",
    "highest batch number or FIN count accepted from a node",
    { default: String(DEFAULT_LIMITS.maxBatchesPerNode) },
  ),
  setting(
    "limits.maxHeldMessagesPerNode",
    "max-held-messages-per-node",
    "integer",
    "messages kept per node until the session's node set is written",
    { default: String(DEFAULT_LIMITS.maxHeldMessagesPerNode) },
  ),
  setting(
    "podOwnership",
    "pod-ownership",
    "string",
    "auto|required|off: accept a node's data only about pods that ran on it (auto: with a Kubernetes API)",
    { default: "auto" },
  ),
  setting("kubeconfig", "kubeconfig", "string", "kubeconfig for the pod watch", {
    default: "in-cluster",
  }),
  setting(
    "limits.ownershipWaitMs",
    "ownership-wait-ms",
    "integer",
    "how long data about a pod the pod watch has not seen yet waits for it",
    { default: String(DEFAULT_LIMITS.ownershipWaitMs) },
  ),
  setting(
    "limits.maxOwnershipWaitEventsPerNode",
    "max-ownership-wait-events-per-node",
    "integer",
    "events of one node waiting for the pod watch",
    { default: String(DEFAULT_LIMITS.maxOwnershipWaitEventsPerNode) },
  ),
  setting("limits.maxEndedPods", "max-ended-pods", "integer", "deleted pods the ownership check remembers", {
    default: String(DEFAULT_MAX_ENDED_PODS),
  }),
];

export const AGGREGATOR_SERVICE: ServiceSpec = {
  name: "seccompose-aggregator",
  description:
    "seccompose aggregator: merges every node's syscall observations into one profile per workload container",
  settings: SETTINGS,
};

/** The validated configuration, or "help" when --help was given. */
export async function loadAggregatorConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<AggregatorConfig | "help"> {
  const layered = await readLayeredConfig(AGGREGATOR_SERVICE, argv, env);
  if (layered === "help") return "help";
  return assertValid(
    "aggregatorConfig",
    layered.config,
    `configuration (${layered.where})`,
    "SC_CONFIG_INVALID",
  );
}
