import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import type { AgentConfig } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { readYamlMapping } from "../../lib/structured-file.ts";
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

interface AgentFlags {
  config?: string;
  nodeName?: string;
  natsUrl?: string[];
  natsUser?: string;
  natsPass?: string;
  natsPassFile?: string;
  natsToken?: string;
  natsCreds?: string;
  natsNkeyFile?: string;
  stateDir?: string;
  httpPort?: string;
  logLevel?: string;
  falcoBinary?: string;
  falcoArg?: string[];
  falcoConfigDir?: string;
  alertFormat?: string;
  podsFile?: string;
  kubeconfig?: string;
  seccompDir?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function agentCommand(): Command {
  return new Command("seccompose-agent")
    .description("seccompose node agent: supervises Falco and publishes this node's syscall observations")
    .option("-c, --config <file>", "YAML or JSON config file (schemas/agent-config.schema.json)")
    .option(
      "--node-name <name>",
      "this node's name (env NODE_NAME or SECCOMPOSE_NODE_NAME; default: host name)",
    )
    .option(
      "--nats-url <url>",
      "NATS server URL, repeatable (env SECCOMPOSE_NATS_URL, comma-separated)",
      collect,
    )
    .option("--nats-user <user>")
    .option("--nats-pass <password>")
    .option("--nats-pass-file <file>", "file holding the NATS password (env SECCOMPOSE_NATS_PASS_FILE)")
    .option("--nats-token <token>")
    .option("--nats-creds <file>", "NATS credentials file")
    .option(
      "--nats-nkey-file <file>",
      "this node's NKey user seed, created by enrollment; replaces user and password (env SECCOMPOSE_NATS_NKEY_FILE)",
    )
    .option("--state-dir <dir>", `local record and spool (default ${AGENT_DEFAULTS.stateDir})`)
    .option("--http-port <port>", `health and metrics port (default ${AGENT_DEFAULTS.httpPort})`)
    .option("--log-level <level>", "fatal, error, warn, info, debug or trace")
    .option("--falco-binary <path>", `Falco executable (default ${AGENT_DEFAULTS.falcoBinary})`)
    .option("--falco-arg <arg>", "argument placed before Falco's own, repeatable", collect)
    .option(
      "--falco-config-dir <dir>",
      "where the generated falco.yaml and rules go (default <state-dir>/falco)",
    )
    .option("--alert-format <format>", "json or compact (default compact)")
    .option("--pods-file <file>", "pods on this node, when not running in Kubernetes")
    .option("--kubeconfig <file>", "kubeconfig for the pod watch (default: in-cluster)")
    .option("--seccomp-dir <dir>", "where installed profiles go (env SECCOMPOSE_SECCOMP_DIR)")
    .exitOverride();
}

function envList(value: string | undefined): string[] | undefined {
  return value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new SeccomposeError("SC_CONFIG_INVALID", `${what} must be a whole number, got "${value}"`);
  return Number(value);
}

/**
 * The agent's configuration: the file, then environment variables, then flags, each overriding
 * the one before; validated against schemas/agent-config.schema.json and completed with defaults.
 */
export async function resolveAgentConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<ResolvedAgentConfig> {
  const flags = agentCommand().parse(argv, { from: "user" }).opts<AgentFlags>();
  const file = flags.config ? await readYamlMapping(flags.config, "config file") : {};
  const fileNats = (file.nats ?? {}) as Record<string, unknown>;
  const fileFalco = (file.falco ?? {}) as Record<string, unknown>;
  const fileBatch = (file.batch ?? {}) as Record<string, unknown>;
  const pick = <T>(...values: Array<T | undefined>): T | undefined => values.find((v) => v !== undefined);

  const stateDir =
    pick(flags.stateDir, env.SECCOMPOSE_STATE_DIR, file.stateDir as string) ?? AGENT_DEFAULTS.stateDir;
  const nats = Object.fromEntries(
    Object.entries({
      servers: pick(flags.natsUrl, envList(env.SECCOMPOSE_NATS_URL), fileNats.servers as string[]),
      user: pick(flags.natsUser, env.SECCOMPOSE_NATS_USER, fileNats.user as string),
      pass: pick(flags.natsPass, env.SECCOMPOSE_NATS_PASS, fileNats.pass as string),
      passFile: pick(flags.natsPassFile, env.SECCOMPOSE_NATS_PASS_FILE, fileNats.passFile as string),
      token: pick(flags.natsToken, env.SECCOMPOSE_NATS_TOKEN, fileNats.token as string),
      credsFile: pick(flags.natsCreds, env.SECCOMPOSE_NATS_CREDS, fileNats.credsFile as string),
      nkeyFile: pick(flags.natsNkeyFile, env.SECCOMPOSE_NATS_NKEY_FILE, fileNats.nkeyFile as string),
    }).filter(([, v]) => v !== undefined),
  );
  const alongsideNkey = ["user", "pass", "passFile", "token", "credsFile"].filter((k) => k in nats);
  if ("nkeyFile" in nats && alongsideNkey.length > 0) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `the NKey seed file (--nats-nkey-file, SECCOMPOSE_NATS_NKEY_FILE, nats.nkeyFile) is the agent's NATS login; it cannot be combined with nats.${alongsideNkey.join(", nats.")}`,
    );
  }
  const candidate = {
    ...file,
    nodeName:
      pick(flags.nodeName, env.SECCOMPOSE_NODE_NAME, env.NODE_NAME, file.nodeName as string) ?? hostname(),
    nats: { servers: [], ...nats },
    stateDir,
    httpPort:
      pick(
        int(flags.httpPort, "--http-port"),
        int(env.SECCOMPOSE_HTTP_PORT, "SECCOMPOSE_HTTP_PORT"),
        file.httpPort as number,
      ) ?? AGENT_DEFAULTS.httpPort,
    logLevel:
      pick(flags.logLevel, env.SECCOMPOSE_LOG_LEVEL, file.logLevel as string) ?? AGENT_DEFAULTS.logLevel,
    falco: {
      ...fileFalco,
      binary:
        pick(flags.falcoBinary, env.SECCOMPOSE_FALCO_BINARY, fileFalco.binary as string) ??
        AGENT_DEFAULTS.falcoBinary,
      args: pick(flags.falcoArg, fileFalco.args as string[]) ?? [],
      configDir: pick(flags.falcoConfigDir, fileFalco.configDir as string) ?? join(stateDir, "falco"),
      alertFormat:
        pick(flags.alertFormat, env.SECCOMPOSE_ALERT_FORMAT, fileFalco.alertFormat as string) ??
        AGENT_DEFAULTS.alertFormat,
      restartBackoffMs: (fileFalco.restartBackoffMs as number[]) ?? [...AGENT_DEFAULTS.restartBackoffMs],
      ...hotSyscallsFromEnv(env.SECCOMPOSE_FALCO_HOT_SYSCALLS),
    },
    batch: {
      flushIntervalMs: AGENT_DEFAULTS.flushIntervalMs,
      maxEvents: AGENT_DEFAULTS.maxEvents,
      maxInFlight: AGENT_DEFAULTS.maxInFlight,
      spoolMaxBytes: AGENT_DEFAULTS.spoolMaxBytes,
      ...fileBatch,
    },
    holdUnknownMs: (file.holdUnknownMs as number) ?? AGENT_DEFAULTS.holdUnknownMs,
    ...(file.sessions !== undefined ? { sessions: file.sessions as AgentConfig["sessions"] } : {}),
    ...(pick(flags.podsFile, env.SECCOMPOSE_PODS_FILE, file.podsFile as string) !== undefined
      ? { podsFile: pick(flags.podsFile, env.SECCOMPOSE_PODS_FILE, file.podsFile as string) }
      : {}),
    ...(pick(flags.seccompDir, env.SECCOMPOSE_SECCOMP_DIR, file.seccompDir as string) !== undefined
      ? { seccompDir: pick(flags.seccompDir, env.SECCOMPOSE_SECCOMP_DIR, file.seccompDir as string) }
      : {}),
    ...(pick(flags.kubeconfig, env.KUBECONFIG, file.kubeconfig as string) !== undefined
      ? { kubeconfig: pick(flags.kubeconfig, env.KUBECONFIG, file.kubeconfig as string) }
      : {}),
  };
  if ((candidate.nats.servers as string[]).length === 0) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      "no NATS server given: use --nats-url, SECCOMPOSE_NATS_URL or nats.servers in the config file",
    );
  }
  // Replies to the agent's own requests (JetStream API calls) come to an inbox only it may read.
  const withInbox = { inboxPrefix: `_INBOX.agent.${subjectToken(candidate.nodeName)}`, ...candidate };
  const valid = assertValid(
    "agentConfig",
    withInbox,
    flags.config ? `agent config (${flags.config}, environment and flags)` : "agent environment and flags",
    "SC_CONFIG_INVALID",
  ) as ResolvedAgentConfig;
  checkHotSyscalls(
    valid.falco.hotSyscalls?.syscalls,
    env.SECCOMPOSE_FALCO_HOT_SYSCALLS?.trim()
      ? "SECCOMPOSE_FALCO_HOT_SYSCALLS"
      : `falco.hotSyscalls.syscalls${flags.config === undefined ? "" : ` in ${flags.config}`}`,
  );
  return valid;
}

/**
 * `SECCOMPOSE_FALCO_HOT_SYSCALLS` (the DaemonSet has no config file): `on` for the default hot
 * syscalls, `off`, or the hot syscalls themselves, comma-separated; it replaces the file's.
 */
function hotSyscallsFromEnv(value: string | undefined): { hotSyscalls?: unknown } {
  if (value === undefined || value.trim() === "") return {};
  const text = value.trim();
  if (text === "on") return { hotSyscalls: { enabled: true } };
  if (text === "off") return { hotSyscalls: { enabled: false } };
  return { hotSyscalls: { enabled: true, syscalls: envList(text) } };
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
