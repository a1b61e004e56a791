/**
 * seccompose-aggregator configuration: an optional YAML/JSON file (--config or
 * SECCOMPOSE_CONFIG_FILE), then environment variables, then flags; the result is validated against
 * schemas/aggregator-config.schema.json.
 */
import { parseArgs } from "node:util";
import type { AggregatorConfig } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { readYamlMapping } from "../../lib/structured-file.ts";

type Kind = "string" | "list" | "integer";

/** One setting: where it lives in the config, its flag and its environment variable. */
interface Setting {
  path: readonly string[];
  flag: string;
  env: string;
  kind: Kind;
  help: string;
}

/** A setting at `path` (dotted), given as flag `--<flag>` or environment variable SECCOMPOSE_<FLAG>. */
function setting(path: string, flag: string, kind: Kind, help: string): Setting {
  return {
    path: path.split("."),
    flag,
    env: `SECCOMPOSE_${flag.toUpperCase().replaceAll("-", "_")}`,
    kind,
    help,
  };
}

const SETTINGS: readonly Setting[] = [
  setting("nats.servers", "nats-url", "list", "NATS server URL; repeatable or comma-separated"),
  setting("nats.user", "nats-user", "string", "NATS user"),
  setting("nats.pass", "nats-pass", "string", "NATS password (prefer the environment or a file)"),
  setting("nats.passFile", "nats-pass-file", "string", "file holding the NATS password"),
  setting("nats.token", "nats-token", "string", "NATS token"),
  setting("nats.credsFile", "nats-creds", "string", "NATS .creds file"),
  setting("httpPort", "http-port", "integer", "port of /healthz, /readyz, /metrics"),
  setting("logLevel", "log-level", "string", "fatal|error|warn|info|debug|trace"),
  setting("replicas", "replicas", "integer", "replicas of the stream, buckets and object store"),
  setting("partitions", "partitions", "integer", "partitions of SC_EVENTS (fixed once the stream exists)"),
  setting("replicaId", "replica-id", "string", "this replica's stable name in leases (its pod's name)"),
  setting(
    "leaseTtlMs",
    "lease-ttl-ms",
    "integer",
    "a replica's partition lease expires after this long unrenewed",
  ),
  setting(
    "stream.maxBytes",
    "stream-max-bytes",
    "integer",
    "SC_EVENTS size limit (--stream-max-bytes=-1: none)",
  ),
  setting(
    "stream.maxAgeSeconds",
    "stream-max-age-seconds",
    "integer",
    "SC_EVENTS message age limit (0: none)",
  ),
  setting("stream.maxMsgSize", "stream-max-msg-size", "integer", "largest event message"),
  setting(
    "stream.duplicateWindowSeconds",
    "stream-duplicate-window-seconds",
    "integer",
    "message id de-duplication window",
  ),
  setting(
    "checkpointIntervalMs",
    "checkpoint-interval-ms",
    "integer",
    "how often state is checkpointed to KV",
  ),
  setting(
    "kvValueMaxBytes",
    "kv-value-max-bytes",
    "integer",
    "larger profile documents go to the Object Store",
  ),
  setting(
    "limits.maxWorkloadsPerSession",
    "max-workloads-per-session",
    "integer",
    "workload containers per session",
  ),
  setting(
    "limits.maxWorkloadsPerNode",
    "max-workloads-per-node",
    "integer",
    "workload containers one node may report per session",
  ),
  setting("limits.maxTuplesPerSession", "max-tuples-per-session", "integer", "count entries per session"),
  setting(
    "limits.maxTuplesPerNode",
    "max-tuples-per-node",
    "integer",
    "count entries one node may add per session",
  ),
  setting(
    "limits.maxBatchesPerNode",
    "max-batches-per-node",
    "integer",
    "highest batch number or FIN count accepted from a node",
  ),
  setting(
    "limits.maxHeldMessagesPerNode",
    "max-held-messages-per-node",
    "integer",
    "messages kept per node until the session's node set is written",
  ),
  setting(
    "podOwnership",
    "pod-ownership",
    "string",
    "auto|required|off: accept a node's data only about pods that ran on it (auto: with a Kubernetes API)",
  ),
  setting("kubeconfig", "kubeconfig", "string", "kubeconfig for the pod watch (default: in-cluster)"),
  setting(
    "limits.ownershipWaitMs",
    "ownership-wait-ms",
    "integer",
    "how long data about a pod the pod watch has not seen yet waits for it",
  ),
  setting(
    "limits.maxOwnershipWaitEventsPerNode",
    "max-ownership-wait-events-per-node",
    "integer",
    "events of one node waiting for the pod watch",
  ),
  setting("limits.maxEndedPods", "max-ended-pods", "integer", "deleted pods the ownership check remembers"),
];

export const USAGE = [
  "usage: seccompose-aggregator [--config FILE] [options]",
  "",
  "  -c, --config FILE  YAML or JSON file (env SECCOMPOSE_CONFIG_FILE)",
  ...SETTINGS.map((s) => `  --${s.flag} VALUE  ${s.help} (env ${s.env})`),
  "  --help  print this help",
].join("\n");

function parseValue(raw: string, kind: Kind, source: string): unknown {
  if (kind === "string") return raw;
  if (kind === "list")
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new SeccomposeError("SC_CONFIG_INVALID", `${source} must be an integer, got "${raw}"`);
  }
  return Number(raw.trim());
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** The validated configuration, or "help" when --help was given. */
export async function loadAggregatorConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<AggregatorConfig | "help"> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string", short: "c" },
        help: { type: "boolean" },
        ...Object.fromEntries(
          SETTINGS.map((s) => [s.flag, { type: "string" as const, multiple: s.kind === "list" }]),
        ),
      },
    });
  } catch (err) {
    throw new SeccomposeError("SC_USAGE", `${(err as Error).message}\n${USAGE}`);
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (flags.help === true) return "help";
  const file = (flags.config as string | undefined) ?? env.SECCOMPOSE_CONFIG_FILE;
  const config = file !== undefined ? await readYamlMapping(file, "config file") : {};
  const sources = file !== undefined ? [file] : [];
  for (const s of SETTINGS) {
    const raw = env[s.env];
    if (raw !== undefined && raw !== "") {
      setPath(config, s.path, parseValue(raw, s.kind, `environment variable ${s.env}`));
      if (!sources.includes("environment")) sources.push("environment");
    }
  }
  for (const s of SETTINGS) {
    const given = flags[s.flag];
    const raw = Array.isArray(given) ? given.join(",") : given;
    if (typeof raw === "string") {
      setPath(config, s.path, parseValue(raw, s.kind, `flag --${s.flag}`));
      if (!sources.includes("flags")) sources.push("flags");
    }
  }
  const where = sources.length > 0 ? sources.join(" + ") : "defaults";
  return assertValid("aggregatorConfig", config, `configuration (${where})`, "SC_CONFIG_INVALID");
}
