/**
 * What the aggregator should publish now, decided from its sessions' state alone (no I/O): a
 * session's finalisation (once every node is complete, or at the stop deadline), late revisions of
 * a finalised session, and, in continuous sessions, each workload's next revision and drift
 * report. The aggregator performs the actions and books them back with `AggregatorState.confirm`.
 */
import type { DriftReport, ProfileDocument, SessionRecord, WorkloadKey } from "../../lib/contracts/types.ts";
import { toProfileDocument, type DocumentGap } from "../../lib/profile/document.ts";
import {
  continuousSettings,
  driftReportDue,
  driftReportOf,
  nextStep,
  type ContinuousStep,
} from "./continuous.ts";
import type { SessionState } from "./session.ts";

/** Late data is published once no more came for this long, so a burst makes one revision. */
const LATE_DEBOUNCE_MS = 1000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export interface Publication {
  workload: WorkloadKey;
  token: string;
  document: ProfileDocument;
}

export type Action =
  | {
      kind: "finalise";
      session: string;
      mode: SessionRecord["mode"];
      status: "complete" | "partial";
      missingNodes: string[];
      gaps: DocumentGap[];
      publications: Publication[];
      /** Drift reports not written yet in their final state. */
      driftReports: DriftReport[];
    }
  | {
      kind: "late";
      session: string;
      /** Per workload: the late data alone, its late revision number (1, 2, ...) and the version it reflects. */
      publications: Array<Publication & { lateRevision: number; version: number }>;
      status: "complete" | "partial";
      lateBatches: number;
    }
  | {
      /** Write a workload's drift report (KV sc_profiles `<key>.drift`). */
      kind: "drift";
      session: string;
      workloadId: string;
      /** The track's driftVersion the report shows. */
      version: number;
      report: DriftReport;
    }
  | {
      kind: "publish";
      session: string;
      workloadId: string;
      step: ContinuousStep;
      /** Convergence window, for the convergence event. */
      windowSeconds: number;
      lastChangeAt: number;
      publication: Publication;
    };

/** What should be published now, oldest session first. */
export function dueActions(sessions: Iterable<SessionState>, now: number, caughtUp: boolean): Action[] {
  const actions: Action[] = [];
  for (const session of sessions) {
    if (session.finalised !== undefined) {
      const late = lateAction(session, now);
      if (late !== undefined) actions.push(late);
      continue;
    }
    const finalise = finalisation(session, now, caughtUp);
    if (finalise !== undefined) {
      actions.push(finalise);
      continue;
    }
    if (session.mode !== "continuous") continue;
    const settings = continuousSettings(session.record);
    for (const ws of session.workloads.values()) {
      if (driftReportDue(ws.track, now)) {
        actions.push({
          kind: "drift",
          session: session.id,
          workloadId: ws.id,
          version: ws.track.driftVersion,
          report: driftReportOf(session.id, ws.observations.key, ws.token, ws.track, now),
        });
      }
      const step = nextStep(ws.track, settings, now);
      if (step === undefined) continue;
      actions.push({
        kind: "publish",
        session: session.id,
        workloadId: ws.id,
        step,
        windowSeconds: settings.convergenceWindowSeconds,
        lastChangeAt: ws.track.lastChangeAt,
        publication: {
          workload: ws.observations.key,
          token: ws.token,
          document: toProfileDocument(ws.observations, {
            session: session.id,
            revision: step.revision,
            status: "recording",
            argSyscalls: session.argSyscalls,
            ...(step.flags.convergedAt !== undefined ? { convergedAt: iso(step.flags.convergedAt) } : {}),
            ...(step.flags.frozen ? { frozen: true } : {}),
          }),
        },
      });
    }
  }
  return actions;
}

function lateAction(session: SessionState, now: number): Action | undefined {
  const finalised = session.finalised!;
  const pending = [...session.late.values()].filter((lw) => lw.version > lw.publishedVersion);
  if (pending.length === 0 || now - session.lastLateAt < LATE_DEBOUNCE_MS) return undefined;
  return {
    kind: "late",
    session: session.id,
    status: finalised.status,
    lateBatches: session.lateBatches,
    publications: pending
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((lw) => ({
        workload: lw.observations.key,
        token: lw.token,
        lateRevision: lw.published + 1,
        version: lw.version,
        document: toProfileDocument(lw.observations, {
          session: session.id,
          revision: lw.published + 1,
          status: finalised.status,
          argSyscalls: session.argSyscalls,
        }),
      })),
  };
}

/** Every gap of the session's nodes, by node then time. */
function gapsOf(session: SessionState, nodes: readonly string[]): DocumentGap[] {
  return nodes.flatMap((name) =>
    [...(session.nodes.get(name)?.gaps ?? [])]
      .sort((a, b) => a.from - b.from || a.to - b.to)
      .map((g) => ({
        node: name,
        from: iso(g.from),
        to: iso(g.to),
        ...(g.reason !== undefined ? { reason: g.reason } : {}),
      })),
  );
}

/**
 * The finalisation of a session asked to stop, once every node is complete, or at the stop deadline
 * once the stream as it was at start-up has been merged (`caughtUp`): otherwise undefined.
 */
function finalisation(session: SessionState, now: number, caughtUp: boolean): Action | undefined {
  const record = session.record;
  // Never before the session was asked to stop, whatever FINs say, nor past entries that wait
  // for the pod watch (each waits a bounded time).
  if (record === undefined || record.state === "running" || session.waiting.length > 0) return undefined;
  const participating = session.participatingNodes();
  const incomplete = participating.filter((n) => !session.isNodeComplete(n));
  const limited = participating.filter((n) => session.nodes.get(n)?.limited === true);
  const missing = [...new Set([...incomplete, ...limited])].sort();
  const gaps = gapsOf(session, participating);
  const streamLoss = session.streamLoss;
  let status: "complete" | "partial";
  if (participating.length > 0 && incomplete.length === 0) {
    // Every node is done; a gap, a limit or a stream loss still means something may not have been seen.
    status = missing.length === 0 && gaps.length === 0 && streamLoss.length === 0 ? "complete" : "partial";
  } else {
    const deadline = record.stopDeadline;
    if (deadline === undefined || now < Date.parse(deadline) || !caughtUp) return undefined;
    status = "partial";
  }
  const continuous = session.mode === "continuous";
  const publications = [...session.workloads.values()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((ws): Publication => {
      const t = ws.track;
      // One-shot sessions publish exactly one document, revision 1, so it does not depend on timing.
      const revision = continuous
        ? Math.max(1, t.revision + (t.shapeVersion > t.publishedVersion ? 1 : 0))
        : 1;
      return {
        workload: ws.observations.key,
        token: ws.token,
        document: toProfileDocument(ws.observations, {
          session: session.id,
          revision,
          status,
          missingNodes: status === "partial" ? missing : [],
          gaps,
          streamLoss,
          argSyscalls: session.argSyscalls,
          ...(continuous && t.convergedAt !== undefined ? { convergedAt: iso(t.convergedAt) } : {}),
          ...(continuous && t.frozen !== undefined ? { frozen: true } : {}),
        }),
      };
    });
  const driftReports = [...session.workloads.values()]
    .filter((ws) => ws.track.driftVersion > ws.track.driftPublishedVersion)
    .map((ws) => driftReportOf(session.id, ws.observations.key, ws.token, ws.track, now));
  return {
    kind: "finalise",
    session: session.id,
    mode: session.mode,
    status,
    missingNodes: status === "partial" ? missing : [],
    gaps,
    publications,
    driftReports,
  };
}
