import { createRequire } from "node:module";
import type * as YamlModule from "yaml";
import { SeccomposeError } from "../errors.ts";
import type { WorkloadKey } from "../contracts/types.ts";
import { nonReturningSyscalls } from "../syscalls/non-returning.ts";
import { isKnownOn } from "../syscalls/tables.ts";
import { argSpecFor } from "./arg-specs.ts";
import { BASELINES, type Baseline } from "./baselines.ts";
import { compareTuples } from "./document.ts";
import { toJsonText } from "./json.ts";
import type { ProfileSource } from "./profile-source.ts";
import { profileName, workloadId } from "./workload-key.ts";

export type DefaultAction =
  "SCMP_ACT_ERRNO" | "SCMP_ACT_LOG" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP";

export interface RenderOptions {
  /** Default SCMP_ACT_ERRNO; ignored when `complain` is set. */
  defaultAction?: DefaultAction;
  /** Errno for SCMP_ACT_ERRNO; default 1 (EPERM). */
  defaultErrnoRet?: number;
  /** Log instead of deny what the profile does not allow (SCMP_ACT_LOG). */
  complain?: boolean;
  /** Syscalls the container runtime needs after installing the filter; default runc. */
  baseline?: Baseline;
  /**
   * Architectures whose tables check the names when the source names none (a hand-written
   * profile without `architectures` filters only the runtime's native one). Without either,
   * names could not be checked at all.
   */
  fallbackArchitectures?: readonly string[];
}

export interface OciSeccompArg {
  index: number;
  value: bigint;
  valueTwo?: bigint;
  op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ";
}

export interface OciSeccompRule {
  names: string[];
  action: "SCMP_ACT_ALLOW";
  args?: OciSeccompArg[];
}

