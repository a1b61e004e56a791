/**
 * Performs what AggregatorState.due() decided for one partition: final documents (compare-and-set,
 * never replacing a finished result by a lesser one), the session's record marked stopped and its
 * SessionFinalised event, late revisions, continuous revisions with their convergence events, and
 * drift reports; each booked back into the state once done.
 */
import type { Logger } from "pino";
import { SeccomposeError } from "../../lib/errors.ts";
import { observationsFromDocument, toProfileDocument } from "../../lib/profile/document.ts";
import { profileKey, profileRevisionKey } from "../../lib/subjects.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import type { Action } from "./publication-plan.ts";
import type { Publisher } from "./publisher.ts";
import type { AggregatorState } from "./session-state.ts";

/** Final documents stored at once: each is a few KV round trips, and a session has thousands. */
const FINAL_WRITE_CONCURRENCY = 32;

type FinaliseAction = Extract<Action, { kind: "finalise" }>;

/** `fn` over `items` with at most `limit` calls in flight; results in the items' order; the first error rejects. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        // No new calls after a failure; those in flight end on their own.
        next = items.length;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
/** Whether a final document of `next` status may replace one of `stored` status: only partial → complete. */
function isUpgrade(stored: "complete" | "partial", next: "complete" | "partial" | "recording"): boolean {
  return stored === "partial" && next === "complete";
}

export interface ActionPerformerDeps {
  publisher: Publisher;
  metrics: AggregatorMetrics;
  partition: number;
  /** Whether this replica still holds the partition's lease (checked before each final write). */
  holds: () => boolean;
  /** The state the actions came from, which books them as done. */
  state: () => AggregatorState;
  /** The state changed: a checkpoint is due. */
  changed: () => void;
}

export class ActionPerformer {
  readonly #d: ActionPerformerDeps;

  constructor(deps: ActionPerformerDeps) {
    this.#d = deps;
  }

