/**
 * Partitions of the event stream. A session's events go to one partition, chosen when the session
 * starts from a stable hash of its id and stored in its record, so agents, aggregators and the CLI
 * never have to agree on a hash function later. The partition count is fixed per stream: it is the
 * number of subjects of stream SC_EVENTS (`sc.ev.<p>.*.*` for p = 0..P-1), which anyone allowed to
 * read the stream's info can see.
 */
import type { SessionRecord } from "./contracts/types.ts";
import { LEGACY_EVENT_SUBJECTS, partitionSubjects } from "./subjects.ts";

export const MAX_PARTITIONS = 64;

/** FNV-1a (32 bits) of the session id, modulo the partition count. */
export function partitionOf(session: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(session, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** The partition of a session; records written before partitions have none and are in partition 0. */
export function recordPartition(record: Pick<SessionRecord, "partition">): number {
  return record.partition ?? 0;
}

/** The stream subjects of `partitions` partitions, in order. */
export function streamSubjects(partitions: number): string[] {
  return Array.from({ length: partitions }, (_, p) => partitionSubjects(p));
}

/**
 * What a stream's subjects say: its partition count, "legacy" for the stream of aggregators before
 * partitions, or undefined for subjects seccompose did not write.
 */
export function partitionsOfStream(subjects: readonly string[]): number | "legacy" | undefined {
  if (subjects.length === 1 && subjects[0] === LEGACY_EVENT_SUBJECTS) return "legacy";
  if (subjects.length === 0 || subjects.length > MAX_PARTITIONS) return undefined;
  return subjects.every((s, p) => s === partitionSubjects(p)) ? subjects.length : undefined;
}
