/**
 * What the event publisher counts of its messages since it started: acknowledged batches, FINs
 * and events, duplicates, spooled, replayed and refused messages.
 */
import type { SpoolRecord } from "./spool.ts";

export interface PublisherStats {
  /** Batches acknowledged by the stream, duplicates included. */
  batchesSent: number;
  finsSent: number;
  /** Syscall events in acknowledged batches. */
  eventsSent: number;
  /** Acks that reported the message as already stored. */
  duplicates: number;
  /** Messages written to the spool. */
  spooled: number;
  /** Spooled messages acknowledged after replay. */
  replayed: number;
  /** Messages JetStream refused for good (not retried). */
  rejected: number;
  inFlight: number;
  spoolMessages: number;
  spoolBytes: number;
}

/** What is counted; the rest of PublisherStats is the publisher's state at the moment it is asked. */
export type PublisherCounts = Omit<PublisherStats, "inFlight" | "spoolMessages" | "spoolBytes">;

export class PublishCounter {
  /** Counted into directly where a message is spooled, replayed or refused. */
  readonly counts: PublisherCounts = {
    batchesSent: 0,
    finsSent: 0,
    eventsSent: 0,
    duplicates: 0,
    spooled: 0,
    replayed: 0,
    rejected: 0,
  };

  /** The stream acknowledged the message, on the direct path or from the spool. */
  acked(record: SpoolRecord, duplicate: boolean): void {
    const counts = this.counts;
    if (record.kind === "batch") {
      counts.batchesSent++;
      counts.eventsSent += record.events;
    } else {
      counts.finsSent++;
    }
    if (duplicate) counts.duplicates++;
  }

  stats(inFlight: number, spool: { size: number; bytes: number }): PublisherStats {
    return { ...this.counts, inFlight, spoolMessages: spool.size, spoolBytes: spool.bytes };
  }
}
