/**
 * Merging one workload entry of a batch into a session: syscall names checked against the node
 * architecture's table, the workload and count-entry limits, a frozen profile's drift kept apart,
 * and the shape changes a continuous session publishes; and the same for data that arrives after
 * finalisation, kept apart from the released final state. Which entries get here is decided before:
 * node set (session-state.ts), batch numbers (message-merge.ts), pod ownership (entry-admission.ts).
 */
import type { WorkloadEvents, WorkloadKey } from "../../lib/contracts/types.ts";
import { WorkloadObservations, contributorKey, tupleCountKey } from "../../lib/profile/observations.ts";
import { workloadId, workloadToken } from "../../lib/profile/workload-key.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { syscallNames } from "../../lib/syscalls/tables.ts";
import {
  MAX_DRIFT_ENTRIES,
  driftKey,
  freeze,
  newTrack,
  noteDrift,
  noteShapeChange,
  type DriftEntry,
} from "./continuous.ts";
import type { Limits } from "./limits.ts";
import {
  canonicalKey,
  type BatchContext,
  type LateWorkload,
  type NodeState,
  type SessionState,
  type WorkloadState,
} from "./session.ts";

/** A syscall name as received, to the table's own string of that name. */
export type KnownSyscalls = ReadonlyMap<string, string>;

const knownByNodeArch = new Map<string, KnownSyscalls>();

/**
 * Syscall names of a node architecture and its compat ABIs; throws SC_ARCH_UNKNOWN for an
 * unsupported one. The merge books the table's string, not the decoded one: map lookups with one
 * string object per name compare by identity, and the state holds no decoder's string slices.
 */
export function knownSyscalls(arch: string): KnownSyscalls {
  let known = knownByNodeArch.get(arch);
  if (known === undefined) {
    known = new Map(scmpArchesForNode(arch).flatMap((a) => syscallNames(a).map((n) => [n, n] as const)));
    knownByNodeArch.set(arch, known);
  }
  return known;
}

/** Container ids per node whose contributor key is kept (a node runs far fewer containers). */
const MAX_CONTRIBUTORS_PER_NODE = 10_000;

/**
 * The contributor key of a container on `node`, the same string object every time: count maps
 * then find their keys by identity instead of comparing 80 characters per event.
 */
function contributorOf(node: NodeState, containerId: string | undefined): string {
  if (containerId === undefined) return node.name;
  let key = node.contributors.get(containerId);
  if (key === undefined) {
    key = contributorKey(node.name, containerId);
    if (node.contributors.size < MAX_CONTRIBUTORS_PER_NODE) node.contributors.set(containerId, key);
  }
  return key;
}

/** A drift entry as the merge reports it: which session, workload and frozen revision it is outside of. */
export interface DriftFinding extends DriftEntry {
  session: string;
  workload: WorkloadKey;
  token: string;
  frozenRevision: number;
}

/** What merging an entry tells its message's outcome: whether the batch is new, and drift found. */
export interface EntryOutcome {
  readonly fresh: boolean;
  readonly drift: DriftFinding[];
}

export interface Tally {
  events: number;
  unknownNames: number;
  overLimit: number;
}

function workloadOf(session: SessionState, key: WorkloadKey, now: number): WorkloadState {
  const id = workloadId(key);
  let ws = session.workloads.get(id);
  if (ws === undefined) {
    const canonical = canonicalKey(key);
    const token = workloadToken(canonical);
    ws = { id, token, observations: new WorkloadObservations(canonical), track: newTrack(now) };
    session.workloads.set(id, ws);
    if (session.record?.continuous?.frozen?.includes(token)) {
      freeze(ws.track, ws.observations, session.argSyscalls, now);
    }
  }
  return ws;
}

/** Whether `node` may add workload `id` to `session` under the workload limits. */
function workloadAllowed(session: SessionState, node: NodeState, id: string, limits: Limits): boolean {
  if (node.workloads.has(id)) return true;
  if (node.workloads.size >= limits.maxWorkloadsPerNode) return false;
  if (!session.workloads.has(id) && session.workloads.size >= limits.maxWorkloadsPerSession) {
    return false;
  }
  node.workloads.add(id);
  return true;
}

