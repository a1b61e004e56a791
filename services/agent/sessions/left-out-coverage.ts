/**
 * While the adaptive set leaves syscalls out of Falco's driver set, a workload that has not shown
 * them all yet (a new session, a new workload) may make them unseen. This tracks which syscalls
 * the driver may not deliver right now and, per alert, opens an uncovered window (a gap of the
 * session, recording-gaps.ts) for a session whose workload had not shown them; the window closes
 * once every workload in it has shown everything left out.
 */
import type { WorkloadKey } from "../../../lib/contracts/types.ts";
import { workloadId } from "../../../lib/profile/workload-key.ts";
import { closeUncovered, type RecordingGaps } from "./recording-gaps.ts";

/** Per workload id, its syscall counts. */
export type SyscallCounts = Map<string, Map<string, number>>;

/** What coverage needs of a session: its counts (cached per generation) and its gaps. */
export interface CoveredSession extends RecordingGaps {
  tracker: { syscallCountsByWorkload(): SyscallCounts };
  seen: { gen: number; counts: SyscallCounts } | undefined;
}

/** What coverage needs of a container's route: its workload, sessions and cached verdict. */
export interface CoveredRoute<S extends CoveredSession> {
  workload: WorkloadKey;
  sessions: S[];
  /** The sessions for which this workload had not shown the left-out syscalls, as of `coveredGen`. */
  uncovered: S[];
  coveredGen: number;
}

export class LeftOutCoverage {
  /**
   * The syscalls (kernel names) the driver may not deliver right now: during a swap the union of
   * the old and the new set, since alerts of either Falco may arrive.
   */
  #leftOut: ReadonlySet<string> = new Set();
  /** Bumped whenever #leftOut changes, so cached coverage checks are redone. */
  #gen = 0;

  get leftOut(): ReadonlySet<string> {
    return this.#leftOut;
  }

  set(names: ReadonlySet<string>): void {
    if (names.size === this.#leftOut.size && [...names].every((n) => this.#leftOut.has(n))) return;
    this.#leftOut = names;
    this.#gen++;
  }

  /** A session's syscall counts per workload id, recomputed when `fresh` or the left-out set changed. */
  seenOf(session: CoveredSession, fresh: boolean): SyscallCounts {
    if (fresh || session.seen === undefined || session.seen.gen !== this.#gen) {
      session.seen = { gen: this.#gen, counts: session.tracker.syscallCountsByWorkload() };
    }
    return session.seen.counts;
  }

  /**
   * An alert of a workload container at `timeMs` while syscalls are left out: if it had not shown
   * them all, it may have made them unseen since this alert. The window is booked from here until
   * the set is raised; `opened` is called when a session's window opens (the raise is asked for at once).
   */
  check<S extends CoveredSession>(route: CoveredRoute<S>, timeMs: number, opened: () => void): void {
    if (this.#leftOut.size === 0) return;
    if (route.coveredGen !== this.#gen) {
      route.coveredGen = this.#gen;
      const id = workloadId(route.workload);
      route.uncovered = route.sessions.filter((session) => {
        const seen = this.seenOf(session, false).get(id);
        return [...this.#leftOut].some((name) => !(seen?.get(name) ?? 0));
      });
    }
    for (const session of route.uncovered) {
      if (session.uncovered === undefined) {
        session.uncovered = { from: timeMs, workloads: new Map(), syscalls: [...this.#leftOut].sort() };
        opened();
      }
      session.uncovered.workloads.set(workloadId(route.workload), route.workload);
    }
  }

  /** Closes the uncovered windows whose workloads have now shown everything left out. */
  closeCovered(sessions: Iterable<CoveredSession>, now: number): void {
    for (const session of sessions) {
      const open = session.uncovered;
      if (open === undefined) continue;
      const seen = this.seenOf(session, true);
      const covered = [...open.workloads.keys()].every((id) =>
        [...this.#leftOut].every((name) => (seen.get(id)?.get(name) ?? 0) > 0),
      );
      if (covered) closeUncovered(session, now);
    }
  }
}
