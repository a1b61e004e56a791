/**
 * What `seccompose start` records and how, from its three sources: flags override the session file
 * (`-f session.yaml`), which overrides the user defaults (`seccompose config`).
 */
import { randomBytes } from "node:crypto";
import type { CliConfig, SessionFile, SessionRecord } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { validateArgSyscalls } from "../../lib/profile/arg-specs.ts";
import { layered } from "../config/user-config.ts";
import { parseBaseline } from "../profile-output.ts";
import { parseDuration } from "../output.ts";
import { readYamlFile } from "../../lib/structured-file.ts";
import { listItems } from "../../lib/list-items.ts";

export type DefaultAction = NonNullable<SessionRecord["profile"]["defaultAction"]>;

/** The schema's SessionId: one NATS subject token. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

const DEFAULT_ACTIONS: readonly DefaultAction[] = [
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_LOG",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
];

export interface StartFlags {
  namespace?: string[];
  selector?: string;
  pod?: string[];
  container?: string[];
  args?: string;
  continuous?: boolean;
  file?: string;
  id?: string;
  baseline?: string;
  complain?: boolean;
  defaultAction?: string;
  convergenceWindow?: string;
}

/** Reads and validates a session file; YAML errors name the line, schema errors the field. */
export async function readSessionFile(path: string): Promise<SessionFile> {
  return assertValid("sessionFile", await readYamlFile(path, "session file"), path, "SC_CONFIG_INVALID");
}

/** A subject-safe id: `s-<UTC date and time>-<random>`, e.g. s-20250115-103000-3f9a. */
export function generateSessionId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `s-${stamp}-${randomBytes(2).toString("hex")}`;
}

function defaultActionOf(flags: StartFlags, file: SessionFile, config: CliConfig): DefaultAction | undefined {
  if (flags.complain && flags.defaultAction !== undefined && flags.defaultAction !== "SCMP_ACT_LOG") {
    throw new SeccomposeError(
      "SC_USAGE",
      `--complain means SCMP_ACT_LOG; it contradicts --default-action ${flags.defaultAction}`,
    );
  }
  const flag = flags.complain ? "SCMP_ACT_LOG" : flags.defaultAction;
  if (flag !== undefined && !DEFAULT_ACTIONS.includes(flag as DefaultAction)) {
    throw new SeccomposeError(
      "SC_USAGE",
      `--default-action must be one of ${DEFAULT_ACTIONS.join(", ")}, not "${flag}"`,
    );
  }
  return (flag as DefaultAction | undefined) ?? file.defaultAction ?? config.defaultAction;
}

const list = (values: string[] | undefined): string[] | undefined =>
  values !== undefined && values.length > 0 ? [...new Set(values)] : undefined;

/** The SessionRecord to write: desired state "running", no expected nodes yet. */
export function buildSessionRecord(
  flags: StartFlags,
  file: SessionFile,
  config: CliConfig,
  now = new Date(),
): SessionRecord {
  const id = layered(flags.id, file.id, undefined, generateSessionId(now));
  if (!SESSION_ID.test(id)) {
    throw new SeccomposeError(
      "SC_USAGE",
      `session id "${id}" may only contain letters, digits, '_' and '-' (at most 64): it becomes a NATS subject token`,
    );
  }
  const fileTargets = file.targets ?? {};
  const targets: SessionRecord["targets"] = {};
  const namespaces = list(flags.namespace) ?? fileTargets.namespaces;
  const labelSelector = flags.selector ?? fileTargets.labelSelector;
  const pods = list(flags.pod) ?? fileTargets.pods;
  const containers = list(flags.container) ?? fileTargets.containers;
  if (namespaces?.length) targets.namespaces = namespaces;
  if (labelSelector) targets.labelSelector = labelSelector;
  if (pods?.length) targets.pods = pods;
  if (containers?.length) targets.containers = containers;

  const argSyscalls = validateArgSyscalls(
    flags.args !== undefined ? listItems(flags.args) : (file.args ?? []),
  );
  const baseline =
    flags.baseline !== undefined ? parseBaseline(flags.baseline) : (file.baseline ?? config.baseline);
  const defaultAction = defaultActionOf(flags, file, config);
  const profile: SessionRecord["profile"] = {};
  if (defaultAction !== undefined) profile.defaultAction = defaultAction;
  if (file.defaultErrnoRet !== undefined) profile.defaultErrnoRet = file.defaultErrnoRet;
  if (baseline !== undefined) profile.baseline = baseline;
  if (argSyscalls.length > 0) profile.argSyscalls = argSyscalls;

  const mode = flags.continuous ? "continuous" : (file.mode ?? "oneshot");
  const record: SessionRecord = {
    schemaVersion: 1,
    id,
    mode,
    state: "running",
    createdAt: now.toISOString(),
    targets,
    profile,
  };
  if (mode === "continuous") {
    const continuous: NonNullable<SessionRecord["continuous"]> = { ...file.continuous };
    if (flags.convergenceWindow !== undefined) {
      continuous.convergenceWindowSeconds = Math.max(
        1,
        Math.round(parseDuration(flags.convergenceWindow, "--convergence-window") / 1000),
      );
    }
    if (Object.keys(continuous).length > 0) record.continuous = continuous;
  } else if (flags.convergenceWindow !== undefined) {
    throw new SeccomposeError(
      "SC_USAGE",
      "--convergence-window applies to continuous sessions only (--continuous)",
    );
  }
  return assertValid("sessionRecord", record, "the session to start", "SC_USAGE");
}

/** `namespaces=shop,web selector=app=web pods=... containers=...`, or "everything". */
export function describeTargets(targets: SessionRecord["targets"]): string {
  const parts: string[] = [];
  if (targets.namespaces?.length) parts.push(`namespaces=${targets.namespaces.join(",")}`);
  if (targets.labelSelector) parts.push(`selector=${targets.labelSelector}`);
  if (targets.pods?.length) parts.push(`pods=${targets.pods.join(",")}`);
  if (targets.containers?.length) parts.push(`containers=${targets.containers.join(",")}`);
  return parts.length > 0 ? parts.join(" ") : "every container on every node";
}