  /** Stores one workload's final document; what the SessionFinalised event lists for it. */
  async #storeFinal(action: FinaliseAction, p: FinaliseAction["publications"][number], log: Logger) {
    const key = profileKey(action.session, p.token);
    // A finished result is never replaced by a lesser one (e.g. rebuilt without a checkpoint
    // from a stream that lost messages): only a complete result may replace a partial one.
    // Written with compare-and-set against what was read, so two writers (a replica that lost
    // its lease and the one that took over) can never store two different finals.
    let storage: "kv" | "object" | false = false;
    let stored: Awaited<ReturnType<Publisher["storedDocument"]>>;
    for (;;) {
      stored = await this.#d.publisher.storedDocument(key);
      if (
        stored !== undefined &&
        stored.doc.status !== "recording" &&
        !isUpgrade(stored.doc.status, p.document.status)
      ) {
        break;
      }
      if (!this.#d.holds()) {
        throw new SeccomposeError(
          "SC_CHECKPOINT_CONFLICT",
          `the lease on partition ${this.#d.partition} expired`,
        );
      }
      const revision = stored?.revision ?? (await this.#d.publisher.revisionOf(key));
      storage = await this.#d.publisher.putProfile(key, p.document, revision);
      if (storage !== false) break;
    }
    if (storage === false && stored !== undefined) {
      log.warn(
        {
          event: "profile.final-kept",
          workload: p.token,
          stored: stored.doc.status,
          revision: stored.doc.revision,
          computed: p.document.status,
        },
        "kept the stored final profile",
      );
      return {
        workload: p.workload,
        key,
        revision: stored.doc.revision,
        syscalls: stored.doc.syscalls.length,
        storage: stored.storage,
      };
    }
    if (storage === false) return undefined;
    if (action.mode === "continuous") {
      await this.#d.publisher.putProfile(
        profileRevisionKey(action.session, p.token, p.document.revision),
        p.document,
      );
    }
    return {
      workload: p.workload,
      key,
      revision: p.document.revision,
      syscalls: p.document.syscalls.length,
      storage,
    };
  }

  /** Performs one action of AggregatorState.due(); `log` carries the partition. */
  async perform(action: Action, logger: Logger): Promise<void> {
    const log = logger.child({ session: action.session });
    if (action.kind === "finalise") {
      // Workloads are independent: their KV round trips overlap instead of queueing.
      const stored = await mapConcurrently(action.publications, FINAL_WRITE_CONCURRENCY, (p) =>
        this.#storeFinal(action, p, log),
      );
      const profiles = stored.filter((entry) => entry !== undefined);
      // The drift left outside the final profiles, in its final state.
      for (const report of action.driftReports) await this.#d.publisher.putDriftReport(report);
      const record = await this.#d.publisher.markSessionStopped(action.session);
      this.#d.state().confirm(action);
      this.#d.changed();
      const finalisedAt = new Date(this.#d.state().now()).toISOString();
      this.#d.publisher.publishFinalised({
        schemaVersion: 1,
        kind: "SessionFinalised",
        session: action.session,
        status: action.status,
        finalisedAt,
        profiles,
        ...(action.missingNodes.length > 0 ? { missingNodes: action.missingNodes } : {}),
      });
      this.#d.metrics.sessionsFinalised.inc({ status: action.status });
      log.info(
        {
          event: "session.finalised",
          status: action.status,
          missingNodes: action.missingNodes,
          workloads: profiles.length,
          record,
        },
        "session finalised",
      );
      return;
    }
    if (action.kind === "late") {
      await this.#publishLate(action, log);
      return;
    }
    if (action.kind === "drift") {
      await this.#d.publisher.putDriftReport(action.report);
      this.#d.state().confirm(action);
      this.#d.changed();
      return;
    }
    const { step, publication: p } = action;
    await this.#d.publisher.putProfile(profileKey(action.session, p.token), p.document);
    await this.#d.publisher.putProfile(
      profileRevisionKey(action.session, p.token, step.revision),
      p.document,
    );
    this.#d.state().confirm(action);
    this.#d.changed();
    const wlog = log.child({ workload: p.token });
    if (step.kind === "revision") {
      this.#d.metrics.revisionsPublished.inc();
      wlog.info(
        { revision: step.revision, syscalls: p.document.syscalls.length },
        "profile revision published",
      );
    } else if (step.kind === "converged" && step.flags.convergedAt !== undefined) {
      this.#d.publisher.publishConvergence({
        schemaVersion: 1,
        kind: "Convergence",
        session: action.session,
        workload: p.workload,
        workloadToken: p.token,
        revision: step.revision,
        convergedAt: new Date(step.flags.convergedAt).toISOString(),
        lastChangeAt: new Date(action.lastChangeAt).toISOString(),
        windowSeconds: action.windowSeconds,
        syscalls: p.document.syscalls.length,
      });
      this.#d.metrics.convergences.inc();
      wlog.info({ revision: step.revision }, "profile converged");
    }
  }

  /**
   * Data that came after finalisation becomes a new revision: the final document plus the late
   * data, under `<key>.rev.<final revision + n>` with `lateBatches` set. The final document under
   * `<key>` stays as it was.
   */
  async #publishLate(action: Extract<Action, { kind: "late" }>, log: Logger): Promise<void> {
    const revisions = new Map<string, number>();
    for (const p of action.publications) {
      const stored = await this.#d.publisher.storedDocument(profileKey(action.session, p.token));
      const merged = observationsFromDocument(p.document);
      if (stored !== undefined) merged.mergeFrom(observationsFromDocument(stored.doc));
      const base = stored?.doc;
      const revision = (base?.revision ?? 0) + p.lateRevision;
      const doc = toProfileDocument(merged, {
        session: action.session,
        revision,
        status: base?.status === "recording" || base === undefined ? action.status : base.status,
        missingNodes: base?.missingNodes ?? [],
        gaps: base?.gaps ?? [],
        lateBatches: action.lateBatches,
        argSyscalls: base?.argSyscalls ?? p.document.argSyscalls ?? [],
      });
      await this.#d.publisher.putProfile(profileRevisionKey(action.session, p.token, revision), doc);
      revisions.set(p.token, revision);
      log.warn(
        { workload: p.token, revision, lateBatches: action.lateBatches, syscalls: doc.syscalls.length },
        "data after finalisation published as a new revision; the final profile is unchanged",
      );
    }
    this.#d.state().confirm(action, revisions);
    this.#d.changed();
  }
}
