import type { SyscallEventBatch, WorkloadKey } from "../contracts/types.ts";
import { workloadId } from "./workload-key.ts";

/** What one node contributed to a workload: its architecture and the events Falco lost there. */
export interface NodeContribution {
  arch: string;
  droppedEvents: number;
}

/**
 * Everything seen of one syscall in one workload. Counts are cumulative per node and merge by
 * maximum (a grow-only counter), so merging the same data twice, or in any order, changes nothing.
 */
export interface SyscallStats {
  readonly counts: Map<string, number>;
  /** Milliseconds since the epoch; merges by minimum. */
  firstSeen: number;
  /** Distinct recorded argument tuples, keyed by their joined values; merges by union. */
  readonly argTuples: Map<string, readonly string[]>;
  /** Set when a call was seen whose arguments were not recorded: the syscall cannot be restricted by argument. */
  anyArgs: boolean;
}

export class WorkloadObservations {
  readonly key: WorkloadKey;
  readonly nodes = new Map<string, NodeContribution>();
  readonly syscalls = new Map<string, SyscallStats>();

  constructor(key: WorkloadKey) {
    this.key = key;
  }

  noteNode(node: string, arch: string, droppedEvents: number): void {
    const known = this.nodes.get(node);
    if (!known) this.nodes.set(node, { arch, droppedEvents });
    else if (droppedEvents > known.droppedEvents) known.droppedEvents = droppedEvents;
  }

  /**
   * Books one observation: `count` is the cumulative count for this (syscall, args) tuple of one
   * contribution: a node, or one container on it (`source`), since two replicas of a workload on
   * one node count separately and must add up, not merge by maximum.
   * `args` undefined means the call's arguments were not recorded.
   */
  observe(
    node: string,
    syscall: string,
    count: number,
    firstSeen: number,
    args?: readonly string[],
    source?: string,
  ): void {
    this.observeAs(contributorKey(node, source), syscall, count, firstSeen, args);
  }

  /**
   * `observe` for a contributor key made once (contributorKey) for many events, and their count
   * key when the caller made it already: on the aggregator's hot path, building the key per
   * event (node and a 64-character container id) took a third of the merge's time.
   */
  observeAs(
    contributor: string,
    syscall: string,
    count: number,
    firstSeen: number,
    args?: readonly string[],
    key: string = tupleCountKey(contributor, args),
  ): void {
    let stats = this.syscalls.get(syscall);
    if (stats === undefined) {
      stats = { counts: new Map(), firstSeen, argTuples: new Map(), anyArgs: false };
      this.syscalls.set(syscall, stats);
    } else if (firstSeen < stats.firstSeen) {
      stats.firstSeen = firstSeen;
    }
    if (args === undefined) stats.anyArgs = true;
    else {
      const tupleKey = args.join(",");
      if (!stats.argTuples.has(tupleKey)) stats.argTuples.set(tupleKey, args);
    }
    const previous = stats.counts.get(key);
    if (previous === undefined || count > previous) stats.counts.set(key, count);
  }

  /**
   * Raises the count of a tuple this contributor has already (`key` from tupleCountKey), the
   * common case of a merge (count updates, the exact counts at stop), without the lookups and
   * joins a first observation needs; false when the tuple is new, for `observeAs` to book. A known
   * count key implies its argument tuple or `anyArgs` is booked already.
   */
  raiseKnown(syscall: string, key: string, count: number, firstSeen: number): boolean {
    const stats = this.syscalls.get(syscall);
    if (stats === undefined) return false;
    const previous = stats.counts.get(key);
    if (previous === undefined) return false;
    if (count > previous) stats.counts.set(key, count);
    if (firstSeen < stats.firstSeen) stats.firstSeen = firstSeen;
    return true;
  }

  mergeFrom(other: WorkloadObservations): void {
    for (const [node, c] of other.nodes) this.noteNode(node, c.arch, c.droppedEvents);
    for (const [name, theirs] of other.syscalls) {
      let mine = this.syscalls.get(name);
      if (mine === undefined) {
        mine = { counts: new Map(), firstSeen: theirs.firstSeen, argTuples: new Map(), anyArgs: false };
        this.syscalls.set(name, mine);
      } else if (theirs.firstSeen < mine.firstSeen) {
        mine.firstSeen = theirs.firstSeen;
      }
      mine.anyArgs ||= theirs.anyArgs;
      for (const [k, tuple] of theirs.argTuples) if (!mine.argTuples.has(k)) mine.argTuples.set(k, tuple);
      for (const [k, count] of theirs.counts) {
        const previous = mine.counts.get(k);
        if (previous === undefined || count > previous) mine.counts.set(k, count);
      }
    }
  }
}

/**
 * The key of one count in `SyscallStats.counts`: the contributor (a node, or one container on it)
 * and, when recorded, the argument tuple, whose counts are kept per tuple so they too merge by maximum.
 */
export function countKey(node: string, args?: readonly string[], source?: string): string {
  return tupleCountKey(contributorKey(node, source), args);
}

/** The contributor part of a count key: a node, or one container on it. */
export function contributorKey(node: string, source?: string): string {
  return source === undefined ? node : `${node}\u0001${source}`;
}

/** A count key from its contributor part; without arguments, the very same string. */
export function tupleCountKey(contributor: string, args?: readonly string[]): string {
  return args === undefined ? contributor : `${contributor}\u0000${args.join(",")}`;
}

/** Per-node call counts of one syscall, containers and argument tuples folded together. */
export function countsByNode(stats: SyscallStats): Map<string, number> {
  const byNode = new Map<string, number>();
  for (const [key, count] of stats.counts) {
    const nul = key.indexOf("\u0000");
    const soh = key.indexOf("\u0001");
    const cut = soh === -1 ? nul : nul === -1 ? soh : Math.min(nul, soh);
    const node = cut === -1 ? key : key.slice(0, cut);
    byNode.set(node, (byNode.get(node) ?? 0) + count);
  }
  return byNode;
}

/** Observations of many workloads, e.g. one session. */
export class ObservationSet {
  readonly workloads = new Map<string, WorkloadObservations>();

  workload(key: WorkloadKey): WorkloadObservations {
    const id = workloadId(key);
    let wo = this.workloads.get(id);
    if (wo === undefined) {
      wo = new WorkloadObservations(key);
      this.workloads.set(id, wo);
    }
    return wo;
  }

  /** Merges one validated batch; idempotent and order-independent. Returns the number of events merged. */
  applyBatch(batch: SyscallEventBatch): number {
    let events = 0;
    for (const entry of batch.workloads) {
      const wo = this.workload(entry.workload);
      wo.noteNode(batch.node, batch.arch, batch.droppedEvents);
      const contributor = contributorKey(batch.node, entry.containerId);
      for (const ev of entry.syscalls) {
        const key = tupleCountKey(contributor, ev.args);
        if (!wo.raiseKnown(ev.name, key, ev.count, ev.firstSeen)) {
          wo.observeAs(contributor, ev.name, ev.count, ev.firstSeen, ev.args, key);
        }
      }
      events += entry.syscalls.length;
    }
    return events;
  }

  mergeFrom(other: ObservationSet): void {
    for (const wo of other.workloads.values()) this.workload(wo.key).mergeFrom(wo);
  }
}
