/**
 * A continuous session's frozen profiles: frozen and unfrozen as its record's `continuous.frozen`
 * list says (an unfrozen profile takes in everything that drifted while it was frozen), and grown by
 * the drift an operator accepts (`seccompose profile accept`), checked whole before anything changes.
 */
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { freeze, noteShapeChange, shapeOf, takeDrift, unfreeze, type DriftEntry } from "./continuous.ts";
import type { SessionState, WorkloadState } from "./session.ts";

/** What `acceptDrift` took into one workload's profile. */
export interface AcceptOutcome {
  workloadToken: string;
  syscalls: string[];
  /** Drift entries (node, container, argument tuple) merged. */
  calls: number;
  /** The revision that shows them (published at the next tick). */
  revision: number;
}

/** Freezes and unfreezes the session's workloads as `record` lists them. */
export function followFrozen(session: SessionState, record: SessionRecord, now: number): void {
  const frozen = new Set(record.continuous?.frozen ?? []);
  for (const ws of session.workloads.values()) {
    if (frozen.has(ws.token) && ws.track.frozen === undefined) {
      freeze(ws.track, ws.observations, session.argSyscalls, now);
    } else if (!frozen.has(ws.token) && ws.track.frozen !== undefined) {
      // The profile grows again, starting with what drifted while it was frozen.
      mergeDrift(ws, takeDrift(ws.track), now);
      unfreeze(ws.track);
    }
  }
}

/** Drift taken into the profile: merged like any observation, so the next revision shows it. */
function mergeDrift(ws: WorkloadState, entries: readonly DriftEntry[], now: number): void {
  for (const e of entries) {
    ws.observations.observe(e.node, e.syscall, e.count, e.firstSeen, e.args, e.containerId);
  }
  if (entries.length > 0) noteShapeChange(ws.track, now);
}

/**
 * Takes the drift of `names` in frozen workloads `tokens` of session `sessionId` (its state, if
 * any) into their profiles: merged, the frozen profile grown by them, published as the next
 * revision. Everything is checked before anything changes.
 */
export function acceptDrift(
  session: SessionState | undefined,
  sessionId: string,
  tokens: readonly string[],
  names: readonly string[],
  clock: () => number,
): AcceptOutcome[] {
  if (session === undefined || session.record === undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_SESSION_NOT_FOUND,
      `the aggregator has no data of session ${sessionId}`,
    );
  }
  if (session.finalised !== undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_USAGE,
      `session ${sessionId} is finalised: its profiles no longer change`,
    );
  }
  const wanted = new Set(names);
  const targets = tokens.map((token) => {
    const ws = [...session.workloads.values()].find((w) => w.token === token);
    if (ws === undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_PROFILE_NOT_FOUND,
        `workload ${token} has no data in session ${sessionId}`,
      );
    }
    if (ws.track.frozen === undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_USAGE,
        `workload ${workloadId(ws.observations.key)} is not frozen: everything it does goes into its profile already`,
      );
    }
    return ws;
  });
  const drifted = new Set(targets.flatMap((ws) => [...ws.track.drift.values()].map((e) => e.syscall)));
  const unknown = names.filter((n) => !drifted.has(n));
  if (unknown.length > 0) {
    throw new SeccomposeError(
      ErrorCodes.SC_USAGE,
      `${unknown.join(", ")} did not drift in ${targets.map((ws) => workloadId(ws.observations.key)).join(", ")} (drifted: ${[...drifted].sort().join(", ") || "nothing"})`,
    );
  }
  const now = clock();
  return targets.map((ws) => {
    const taken = takeDrift(ws.track, wanted);
    mergeDrift(ws, taken, now);
    ws.track.frozen!.shape = shapeOf(ws.observations, session.argSyscalls);
    return {
      workloadToken: ws.token,
      syscalls: [...new Set(taken.map((e) => e.syscall))].sort(),
      calls: taken.length,
      revision: ws.track.revision + 1,
    };
  });
}
