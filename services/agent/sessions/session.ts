/**
 * A session as this node records it: its record and targets, the tracker of what its containers
 * ran, its batch numbers, counts and gaps; how it is written to and read back from its local
 * record (session-store.ts); and what it reports (its status and node-local profiles).
 */
import type {
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
  SyscallEventBatch,
} from "../../../lib/contracts/types.ts";
import { argSpecFor, validateArgSyscalls, type ArgConditionSpec } from "../../../lib/profile/arg-specs.ts";
import { toProfileDocument } from "../../../lib/profile/document.ts";
import { compareWorkloadKeys } from "../../../lib/profile/workload-key.ts";
import { NoveltyTracker } from "../edge/novelty-tracker.ts";
import { compileTargets, type TargetMatcher } from "../pods/targets.ts";
import type { RecordingGaps } from "./recording-gaps.ts";
import { writeSessionData, type SessionData, type SessionState } from "./session-store.ts";

/** A session on this node; its gap fields are RecordingGaps' (recording-gaps.ts). */
export interface Session extends RecordingGaps {
  record: SessionRecord;
  state: SessionState;
  matcher: TargetMatcher;
  /** Specs of the session's argument syscalls; empty when it records no arguments. */
  argSpecs: ReadonlyMap<string, readonly ArgConditionSpec[]>;
  tracker: NoveltyTracker;
  nextSeq: number;
  batchesSent: number;
  droppedEvents: number;
  /** Calls seen before the tracker was (re)created; the tracker counts the rest. */
  eventsSeenBefore: number;
  pending: SyscallEventBatch[];
  /** Tracker calls already in the local record (`dirty`: whether anything else changed since). */
  persistedRecorded: number;
  /** Per workload id, its syscall counts as of a left-out generation (left-out-coverage.ts). */
  seen: { gen: number; counts: Map<string, Map<string, number>> } | undefined;
}

/**
 * A session that starts at `now`. `nonReturning`: the syscalls its tracker books for every
 * container (lib/syscalls/non-returning.ts); `capturing`: whether Falco captures at this moment.
 */
export function newSession(
  record: SessionRecord,
  nonReturning: readonly string[],
  now: number,
  capturing: boolean,
): Session {
  const argSpecs = new Map<string, readonly ArgConditionSpec[]>();
  for (const name of validateArgSyscalls(record.profile.argSyscalls ?? []))
    argSpecs.set(name, argSpecFor(name)!);
  return {
    record,
    state: "running",
    matcher: compileTargets(record.targets),
    argSpecs,
    tracker: new NoveltyTracker(nonReturning),
    nextSeq: 1,
    batchesSent: 0,
    droppedEvents: 0,
    eventsSeenBefore: 0,
    gaps: [],
    startedAt: now,
    captured: capturing,
    down: undefined,
    pending: [],
    persistedRecorded: 0,
    dirty: true,
    uncovered: undefined,
    seen: undefined,
  };
}

/**
 * The session as its local record left it: counts, batch numbers, gaps and unacknowledged
 * batches. Whether Falco captured for it since is the caller's to book.
 */
export function sessionFromData(data: SessionData, nonReturning: readonly string[], now: number): Session {
  const session = newSession(data.session, nonReturning, now, false);
  session.tracker.restore(data.containers);
  Object.assign(session, {
    state: data.state,
    nextSeq: data.nextSeq,
    batchesSent: data.batchesSent,
    droppedEvents: data.droppedEvents,
    eventsSeenBefore: data.eventsSeen,
    gaps: data.gaps.map((g) => ({ ...g })),
    pending: data.pending,
    dirty: false,
  });
  return session;
}

/** Whether the local record lags behind the session. */
export function needsPersist(session: Session): boolean {
  return session.dirty || session.tracker.recordedCount !== session.persistedRecorded;
}

/** Writes the session's local record as of `now`. */
export async function persistSession(stateDir: string, session: Session, now: number): Promise<void> {
  const recorded = session.tracker.recordedCount;
  await writeSessionData(
    stateDir,
    {
      version: 1,
      session: session.record,
      state: session.state,
      nextSeq: session.nextSeq,
      batchesSent: session.batchesSent,
      droppedEvents: session.droppedEvents,
      eventsSeen: session.eventsSeenBefore + recorded,
      gaps: session.gaps,
      persistedAt: now,
      pending: session.pending,
    },
    session.tracker.snapshotJson(),
  );
  session.persistedRecorded = recorded;
  session.dirty = false;
}

export function sessionStatus(session: Session): NodeSessionStatus {
  return {
    sessionId: session.record.id,
    state: session.state,
    containers: session.tracker.containerCount,
    batchesSent: session.batchesSent,
    eventsSeen: session.eventsSeenBefore + session.tracker.recordedCount,
    droppedEvents: session.droppedEvents,
  };
}

/** One document per workload this node recorded in the session: "recording" while it runs, "complete" once stopped. */
export function nodeProfiles(session: Session, node: string, arch: string): ProfileDocument[] {
  const set = session.tracker.observations(node, arch, session.droppedEvents);
  const argSyscalls = session.record.profile.argSyscalls ?? [];
  return [...set.workloads.values()]
    .sort((a, b) => compareWorkloadKeys(a.key, b.key))
    .map((wo) =>
      // Node-local documents are not revisioned; the aggregator numbers the merged ones.
      toProfileDocument(wo, {
        session: session.record.id,
        revision: 0,
        status: session.state === "stopped" ? "complete" : "recording",
        argSyscalls,
      }),
    );
}
