import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { AgentConfig } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { listItems } from "../../lib/list-items.ts";
import { readLayeredConfig, setting } from "../../lib/service-config.ts";
import type { ServiceSpec, Setting } from "../../lib/service-config.ts";
import { subjectToken } from "../../lib/subjects.ts";
import { nativeScmpArch } from "../../lib/syscalls/architectures.ts";
import { syscallNumber } from "../../lib/syscalls/tables.ts";
import { FALCO_STATE_SYSCALLS, PROBE_SYSCALL } from "./falco/config-writer.ts";

/** Every default in one place (docs/agent.md documents each option). */
export const AGENT_DEFAULTS = {
  stateDir: "/var/lib/seccompose",
  httpPort: 8080,
  logLevel: "info",
  falcoBinary: "/usr/bin/falco",
  alertFormat: "compact",
  restartBackoffMs: [1000, 2000, 5000, 10_000, 30_000],
  flushIntervalMs: 2000,
  maxEvents: 5000,
  maxInFlight: 64,
  spoolMaxBytes: 256 * 1024 * 1024,
  holdUnknownMs: 30_000,
} as const;

export type ResolvedAgentConfig = AgentConfig & {
  stateDir: string;
  httpPort: number;
  logLevel: NonNullable<AgentConfig["logLevel"]>;
  falco: Required<
    Pick<
      NonNullable<AgentConfig["falco"]>,
      "binary" | "alertFormat" | "configDir" | "restartBackoffMs" | "args"
    >
  >;
  batch: Required<NonNullable<AgentConfig["batch"]>>;
  holdUnknownMs: number;
};

const nats = (path: string, flag: string, help: string) => setting(`nats.${path}`, flag, "string", help);

/** Every option of the agent (docs/agent.md is generated from these and the schema). */
const SETTINGS: readonly Setting[] = [
  setting("nodeName", "node-name", "string", "this node's name", {
    env: ["SECCOMPOSE_NODE_NAME", "NODE_NAME"],
    default: "the host name",
  }),
  setting("nats.servers", "nats-url", "list", "NATS server URL"),
  nats("user", "nats-user", "NATS user"),
  nats("pass", "nats-pass", "NATS password (prefer a file)"),
  nats("passFile", "nats-pass-file", "file holding the NATS password"),
  nats("token", "nats-token", "NATS token"),
  nats("credsFile", "nats-creds", "NATS credentials file"),
  nats(
    "nkeyFile",
    "nats-nkey-file",
    "this node's NKey user seed, created by enrollment; replaces user and password",
  ),
  setting("stateDir", "state-dir", "string", "local record and spool", { default: AGENT_DEFAULTS.stateDir }),
  setting("httpPort", "http-port", "integer", "health and metrics port", {
    default: String(AGENT_DEFAULTS.httpPort),
  }),
  setting("logLevel", "log-level", "string", "fatal, error, warn, info, debug or trace", {
    default: AGENT_DEFAULTS.logLevel,
  }),
  setting("falco.binary", "falco-binary", "string", "Falco executable", {
    default: AGENT_DEFAULTS.falcoBinary,
  }),
  setting("falco.args", "falco-arg", "repeated", "argument placed before Falco's own", { env: [] }),
  setting("falco.configDir", "falco-config-dir", "string", "where the generated falco.yaml and rules go", {
    env: [],
    default: "<state-dir>/falco",
  }),
  setting("falco.alertFormat", "alert-format", "string", "json or compact", {
    env: ["SECCOMPOSE_ALERT_FORMAT"],
    default: AGENT_DEFAULTS.alertFormat,
  }),
  setting(
    "falco.hotSyscalls",
    "falco-hot-syscalls",
    "string",
    "the hot-syscall split: on (the default hot syscalls), off, or the hot syscalls, comma-separated; replaces the file's falco.hotSyscalls",
    { default: "off (the shipped DaemonSet: on)", parse: hotSyscallsSetting },
  ),
  setting("podsFile", "pods-file", "string", "pods on this node, when not running in Kubernetes"),
  setting("kubeconfig", "kubeconfig", "string", "kubeconfig for the pod watch", {
    env: ["KUBECONFIG"],
    default: "in-cluster",
  }),
  setting("seccompDir", "seccomp-dir", "string", "where installed profiles go"),
];

export const AGENT_SERVICE: ServiceSpec = {
  name: "seccompose-agent",
  description: "seccompose node agent: supervises Falco and publishes this node's syscall observations",
  settings: SETTINGS,
};

/**
 * The agent's configuration: the file, then environment variables, then flags, each overriding
 * the one before; validated against schemas/agent-config.schema.json and completed with defaults.
 */
