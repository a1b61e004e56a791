/**
 * A session's changes as event messages. Each flush drains its tracker into numbered batches,
 * which are written to the local record before they are published (write-ahead): a batch that
 * was numbered is never lost or renumbered, and after a restart it is published again with the
 * same seq, which the stream and the aggregator de-duplicate. The session's last flush carries
 * exact counts and is followed by its FIN.
 */
import type { FinMarker } from "../../../lib/contracts/types.ts";
import { recordPartition } from "../../../lib/partitions.ts";
import type { EventPublisher } from "../ports.ts";
import { finGaps } from "./recording-gaps.ts";
import { needsPersist, persistSession, type Session } from "./session.ts";

export interface SessionFlusherDeps {
  node: string;
  /** As `uname -m` reports it. */
  arch: string;
  stateDir: string;
  publisher: EventPublisher;
  clock: () => number;
  maxEventsPerBatch: number;
  /** A flush sends at most this many batches per round; the rest waits for the next flush. */
  maxBatchesPerFlush: number;
  /** The agent's counts of what was published (its health counters). */
  counters: { batchesSent: number; eventsSent: number };
}

export class SessionFlusher {
  readonly #deps: SessionFlusherDeps;
  readonly #counters: SessionFlusherDeps["counters"];

  constructor(deps: SessionFlusherDeps) {
    this.#deps = deps;
    this.#counters = deps.counters;
  }

  /**
   * Drains into batches, records them locally, then publishes them; with `everything` (the last
   * flush), queues the stale counts first and repeats until nothing is left.
   */
  async flush(session: Session, everything = false): Promise<void> {
    const maxBatches = this.#deps.maxBatchesPerFlush;
    // Count updates travel at powers of two while a session runs; its last flush carries exact counts.
    if (everything) session.tracker.queueStaleCounts();
    do {
      const sentAt = this.#deps.clock();
      for (let n = 0; n < maxBatches; n++) {
        const workloads = session.tracker.drain(this.#deps.maxEventsPerBatch);
        if (workloads.length === 0) break;
        session.pending.push({
          schemaVersion: 1,
          kind: "batch",
          session: session.record.id,
          node: this.#deps.node,
          arch: this.#deps.arch,
          seq: session.nextSeq++,
          sentAt,
          droppedEvents: session.droppedEvents,
          workloads,
        });
        session.dirty = true;
      }
      if (needsPersist(session)) await persistSession(this.#deps.stateDir, session, this.#deps.clock());
      while (session.pending.length > 0) {
        const batch = session.pending[0]!;
        await this.#deps.publisher.publish(batch, recordPartition(session.record));
        session.pending.shift();
        session.batchesSent++;
        session.dirty = true;
        this.#counters.batchesSent++;
        for (const entry of batch.workloads) this.#counters.eventsSent += entry.syscalls.length;
      }
    } while (everything && session.tracker.pendingCount > 0);
  }

  /** The last flush, then the FIN, which tells how many batches came before it and what was missed. */
  async finish(session: Session): Promise<void> {
    await this.flush(session, true);
    const fin: FinMarker = {
      schemaVersion: 1,
      kind: "fin",
      session: session.record.id,
      node: this.#deps.node,
      batches: session.nextSeq - 1,
      sentAt: this.#deps.clock(),
      droppedEvents: session.droppedEvents,
    };
    if (session.gaps.length > 0) fin.gaps = finGaps(session.gaps);
    await this.#deps.publisher.publish(fin, recordPartition(session.record));
  }
}
