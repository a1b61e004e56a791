/**
 * How users name a workload container on the command line: its KV token
 * (`shop_Deployment_web_nginx`), its id (`shop/Deployment/web/nginx`), or any unambiguous tail of
 * the id (`web/nginx`, `nginx`).
 */
import type { WorkloadKey } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import type { ProfileStore } from "../cluster/profile-store.ts";

export interface KnownWorkload {
  token: string;
  workload: WorkloadKey;
}

/** The workload a token stands for (inverse of workloadToken); undefined when it is not one. */
export function decodeWorkloadToken(token: string): WorkloadKey | undefined {
  const parts = token.split("_");
  if (parts.length !== 4) return undefined;
  const decoded: string[] = [];
  for (const part of parts) {
    if (!/^([A-Za-z0-9-]|=[0-9A-F]{2})+$/.test(part)) return undefined;
    const bytes: number[] = [];
    for (let i = 0; i < part.length; i++) {
      if (part[i] === "=") {
        bytes.push(parseInt(part.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(part.charCodeAt(i));
    }
    decoded.push(Buffer.from(bytes).toString("utf8"));
  }
  const [namespace, kind, name, container] = decoded as [string, string, string, string];
  return { namespace, kind, name, container };
}

/** The one known workload `query` names; SC_PROFILE_NOT_FOUND or SC_USAGE (ambiguous) otherwise. */
export function resolveWorkload(
  query: string,
  known: readonly KnownWorkload[],
  session: string,
): KnownWorkload {
  const exact = known.find((k) => k.token === query || workloadId(k.workload) === query);
  if (exact !== undefined) return exact;
  const matches = known.filter((k) => workloadId(k.workload).endsWith(`/${query}`));
  if (matches.length === 1) return matches[0]!;
  const list = known.map((k) => workloadId(k.workload)).join(", ") || "none";
  if (matches.length > 1) {
    throw new SeccomposeError(
      "SC_USAGE",
      `"${query}" names ${matches.length} workloads of session ${session}: ${matches.map((m) => workloadId(m.workload)).join(", ")}; give more of namespace/Kind/name/container`,
    );
  }
  throw new SeccomposeError(
    ErrorCodes.SC_PROFILE_NOT_FOUND,
    `session ${session} has no workload "${query}" (workloads: ${list})`,
  );
}

/** The workloads with a stored profile in the session, from the keys alone. */
export async function knownWorkloads(profiles: ProfileStore, session: string): Promise<KnownWorkload[]> {
  const known: KnownWorkload[] = [];
  for (const k of await profiles.keys(session)) {
    if (k.revision !== undefined) continue;
    const workload = decodeWorkloadToken(k.token);
    if (workload !== undefined) known.push({ token: k.token, workload });
  }
  return known;
}

/** `--revision N` (or `@N`): a revision of a continuous session's profile. */
export function parseRevision(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new SeccomposeError("SC_USAGE", `--revision must be a positive integer, not "${value}"`);
  }
  return Number(value);
}
