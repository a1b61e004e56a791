import { parse as parseYaml } from "yaml";
import type { ProfileDocument } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { argSpecFor } from "../../lib/profile/arg-specs.ts";
import { sourceFromDocument, type ProfileSource } from "../../lib/profile/profile-source.ts";
import { readTextFile } from "../../lib/structured-file.ts";

/** A file given to `seccompose merge`: recorded observations, or a profile someone already rendered. */
export type MergeInput =
  | { kind: "document"; path: string; document: ProfileDocument }
  | { kind: "profile"; path: string; source: ProfileSource };

interface SeccompLike {
  defaultAction?: unknown;
  architectures?: unknown;
  syscalls?: unknown;
}

export async function loadMergeInput(path: string): Promise<MergeInput> {
  const text = await readTextFile(path, "input");
  let value: unknown;
  try {
    value =
      path.endsWith(".yaml") || path.endsWith(".yml")
        ? parseYaml(text, { intAsBigInt: true })
        : JSON.parse(text, bigIntReviver(text));
  } catch (err) {
    throw new SeccomposeError(
      "SC_MERGE_INPUT",
      `${path} is not valid ${path.match(/\.ya?ml$/) ? "YAML" : "JSON"}: ${(err as Error).message}`,
    );
  }
  if (isObject(value) && value.kind === "ProfileDocument") {
    return {
      kind: "document",
      path,
      document: assertValid("profileDocument", value, path, "SC_DOCUMENT_INVALID"),
    };
  }
  if (isObject(value) && value.kind === "SeccompProfile" && isObject(value.spec)) {
    return { kind: "profile", path, source: sourceFromSeccomp(value.spec as SeccompLike, path) };
  }
  if (isObject(value) && "defaultAction" in value) {
    return { kind: "profile", path, source: sourceFromSeccomp(value as SeccompLike, path) };
  }
  throw new SeccomposeError(
    "SC_MERGE_INPUT",
    `${path} is neither a ProfileDocument (seccompose record --observations), an OCI seccomp profile nor an SPO SeccompProfile`,
  );
}

export function sourceOf(input: MergeInput): ProfileSource {
  return input.kind === "document" ? sourceFromDocument(input.document) : input.source;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON numbers above 2^53 (seccomp argument values) are read exactly, from the source text. */
function bigIntReviver(_text: string) {
  return (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" &&
    context?.source &&
    !Number.isSafeInteger(value) &&
    /^\d+$/.test(context.source)
      ? BigInt(context.source)
      : value;
}

/** Default actions that refuse what no rule allows: only such profiles are allow-lists. */
const DENYING_DEFAULTS: ReadonlySet<string> = new Set([
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
]);

/**
 * Throws SC_MERGE_INPUT unless the profile denies by default. A merge yields an allow-list; an
 * allow-by-default (or log-by-default) input lists what it forbids, and reading its rules as an
 * allow-list would turn it into the opposite profile.
 */
function checkDenyByDefault(defaultAction: unknown, path: string): void {
  if (typeof defaultAction === "string" && DENYING_DEFAULTS.has(defaultAction)) return;
  const allows = defaultAction === "SCMP_ACT_ALLOW" || defaultAction === "SCMP_ACT_LOG";
  throw new SeccomposeError(
    "SC_MERGE_INPUT",
    allows
      ? `${path} allows every syscall by default (defaultAction ${defaultAction}); seccompose merges allow-lists (a denying defaultAction such as SCMP_ACT_ERRNO), so it cannot merge this profile without reversing its meaning`
      : `${path}: defaultAction ${JSON.stringify(defaultAction)} is not one seccompose can merge; use SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD or SCMP_ACT_TRAP`,
  );
}

/**
 * What an existing profile allows, as a source. Only ALLOW rules count; an argument rule is taken
 * when it has the shape seccompose writes for that syscall, since anything else cannot be united
 * without either loosening or misreading it.
 */
export function sourceFromSeccomp(profile: SeccompLike, path: string): ProfileSource {
  checkDenyByDefault(profile.defaultAction, path);
  if (!Array.isArray(profile.syscalls))
    throw new SeccomposeError("SC_MERGE_INPUT", `${path}: "syscalls" must be an array`);
  const architectures = Array.isArray(profile.architectures) ? profile.architectures.map(String) : [];
  const syscalls: Array<{ name: string; argTuples: string[][] | null }> = [];
  const argSyscalls = new Set<string>();
  profile.syscalls.forEach((rule: unknown, i: number) => {
    if (!isObject(rule) || !Array.isArray(rule.names)) {
      throw new SeccomposeError("SC_MERGE_INPUT", `${path}: syscalls[${i}] has no "names" list`);
    }
    // A LOG rule lets the call through too (and logs it): dropping it would deny what the input allows.
    if (rule.action !== "SCMP_ACT_ALLOW" && rule.action !== "SCMP_ACT_LOG") return;
    const args = Array.isArray(rule.args) ? rule.args : [];
    for (const name of rule.names.map(String)) {
      if (args.length === 0) {
        syscalls.push({ name, argTuples: null });
        continue;
      }
      const spec = argSpecFor(name);
      const tuple = spec?.map((cond, k) => {
        const arg = args[k] as Record<string, unknown> | undefined;
        const datum = cond.op === "SCMP_CMP_MASKED_EQ" ? arg?.valueTwo : arg?.value;
        const sameShape =
          arg?.index === cond.index &&
          arg.op === cond.op &&
          (cond.mask === undefined || BigInt(arg.value as number) === cond.mask);
        return sameShape && datum !== undefined ? BigInt(datum as number).toString() : undefined;
      });
      if (!spec || args.length !== spec.length || !tuple || tuple.some((v) => v === undefined)) {
        throw new SeccomposeError(
          "SC_MERGE_INPUT",
          `${path}: syscalls[${i}] restricts ${name} by arguments in a way seccompose does not generate; merge it by hand`,
        );
      }
      argSyscalls.add(name);
      syscalls.push({ name, argTuples: [tuple as string[]] });
    }
  });
  return { architectures, syscalls, argSyscalls: [...argSyscalls] };
}