/** Merges one workload entry of a batch (or a waiting entry now accepted) into the session. */
export function mergeEntry(
  session: SessionState,
  node: NodeState,
  batch: BatchContext,
  entry: WorkloadEvents,
  known: KnownSyscalls,
  now: number,
  outcome: EntryOutcome,
  tally: Tally,
  limits: Limits,
): void {
  const argSyscalls = session.argSyscalls;
  let contributor = "";
  let ws: WorkloadState | undefined;
  for (const ev of entry.syscalls) {
    const name = known.get(ev.name);
    if (name === undefined) {
      tally.unknownNames++;
      continue;
    }
    if (ws === undefined) {
      // Created on the first valid event, so a workload with only bogus names costs nothing.
      if (!workloadAllowed(session, node, workloadId(entry.workload), limits)) {
        tally.overLimit += entry.syscalls.length;
        node.limited = true;
        break;
      }
      ws = workloadOf(session, entry.workload, now);
      contributor = contributorOf(node, entry.containerId);
      ws.observations.noteNode(batch.node, batch.arch, batch.droppedEvents);
    }
    const wo = ws.observations;
    const track = ws.track;
    tally.events++;
    if (track.frozen !== undefined) {
      const key = driftKey(track, batch.node, entry.containerId, name, ev.args);
      if (key !== undefined) {
        // Outside the frozen profile: kept as drift (bounded like count entries), not in the profile.
        if (!track.drift.has(key)) {
          if (
            track.drift.size >= MAX_DRIFT_ENTRIES ||
            node.tuples >= limits.maxTuplesPerNode ||
            session.tuples >= limits.maxTuplesPerSession
          ) {
            if (outcome.fresh) {
              tally.overLimit++;
              track.driftOmitted++;
              track.driftVersion++;
            }
            continue;
          }
          node.tuples++;
          session.tuples++;
        }
        const drift: DriftEntry = {
          node: batch.node,
          containerId: entry.containerId,
          pod: entry.pod,
          syscall: name,
          args: ev.args,
          count: ev.count,
          firstSeen: ev.firstSeen,
          lastSeen: batch.sentAt ?? now,
          detectedAt: now,
        };
        if (noteDrift(track, key, drift)) {
          outcome.drift.push({
            ...drift,
            session: session.id,
            workload: wo.key,
            token: ws.token,
            frozenRevision: track.frozen.revision,
          });
        }
        continue;
      }
    }
    const key = tupleCountKey(contributor, ev.args);
    // Most events raise a count this contributor has: nothing new to bound or to signal.
    if (wo.raiseKnown(name, key, ev.count, ev.firstSeen)) continue;
    if (node.tuples >= limits.maxTuplesPerNode || session.tuples >= limits.maxTuplesPerSession) {
      tally.overLimit++;
      node.limited = true;
      continue;
    }
    node.tuples++;
    session.tuples++;
    const stats = wo.syscalls.get(name);
    const changed =
      stats === undefined ||
      (argSyscalls.includes(name) &&
        (ev.args === undefined ? !stats.anyArgs : !stats.argTuples.has(ev.args.join(","))));
    // The container id keeps replicas of one workload on one node apart: their counts add up.
    wo.observeAs(contributor, name, ev.count, ev.firstSeen, ev.args, key);
    if (changed) noteShapeChange(track, now);
  }
}

/** Merges one entry of data that came after finalisation into the session's late observations. */
export function mergeLateEntry(
  session: SessionState,
  node: NodeState,
  batch: BatchContext,
  entry: WorkloadEvents,
  known: KnownSyscalls,
  now: number,
  tally: Tally,
  limits: Limits,
): void {
  let contributor = "";
  let lw: LateWorkload | undefined;
  for (const ev of entry.syscalls) {
    const name = known.get(ev.name);
    if (name === undefined) {
      tally.unknownNames++;
      continue;
    }
    if (lw === undefined) {
      const id = workloadId(entry.workload);
      if (!workloadAllowed(session, node, id, limits)) {
        tally.overLimit += entry.syscalls.length;
        break;
      }
      lw = session.late.get(id);
      if (lw === undefined) {
        const key = canonicalKey(entry.workload);
        lw = {
          id,
          token: workloadToken(key),
          observations: new WorkloadObservations(key),
          version: 0,
          publishedVersion: 0,
          published: 0,
        };
        session.late.set(id, lw);
      }
      lw.observations.noteNode(batch.node, batch.arch, batch.droppedEvents);
      contributor = contributorOf(node, entry.containerId);
    }
    const key = tupleCountKey(contributor, ev.args);
    if (!lw.observations.raiseKnown(name, key, ev.count, ev.firstSeen)) {
      if (node.tuples >= limits.maxTuplesPerNode || session.tuples >= limits.maxTuplesPerSession) {
        tally.overLimit++;
        continue;
      }
      node.tuples++;
      session.tuples++;
      lw.observations.observeAs(contributor, name, ev.count, ev.firstSeen, ev.args, key);
    }
    lw.version++;
    session.lastLateAt = now;
  }
}