export async function resolveAgentConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<ResolvedAgentConfig | "help"> {
  const layered = await readLayeredConfig(AGENT_SERVICE, argv, env);
  if (layered === "help") return "help";
  const given = layered.config;
  const nats = (given.nats ?? {}) as Record<string, unknown>;
  const alongsideNkey = ["user", "pass", "passFile", "token", "credsFile"].filter((k) => k in nats);
  if ("nkeyFile" in nats && alongsideNkey.length > 0) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `the NKey seed file (--nats-nkey-file, SECCOMPOSE_NATS_NKEY_FILE, nats.nkeyFile) is the agent's NATS login; it cannot be combined with nats.${alongsideNkey.join(", nats.")}`,
    );
  }
  if (!Array.isArray(nats.servers) || nats.servers.length === 0) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      "no NATS server given: use --nats-url, SECCOMPOSE_NATS_URL or nats.servers in the config file",
    );
  }
  const stateDir = (given.stateDir as string | undefined) ?? AGENT_DEFAULTS.stateDir;
  const falco = (given.falco ?? {}) as Record<string, unknown>;
  const nodeName = (given.nodeName as string | undefined) ?? hostname();
  const candidate = {
    ...given,
    nodeName,
    stateDir,
    httpPort: given.httpPort ?? AGENT_DEFAULTS.httpPort,
    logLevel: given.logLevel ?? AGENT_DEFAULTS.logLevel,
    falco: {
      ...falco,
      binary: falco.binary ?? AGENT_DEFAULTS.falcoBinary,
      args: falco.args ?? [],
      configDir: falco.configDir ?? join(stateDir, "falco"),
      alertFormat: falco.alertFormat ?? AGENT_DEFAULTS.alertFormat,
      restartBackoffMs: falco.restartBackoffMs ?? [...AGENT_DEFAULTS.restartBackoffMs],
    },
    batch: {
      flushIntervalMs: AGENT_DEFAULTS.flushIntervalMs,
      maxEvents: AGENT_DEFAULTS.maxEvents,
      maxInFlight: AGENT_DEFAULTS.maxInFlight,
      spoolMaxBytes: AGENT_DEFAULTS.spoolMaxBytes,
      ...(given.batch as Record<string, unknown> | undefined),
    },
    holdUnknownMs: given.holdUnknownMs ?? AGENT_DEFAULTS.holdUnknownMs,
    // Replies to the agent's own requests (JetStream API calls) come to an inbox only it may read.
    inboxPrefix: given.inboxPrefix ?? `_INBOX.agent.${subjectToken(nodeName)}`,
  };
  const valid = assertValid(
    "agentConfig",
    candidate,
    `agent config (${layered.where})`,
    "SC_CONFIG_INVALID",
  ) as ResolvedAgentConfig;
  checkHotSyscalls(
    valid.falco.hotSyscalls?.syscalls,
    layered.origins.get("falco.hotSyscalls") ??
      `falco.hotSyscalls.syscalls${layered.file === undefined ? "" : ` in ${layered.file}`}`,
  );
  return valid;
}

/** `--falco-hot-syscalls` / SECCOMPOSE_FALCO_HOT_SYSCALLS (the DaemonSet has no config file). */
function hotSyscallsSetting(text: string): unknown {
  const value = text.trim();
  if (value === "on") return { enabled: true };
  if (value === "off") return { enabled: false };
  return {
    enabled: true,
    syscalls: listItems(value),
  };
}

/**
 * The hot Falco reports only the hot syscalls: one that the other Falco needs (the probe's
 * `openat`, the state syscalls every Falco is given back) cannot be one.
 */
function checkHotSyscalls(names: readonly string[] | undefined, where: string): void {
  // A name Falco does not know makes its rule fail to load, and the hot Falco would never run.
  const native = nativeScmpArch(process.arch);
  const unknown = (names ?? []).filter((name) => syscallNumber(native, name) === undefined);
  if (unknown.length > 0) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `${where} names ${unknown.join(", ")}, not a syscall on ${native}`,
    );
  }
  // The probe's event name is its kernel name.
  const reserved = new Set([PROBE_SYSCALL, ...FALCO_STATE_SYSCALLS]);
  const wrong = (names ?? []).filter((name) => reserved.has(name));
  if (wrong.length === 0) return;
  throw new SeccomposeError(
    "SC_CONFIG_INVALID",
    `${where} names ${wrong.join(", ")}: the probe's openat and the syscalls Falco's own state needs (${FALCO_STATE_SYSCALLS.join(", ")}) stay with the main Falco`,
  );
}

/** The NATS password, from `nats.passFile` (a mounted Secret) when given: read at connect time, not at resolve time. */
export async function natsPassword(config: ResolvedAgentConfig): Promise<string | undefined> {
  if (config.nats.passFile === undefined) return config.nats.pass;
  try {
    return (await readFile(config.nats.passFile, "utf8")).trim();
  } catch (err) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `cannot read the NATS password file ${config.nats.passFile}: ${(err as Error).message}`,
    );
  }
}
