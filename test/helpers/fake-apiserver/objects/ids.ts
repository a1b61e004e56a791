/** Stable ids, hashes and times for the objects the factories build, so tests can name them up front. */
import { createHash } from "node:crypto";
import { SUFFIX_ALPHABET } from "../json.ts";

/** A stable UUID for an object, so owners and their dependents agree without a lookup. */
export function uidFor(kind: string, namespace: string | undefined, name: string): string {
  const h = createHash("sha256")
    .update(`${kind}/${namespace ?? ""}/${name}`)
    .digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A stable 64-hex container id, as containerd reports it. */
export function containerIdFor(pod: string, container: string): string {
  return createHash("sha256").update(`${pod}/${container}`).digest("hex");
}

/** The pod-template-hash a Deployment gives its ReplicaSet (stable per deployment name). */
export function templateHashFor(deployment: string): string {
  const digest = createHash("sha256").update(deployment).digest();
  let out = "";
  for (let i = 0; i < 10; i++) out += SUFFIX_ALPHABET[digest[i]! % SUFFIX_ALPHABET.length];
  return out;
}

/** The creation time of every object the factories build. */
export const CREATED = "2025-01-15T10:00:00Z";

/** The Job name a CronJob creates (its scheduled time in minutes). */
export const CRONJOB_JOB_SUFFIX = "28950000";
