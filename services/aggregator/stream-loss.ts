/**
 * Detects stream messages that were discarded before the aggregator consumed them: the stream's
 * limits (max_age, max_bytes with discard-old) or a purge remove messages whether or not a consumer
 * still needs them, and nothing tells the consumer. What can be seen is a hole:
 *
 * - between two first deliveries: the consumer delivers in stream order, so when its filter takes
 *   every subject of the stream, a sequence skipped between consecutive deliveries was removed;
 * - at the head: a stream whose first sequence is beyond what the consumer was given (at start
 *   against the checkpoint, and at each look while running) removed what lay in between.
 *
 * When the consumer's filter takes only part of the stream (one partition), skipped sequences are
 * usually other partitions' messages, so only the head is checked, and what was seen advances to
 * the stream's last sequence whenever the consumer has nothing pending (an idle partition must not
 * take other partitions' aged-out messages for its own). A range found at the head is then an upper
 * bound: the removed messages cannot be read to tell whose they were.
 *
 * Deleting a session (deletion.ts) purges its events on purpose: the replica that deletes it tells
 * its watch, and holes up to the stream's last sequence at that moment are not reported. A hole
 * the stream's limits opened in that same range then goes unreported too; other replicas' watches
 * are not told, and only see the purge when it moves the stream's first sequence beyond all they
 * consumed while they still had messages pending.
 */
import type { StreamLoss } from "../../lib/contracts/types.ts";

export interface LostRange {
  firstSeq: number;
  lastSeq: number;
}

export class StreamLossWatch {
  /** Every message up to here that the consumer's filter takes was delivered, or reported lost. */
  #seen: number;
  readonly #wholeStream: boolean;
  /** Holes up to here were opened by purges of deleted sessions. */
  #purgedUpTo = 0;

  /**
   * `seenUpTo`: the stream sequence the consumer starts after (its checkpoint's covered sequence).
   * `wholeStream`: the consumer's filter takes every subject of the stream.
   */
  constructor(seenUpTo: number, wholeStream: boolean) {
    this.#seen = seenUpTo;
    this.#wholeStream = wholeStream;
  }

  /** A first delivery of stream sequence `seq`, every earlier delivery having been received. */
  delivered(seq: number): LostRange | undefined {
    const lost = this.#wholeStream ? this.#hole(this.#seen + 1, seq - 1) : undefined;
    if (seq > this.#seen) this.#seen = seq;
    return lost;
  }

  /** A deleted session's messages up to stream sequence `upTo` were purged. */
  purged(upTo: number): void {
    if (upTo > this.#purgedUpTo) this.#purgedUpTo = upTo;
  }

  /** The part of the hole firstSeq..lastSeq that no purge of a deleted session explains. */
  #hole(firstSeq: number, lastSeq: number): LostRange | undefined {
    const first = Math.max(firstSeq, this.#purgedUpTo + 1);
    return first <= lastSeq ? { firstSeq: first, lastSeq } : undefined;
  }

  /**
   * A look at the stream, then at the consumer: the stream's first and last sequences, then whether
   * the consumer has messages pending and deliveries this process has not looked at yet. A stream
   * that now starts beyond what was seen discarded what lay in between. With nothing pending and
   * nothing in flight, every message of the filter up to `lastSeq` was delivered.
   */
  look(r: { firstSeq: number; lastSeq: number; pending: number; inFlight: boolean }): LostRange | undefined {
    // Deliveries not looked at yet may be the very messages the stream has since discarded.
    if (r.inFlight) return undefined;
    let lost: LostRange | undefined;
    if (r.firstSeq > this.#seen + 1) {
      lost = this.#hole(this.#seen + 1, r.firstSeq - 1);
      this.#seen = r.firstSeq - 1;
    }
    if (r.pending === 0 && r.lastSeq > this.#seen) this.#seen = r.lastSeq;
    return lost;
  }
}

/** How a lost range is named in documents and status. */
export function streamLoss(stream: string, range: LostRange): StreamLoss {
  const seqs = range.firstSeq === range.lastSeq ? `${range.firstSeq}` : `${range.firstSeq}-${range.lastSeq}`;
  return {
    stream,
    firstSeq: range.firstSeq,
    lastSeq: range.lastSeq,
    reason: `stream ${stream} discarded messages ${seqs} before the aggregator consumed them (stream limits max_age or max_bytes, or a purge)`,
  };
}
