import { createHash } from "node:crypto";
import type { WorkloadKey } from "../contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { subjectToken } from "../subjects.ts";

/** `namespace/Kind/name/container`: a stable, human-readable identity for maps and logs. */
export function workloadId(key: WorkloadKey): string {
  return `${key.namespace}/${key.kind}/${key.name}/${key.container}`;
}

/**
 * One NATS subject token / KV key segment for a workload, e.g. `shop_Deployment_web_nginx`.
 * Kubernetes names never contain '_', so it separates the four parts; every character outside
 * [A-Za-z0-9-] (the rare '_', and '.', which would split a subject token) is escaped as `=HH`.
 */
export function workloadToken(key: WorkloadKey): string {
  return [key.namespace, key.kind, key.name, key.container]
    .map((part) => subjectToken(part).replaceAll("_", "=5F"))
    .join("_");
}

export function compareWorkloadKeys(a: WorkloadKey, b: WorkloadKey): number {
  const x = workloadId(a);
  const y = workloadId(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Owner kinds whose lower-case spelling is unambiguous (no two differ only in case). */
const READABLE_KINDS: ReadonlySet<string> = new Set([
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "Job",
  "CronJob",
  "Pod",
  "Command",
]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes label limit: fits SPO SeccompProfile and (with `seccomp-`) ConfigMap names, and file names. */
export const PROFILE_NAME_MAX = 63;
const HASH_CHARS = 10;

/**
 * The name of a workload container's profile: its files, the profile the agents install
 * (`seccompose/<name>.json`) and the SPO/ConfigMap objects. Lower-case DNS-1123, at most 63
 * characters, a pure function of the key (stable across versions: tests pin examples).
 *
 * Readable form `<namespace>.<kind>.<name>.<container>`: namespaces and container names are DNS
 * labels (no '.'), the kind is one of READABLE_KINDS, so only the workload name can hold dots and
 * the four parts can be read back; distinct keys give distinct names. Any other key (a part that
 * is not canonical, an unlisted kind, too long) becomes `<readable prefix without dots>.<hash>`:
 * exactly one dot, so it never equals a readable name, and the hash of the exact key tells apart
 * keys with the same prefix.
 */
export function profileName(key: WorkloadKey): string {
  const kind = key.kind.toLowerCase();
  const readable = `${key.namespace}.${kind}.${key.name}.${key.container}`;
  if (
    DNS_LABEL.test(key.namespace) &&
    READABLE_KINDS.has(key.kind) &&
    DNS_SUBDOMAIN.test(key.name) &&
    DNS_LABEL.test(key.container) &&
    readable.length <= PROFILE_NAME_MAX
  ) {
    return readable;
  }
  const hash = createHash("sha256")
    .update(JSON.stringify([key.namespace, key.kind, key.name, key.container]))
    .digest("hex")
    .slice(0, HASH_CHARS);
  const prefix =
    [key.namespace, kind, key.name, key.container]
      .join("-")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .slice(0, PROFILE_NAME_MAX - HASH_CHARS - 1)
      .replace(/^-+|-+$/g, "") || "profile";
  return `${prefix}.${hash}`;
}

/**
 * Throws SC_PROFILE_NAME_COLLISION when two different workloads would get one profile name, so a
 * caller refuses instead of letting one overwrite the other's file or installed profile.
 */
export function assertDistinctProfileNames(keys: readonly WorkloadKey[]): void {
  const seen = new Map<string, WorkloadKey>();
  for (const key of keys) {
    const name = profileName(key);
    const other = seen.get(name);
    if (other !== undefined && workloadId(other) !== workloadId(key)) {
      throw new SeccomposeError(
        ErrorCodes.SC_PROFILE_NAME_COLLISION,
        `workloads ${workloadId(other)} and ${workloadId(key)} would both get profile name "${name}"; nothing was written`,
        { details: { name, workloads: [workloadId(other), workloadId(key)] } },
      );
    }
    seen.set(name, key);
  }
}
