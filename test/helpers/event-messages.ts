import type { FinMarker, SyscallEventBatch } from "../../lib/contracts/types.ts";

/**
 * A valid batch as an agent sends it: x86_64, nothing dropped, sent now unless `fields` say
 * otherwise.
 */
export function syscallBatch(
  fields: Pick<SyscallEventBatch, "session" | "node" | "seq" | "workloads"> & Partial<SyscallEventBatch>,
): SyscallEventBatch {
  return { schemaVersion: 1, kind: "batch", arch: "x86_64", sentAt: Date.now(), droppedEvents: 0, ...fields };
}

/** A valid FIN announcing `batches`, nothing dropped, sent now unless `fields` say otherwise. */
export function finMarker(
  fields: Pick<FinMarker, "session" | "node" | "batches"> & Partial<FinMarker>,
): FinMarker {
  return { schemaVersion: 1, kind: "fin", sentAt: Date.now(), droppedEvents: 0, ...fields };
}
