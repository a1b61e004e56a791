/**
 * Deterministic synthetic recordings for the aggregator's integration tests and benchmarks: what
 * agents on several nodes would send for a session, with real x86_64 syscall names, cumulative
 * counts per node, argument tuples for socket(2), and each node's FIN.
 */
import type { FinMarker, SyscallEventBatch, WorkloadKey } from "../../lib/contracts/types.ts";
import { syscallNames } from "../../lib/syscalls/tables.ts";

export interface RecordingSpec {
  session: string;
  nodes: readonly string[];
  batchesPerNode: number;
  /** Workload containers in every batch. */
  workloads: number;
  /** Events per workload per batch. */
  eventsPerWorkload: number;
  /** Distinct syscalls a workload draws from. */
  syscallsPerWorkload?: number;
  seed?: number;
}

export interface Recording {
  /** Per node, in batch order; nodes one after the other. */
  batches: SyscallEventBatch[];
  fins: FinMarker[];
  events: number;
}

const T0 = 1_764_000_000_000;
const NAMES = syscallNames("SCMP_ARCH_X86_64").filter((n) => n !== "socket");

export function fixtureWorkload(i: number): WorkloadKey {
  return { namespace: `team-${i % 3}`, kind: "Deployment", name: `app-${i}`, container: "main" };
}

/** The batches of a recording, generated one at a time (node after node, in batch order). */
export function* recordingBatches(spec: RecordingSpec): Generator<SyscallEventBatch> {
  let x = spec.seed ?? 1;
  const rand = (n: number) => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
  const pool = spec.syscallsPerWorkload ?? 80;
  const workloads = Array.from({ length: spec.workloads }, (_, i) => fixtureWorkload(i));
  for (const node of spec.nodes) {
    const cumulative = new Map<string, number>();
    for (let seq = 1; seq <= spec.batchesPerNode; seq++) {
      const sentAt = T0 + seq * 1000;
      yield {
        schemaVersion: 1,
        kind: "batch",
        session: spec.session,
        node,
        arch: "x86_64",
        seq,
        sentAt,
        droppedEvents: seq >> 4,
        workloads: workloads.map((workload, w) => ({
          workload,
          pod: `${workload.name}-${node}`,
          syscalls: Array.from({ length: spec.eventsPerWorkload }, () => {
            const pick = rand(pool + 1);
            const name = pick === pool ? "socket" : NAMES[(w * 7 + pick) % NAMES.length]!;
            const args = name === "socket" ? [String([1, 2, 10, 16][rand(4)])] : undefined;
            const key = `${w}/${name}/${args ?? ""}`;
            const count = (cumulative.get(key) ?? 0) + 1 + rand(50);
            cumulative.set(key, count);
            return { name, count, firstSeen: sentAt - rand(1000), ...(args ? { args } : {}) };
          }),
        })),
      };
    }
  }
}

export function recordingFins(spec: RecordingSpec): FinMarker[] {
  return spec.nodes.map((node) => ({
    schemaVersion: 1,
    kind: "fin",
    session: spec.session,
    node,
    batches: spec.batchesPerNode,
    sentAt: T0 + (spec.batchesPerNode + 1) * 1000,
    droppedEvents: spec.batchesPerNode >> 4,
  }));
}

export function recordingEvents(spec: RecordingSpec): number {
  return spec.nodes.length * spec.batchesPerNode * spec.workloads * spec.eventsPerWorkload;
}

export function syntheticRecording(spec: RecordingSpec): Recording {
  return { batches: [...recordingBatches(spec)], fins: recordingFins(spec), events: recordingEvents(spec) };
}