/** Plain OCI `linux.seccomp` (runtime-spec): no Docker archMap/includes, so every runtime loads it. */
export interface OciSeccompProfile {
  defaultAction: DefaultAction;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

export interface RenderResult {
  profile: OciSeccompProfile;
  /** Observed names that no target architecture knows: reported, never emitted. */
  unknownSyscalls: string[];
  /** Names added although not observed: baseline and syscalls that never return. */
  impliedSyscalls: string[];
  warnings: string[];
}

const EPERM = 1;

export function renderOciProfile(source: ProfileSource, options: RenderOptions = {}): RenderResult {
  const arches = [...source.architectures];
  const checkArches = arches.length > 0 ? arches : [...(options.fallbackArchitectures ?? [])];
  const warnings: string[] = [];
  const defaultAction: DefaultAction = options.complain
    ? "SCMP_ACT_LOG"
    : (options.defaultAction ?? "SCMP_ACT_ERRNO");
  const baseline = BASELINES[options.baseline ?? "runc"];

  const unconditional = new Set<string>();
  const conditional = new Map<string, ReadonlyArray<readonly string[]>>();
  const unknown = new Set<string>();
  const observed = new Set<string>();
  for (const { name, argTuples } of source.syscalls) {
    observed.add(name);
    if (checkArches.length > 0 && !isKnownOn(name, checkArches)) {
      unknown.add(name);
      continue;
    }
    if (argTuples === null) {
      unconditional.add(name);
      if (source.argSyscalls.includes(name)) {
        warnings.push(
          `${name}: some calls were recorded without their arguments, so it is allowed with any arguments`,
        );
      }
    } else {
      conditional.set(name, argTuples);
    }
  }

  const implied = new Set<string>();
  for (const name of [...baseline, ...nonReturningSyscalls(checkArches)]) {
    if (unconditional.has(name) || (checkArches.length > 0 && !isKnownOn(name, checkArches))) continue;
    if (conditional.has(name)) {
      warnings.push(
        `${name}: the ${options.baseline ?? "runc"} baseline needs it with any arguments, so its argument rules are dropped`,
      );
      conditional.delete(name);
    }
    unconditional.add(name);
    if (!observed.has(name)) implied.add(name);
  }

  const rules: OciSeccompRule[] = [];
  if (unconditional.size > 0) rules.push({ names: [...unconditional].sort(), action: "SCMP_ACT_ALLOW" });
  rules.push(...conditionalRules(conditional));

  // Built in this key order so the JSON text reads like the runtime-spec examples.
  const profile: OciSeccompProfile =
    defaultAction === "SCMP_ACT_ERRNO"
      ? {
          defaultAction,
          defaultErrnoRet: options.defaultErrnoRet ?? EPERM,
          architectures: arches,
          syscalls: rules,
        }
      : { defaultAction, architectures: arches, syscalls: rules };
  return {
    profile,
    unknownSyscalls: [...unknown].sort(),
    impliedSyscalls: [...implied].sort(),
    warnings,
  };
}

/** One rule per distinct argument tuple; syscalls with identical conditions share a rule (OR of rules). */
function conditionalRules(conditional: Map<string, ReadonlyArray<readonly string[]>>): OciSeccompRule[] {
  const byConditions = new Map<string, { names: string[]; args: OciSeccompArg[] }>();
  for (const [name, tuples] of conditional) {
    const spec = argSpecFor(name);
    if (!spec) continue;
    for (const tuple of [...tuples].sort(compareTuples)) {
      const args: OciSeccompArg[] = spec.map((cond, i) => {
        const value = BigInt(tuple[i]!);
        return cond.op === "SCMP_CMP_MASKED_EQ"
          ? { index: cond.index, value: cond.mask!, valueTwo: value, op: cond.op }
          : { index: cond.index, value, op: cond.op };
      });
      const key = args.map((a) => `${a.index}:${a.op}:${a.value}:${a.valueTwo ?? ""}`).join("|");
      const group = byConditions.get(key) ?? { names: [], args };
      group.names.push(name);
      byConditions.set(key, group);
    }
  }
  return [...byConditions.values()]
    .map((g) => ({ names: g.names.sort(), action: "SCMP_ACT_ALLOW" as const, args: g.args }))
    .sort((a, b) => compareRules(a, b));
}

function compareRules(a: OciSeccompRule, b: OciSeccompRule): number {
  const x = a.names.join(",");
  const y = b.names.join(",");
  if (x !== y) return x < y ? -1 : 1;
  const ax = a.args ?? [];
  const bx = b.args ?? [];
  for (let i = 0; i < Math.min(ax.length, bx.length); i++) {
    const d = (ax[i]!.valueTwo ?? ax[i]!.value) - (bx[i]!.valueTwo ?? bx[i]!.value);
    if (d !== 0n) return d < 0n ? -1 : 1;
  }
  return ax.length - bx.length;
}

export function ociProfileJson(profile: OciSeccompProfile): string {
  return toJsonText(profile);
}

const INT64_MAX = (1n << 63n) - 1n;

/**
 * A Security Profiles Operator `SeccompProfile` (v1). SPO's CRD types argument values as int64,
 * so a value of 2^63 or more cannot be expressed, and its spec has no default errno (runtimes
 * then use EPERM): both are reported, not silently changed.
 */
export function spoProfileYaml(
  profile: OciSeccompProfile,
  meta: { workload: WorkloadKey; session?: string; name?: string },
): string {
  if (profile.defaultErrnoRet !== undefined && profile.defaultErrnoRet !== EPERM) {
    throw new SeccomposeError(
      "SC_RENDER_UNSUPPORTED",
      `SPO's SeccompProfile cannot carry defaultErrnoRet ${profile.defaultErrnoRet} (only EPERM); use --format oci`,
    );
  }
  for (const rule of profile.syscalls) {
    for (const arg of rule.args ?? []) {
      if (arg.value > INT64_MAX || (arg.valueTwo ?? 0n) > INT64_MAX) {
        throw new SeccomposeError(
          "SC_RENDER_UNSUPPORTED",
          `${rule.names.join(",")}: argument value ${arg.valueTwo ?? arg.value} exceeds the int64 range of SPO's SeccompProfile; use --format oci`,
        );
      }
    }
  }
  const annotations: Record<string, string> = {
    "seccompose.dev/workload": workloadId(meta.workload),
  };
  if (meta.session) annotations["seccompose.dev/session"] = meta.session;
  const doc = {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SeccompProfile",
    metadata: {
      name: meta.name ?? profileName(meta.workload),
      labels: { "app.kubernetes.io/managed-by": "seccompose" },
      annotations,
    },
    spec: {
      defaultAction: profile.defaultAction,
      architectures: profile.architectures,
      syscalls: profile.syscalls.map((r) => ({
        action: r.action,
        names: r.names,
        ...(r.args ? { args: r.args.map((a) => ({ ...a })) } : {}),
      })),
    },
  };
  return yaml().stringify(doc, { sortMapEntries: false, lineWidth: 0 });
}

// Loaded on first use: the yaml package takes about 25 ms to load, which `seccompose record`
// writing OCI JSON (the default) need not pay.
let yamlModule: typeof YamlModule | undefined;
const yaml = () => (yamlModule ??= createRequire(import.meta.url)("yaml") as typeof YamlModule);
