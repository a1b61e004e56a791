/**
 * What a performed action (publication-plan.ts, action-performer.ts) leaves in its session: the
 * late versions and revisions published, a drift report's version, a continuous step, and once a
 * session is finalised, the summary of what was published, its observations released.
 */
import { workloadId } from "../../lib/profile/workload-key.ts";
import { confirmStep } from "./continuous.ts";
import type { Action } from "./publication-plan.ts";
import type { SessionState } from "./session.ts";

/**
 * Books `action` as done in `session` at `now`; `revisions`: the late revision stored per workload
 * token. The messages a finalised session still holds are the caller's to drop.
 */
export function bookAction(
  session: SessionState,
  action: Action,
  revisions: ReadonlyMap<string, number>,
  now: number,
): void {
  if (action.kind === "late") {
    for (const p of action.publications) {
      const lw = session.late.get(workloadId(p.workload));
      if (lw === undefined) continue;
      lw.publishedVersion = Math.max(lw.publishedVersion, p.version);
      lw.published = Math.max(lw.published, p.lateRevision);
      const revision = revisions.get(p.token);
      if (revision === undefined) continue;
      const fw = session.finalised?.workloads.find((w) => w.token === p.token);
      if (fw !== undefined) fw.lateRevision = revision;
      else {
        session.finalised?.workloads.push({
          workload: p.workload,
          token: p.token,
          revision: 0,
          syscalls: 0,
          lateRevision: revision,
        });
      }
    }
    return;
  }
  if (action.kind === "finalise") {
    session.finalised = {
      status: action.status,
      missingNodes: action.missingNodes,
      at: now,
      workloads: action.publications.map((p) => {
        const track = session.workloads.get(workloadId(p.workload))?.track;
        return {
          workload: p.workload,
          token: p.token,
          revision: p.document.revision,
          syscalls: p.document.syscalls.length,
          ...(track?.frozen !== undefined ? { frozen: true } : {}),
          ...(track !== undefined && track.drift.size > 0 ? { drifted: track.drift.size } : {}),
        };
      }),
    };
    session.workloads.clear();
    return;
  }
  const ws = session.workloads.get(action.workloadId);
  if (ws === undefined) return;
  if (action.kind === "drift") {
    ws.track.driftPublishedVersion = Math.max(ws.track.driftPublishedVersion, action.version);
    ws.track.driftPublishedAt = now;
  } else confirmStep(ws.track, action.step, now);
}
