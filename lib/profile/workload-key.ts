import type { WorkloadKey } from "../contracts/types.ts";
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
