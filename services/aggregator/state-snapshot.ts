/**
 * The aggregator's state as a checkpoint stores it: plain, msgpack-friendly data, and the
 * conversion of one session to and from it. Session records are not in it (KV has them).
 */
import type {
  EventMessage,
  OwnershipRefusalCounts,
  RefusalCounts,
  StreamLoss,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import { WorkloadObservations } from "../../lib/profile/observations.ts";
import { workloadId, workloadToken } from "../../lib/profile/workload-key.ts";
import { trackFromSnapshot, trackToSnapshot, type TrackSnapshot } from "./continuous.ts";
import { noOwnershipRefusals } from "./pod-ownership.ts";
import { SeqSet, type SeqRange } from "./seq-set.ts";
import { SessionState, canonicalKey, type FinalisedSession, type Gap, type WaitingEntry } from "./session.ts";

/** Plain data, msgpack-friendly: what a checkpoint stores. Session records are not in it (KV has them). */
export interface StateSnapshot {
  version: 1;
  badMessages: number;
  highestStreamSeq: number;
  lostMessages?: number;
  /** Absent in checkpoints written before refusals were counted; so are the optional fields below. */
  refused?: RefusalCounts;
  sessions: SessionSnapshot[];
}

export interface NodeSnapshot {
  name: string;
  arch?: string;
  droppedEvents: number;
  seqs: SeqRange[];
  finBatches?: number;
  events: number;
  lastEventAt?: number;
  workloads?: string[];
  tuples?: number;
  refusedEvents?: number;
  limited?: boolean;
  gaps?: Gap[];
  ownershipRefused?: OwnershipRefusalCounts;
}

/** [name, firstSeen, anyArgs, counts [key, count][], argument tuples] */
export type SyscallSnapshot = [string, number, boolean, Array<[string, number]>, string[][]];

export interface WorkloadSnapshot {
  key: WorkloadKey;
  nodes: Array<[string, string, number]>;
  syscalls: SyscallSnapshot[];
  track: TrackSnapshot;
}

export interface SessionSnapshot {
  id: string;
  batches: number;
  events: number;
  lateBatches: number;
  lastEventAt?: number;
  nodes: NodeSnapshot[];
  workloads: WorkloadSnapshot[];
  finalised?: FinalisedSession;
  tuples?: number;
  refused?: RefusalCounts;
  foreignNodes?: string[];
  held?: EventMessage[];
  /** Acked with the checkpoint that carries them, like held messages. */
  waiting?: WaitingEntry[];
  late?: LateSnapshot[];
  lastLateAt?: number;
  streamLoss?: StreamLoss[];
}

export interface LateSnapshot {
  key: WorkloadKey;
  nodes: Array<[string, string, number]>;
  syscalls: SyscallSnapshot[];
  version: number;
  publishedVersion: number;
  published: number;
}

function observationsToSnapshot(
  wo: WorkloadObservations,
): Pick<WorkloadSnapshot, "key" | "nodes" | "syscalls"> {
  return {
    key: wo.key,
    nodes: [...wo.nodes].map(([name, c]): [string, string, number] => [name, c.arch, c.droppedEvents]),
    syscalls: [...wo.syscalls].map(([name, st]): SyscallSnapshot => [
      name,
      st.firstSeen,
      st.anyArgs,
      [...st.counts],
      [...st.argTuples.values()].map((t) => [...t]),
    ]),
  };
}

function observationsFromSnapshot(
  w: Pick<WorkloadSnapshot, "key" | "nodes" | "syscalls">,
): WorkloadObservations {
  const wo = new WorkloadObservations(canonicalKey(w.key));
  for (const [name, arch, dropped] of w.nodes) wo.nodes.set(name, { arch, droppedEvents: dropped });
  for (const [name, firstSeen, anyArgs, counts, tuples] of w.syscalls) {
    wo.syscalls.set(name, {
      counts: new Map(counts),
      firstSeen,
      anyArgs,
      argTuples: new Map(tuples.map((t) => [t.join(","), t])),
    });
  }
  return wo;
}

export function sessionToSnapshot(s: SessionState): SessionSnapshot {
  const snap: SessionSnapshot = {
    id: s.id,
    batches: s.batches,
    events: s.events,
    lateBatches: s.lateBatches,
    nodes: [...s.nodes.values()].map((n) => {
      const ns: NodeSnapshot = {
        name: n.name,
        droppedEvents: n.droppedEvents,
        seqs: n.seqs.ranges(),
        events: n.events,
      };
      if (n.arch !== undefined) ns.arch = n.arch;
      if (n.finBatches !== undefined) ns.finBatches = n.finBatches;
      if (n.lastEventAt !== undefined) ns.lastEventAt = n.lastEventAt;
      ns.workloads = [...n.workloads];
      ns.tuples = n.tuples;
      ns.refusedEvents = n.refusedEvents;
      ns.limited = n.limited;
      ns.gaps = n.gaps;
      ns.ownershipRefused = { ...n.ownershipRefused };
      return ns;
    }),
    workloads: [...s.workloads.values()].map((ws) => ({
      ...observationsToSnapshot(ws.observations),
      track: trackToSnapshot(ws.track),
    })),
  };
  if (s.lastEventAt !== undefined) snap.lastEventAt = s.lastEventAt;
  if (s.finalised !== undefined) snap.finalised = s.finalised;
  snap.tuples = s.tuples;
  snap.refused = { ...s.refused };
  snap.foreignNodes = [...s.foreignNodes];
  // Held messages are acked with the checkpoint that carries them, so they must be in it.
  snap.held = [...s.held.values()].flat();
  if (s.streamLoss.length > 0) snap.streamLoss = s.streamLoss.map((l) => ({ ...l }));
  if (s.waiting.length > 0) snap.waiting = [...s.waiting];
  if (s.late.size > 0) {
    snap.late = [...s.late.values()].map((lw) => ({
      ...observationsToSnapshot(lw.observations),
      version: lw.version,
      publishedVersion: lw.publishedVersion,
      published: lw.published,
    }));
    snap.lastLateAt = s.lastLateAt;
  }
  return snap;
}

export function sessionFromSnapshot(snap: SessionSnapshot): SessionState {
  const s = new SessionState(snap.id);
  s.batches = snap.batches;
  s.events = snap.events;
  s.lateBatches = snap.lateBatches;
  s.lastEventAt = snap.lastEventAt;
  s.finalised = snap.finalised;
  for (const n of snap.nodes) {
    s.nodes.set(n.name, {
      name: n.name,
      arch: n.arch,
      droppedEvents: n.droppedEvents,
      seqs: SeqSet.fromRanges(n.seqs),
      finBatches: n.finBatches,
      events: n.events,
      lastEventAt: n.lastEventAt,
      workloads: new Set(n.workloads ?? []),
      tuples: n.tuples ?? 0,
      refusedEvents: n.refusedEvents ?? 0,
      limited: n.limited ?? false,
      gaps: n.gaps ?? [],
      ownershipRefused: { ...noOwnershipRefusals(), ...n.ownershipRefused },
      waitingEvents: 0,
      contributors: new Map(),
    });
  }
  s.tuples = snap.tuples ?? 0;
  Object.assign(s.refused, snap.refused ?? {});
  for (const name of snap.foreignNodes ?? []) s.foreignNodes.add(name);
  for (const m of snap.held ?? []) {
    const held = s.held.get(m.node);
    if (held === undefined) s.held.set(m.node, [m]);
    else held.push(m);
  }
  for (const l of snap.late ?? []) {
    const wo = observationsFromSnapshot(l);
    const id = workloadId(wo.key);
    s.late.set(id, {
      id,
      token: workloadToken(wo.key),
      observations: wo,
      version: l.version,
      publishedVersion: l.publishedVersion,
      published: l.published,
    });
  }
  s.lastLateAt = snap.lastLateAt ?? 0;
  for (const l of snap.streamLoss ?? []) s.streamLoss.push({ ...l });
  s.waiting = [...(snap.waiting ?? [])];
  for (const w of snap.workloads) {
    const wo = observationsFromSnapshot(w);
    const key = wo.key;
    const id = workloadId(key);
    s.workloads.set(id, {
      id,
      token: workloadToken(key),
      observations: wo,
      track: trackFromSnapshot(w.track),
    });
  }
  return s;
}
