/**
 * What the aggregator tells about each merged message: metrics, a log line for the first refusal
 * of each kind (reason, session, node, and workload for entries the pod ownership check refused;
 * the rest only counted, so a flooding node cannot flood the logs), late data, and a Drift event
 * for each call outside a frozen profile.
 */
import type { Logger } from "pino";
import type { DriftEvent } from "../../lib/contracts/types.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import type { MergeOutcome } from "./session-state.ts";

/** Distinct refusals logged; beyond this they are only counted. */
const MAX_REFUSALS_LOGGED = 1000;

export class MergeReporter {
  readonly #m: AggregatorMetrics;
  readonly #log: Logger;
  readonly #drift: (event: DriftEvent) => void;
  readonly #refusalsLogged = new Set<string>();

  /** `drift` publishes a Drift event (sc.drift.…). */
  constructor(metrics: AggregatorMetrics, log: Logger, drift: (event: DriftEvent) => void) {
    this.#m = metrics;
    this.#log = log;
    this.#drift = drift;
  }

  #refusal(outcome: MergeOutcome): void {
    const reason = outcome.refused!;
    this.#m.refusedMessages.inc({ reason });
    const key = `${reason}/${outcome.session}/${outcome.node}`;
    if (this.#refusalsLogged.has(key) || this.#refusalsLogged.size >= MAX_REFUSALS_LOGGED) return;
    this.#refusalsLogged.add(key);
    this.#log.warn(
      {
        session: outcome.session,
        node: outcome.node,
        kind: outcome.kind,
        reason,
        code: "SC_MESSAGE_REFUSED",
      },
      "message refused; further ones like it are only counted",
    );
  }

  /** Logs the first refusal per reason, session, node and workload; the rest are only counted. */
  #refusedEntries(outcome: MergeOutcome): void {
    for (const r of outcome.refusedEntries ?? []) {
      this.#m.refusedEntries.inc({ reason: r.reason });
      const workload = workloadToken(r.workload);
      const key = `${r.reason}/${outcome.session}/${outcome.node}/${workload}`;
      if (this.#refusalsLogged.has(key) || this.#refusalsLogged.size >= MAX_REFUSALS_LOGGED) continue;
      this.#refusalsLogged.add(key);
      this.#log.warn(
        {
          session: outcome.session,
          node: outcome.node,
          workload,
          pod: r.pod,
          podUid: r.podUid,
          reason: r.reason,
          code: "SC_MESSAGE_REFUSED",
          event: "entry.refused",
        },
        "workload entry refused by the pod ownership check; further ones like it are only counted",
      );
    }
  }

  /** Reports what a merge did (refusal, late data, drift); false: the message is to be terminated. */
  report(outcome: MergeOutcome): boolean {
    if (outcome.refused !== undefined) {
      this.#refusal(outcome);
      return false;
    }
    if (outcome.refusedEntries !== undefined) this.#refusedEntries(outcome);
    if (outcome.held === true) return true;
    if (outcome.late) {
      if (outcome.fresh) {
        this.#m.lateBatches.inc();
        this.#log.warn(
          { session: outcome.session, node: outcome.node, kind: outcome.kind },
          "message for a finalised session; kept for a late revision, the final profile is unchanged",
        );
      }
      return true;
    }
    if (outcome.kind === "batch") {
      if (outcome.fresh) this.#m.batchesMerged.inc();
      // Entries that waited for the pod watch are merged later, outside any fresh batch.
      if (outcome.events > 0) this.#m.eventsMerged.inc(outcome.events);
    }
    for (const d of outcome.drift) {
      const event = {
        schemaVersion: 1 as const,
        kind: "Drift" as const,
        session: d.session,
        workload: d.workload,
        workloadToken: d.token,
        node: d.node,
        syscall: d.syscall,
        count: d.count,
        firstSeen: new Date(d.firstSeen).toISOString(),
        detectedAt: new Date(d.detectedAt).toISOString(),
        frozenRevision: d.frozenRevision,
        ...(d.pod !== undefined ? { pod: d.pod } : {}),
        ...(d.containerId !== undefined ? { containerId: d.containerId } : {}),
        ...(d.args !== undefined ? { args: [...d.args] } : {}),
      };
      this.#drift(event);
      this.#m.driftEvents.inc();
      this.#log.info(
        { session: d.session, node: d.node, workload: d.token, pod: d.pod, syscall: d.syscall },
        "drift: call outside the frozen profile",
      );
    }
    return true;
  }
}
