/**
 * Looks for messages of a partition that the stream discarded before they were consumed (what
 * counts as a hole is stream-loss.ts): once at start-up, before anything new is merged, then
 * periodically against the stream and the durable consumer; each range found marks the sessions
 * accepting data as partial, and is counted and logged. Holes between deliveries are found by the
 * consumer's first deliveries, which the partition aggregator hands to the watch itself.
 */
import type { ConsumerInfo, StreamState } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { STREAM_EVENTS } from "../../lib/subjects.ts";
import type { EventConsumer } from "./consumer.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import type { AggregatorState } from "./session-state.ts";
import { StreamLossWatch, streamLoss, type LostRange } from "./stream-loss.ts";

export interface StreamLossMonitorDeps {
  /** SC_EVENTS as the server sees it now. */
  streamState: () => Promise<Pick<StreamState, "first_seq" | "last_seq">>;
  /** The partition's durable consumer as the server sees it, when it can be read. */
  consumerInfo: () => Promise<ConsumerInfo | undefined>;
  /** The partition's state as it is now (restored at start-up). */
  state: () => AggregatorState;
  metrics: Pick<AggregatorMetrics, "lostMessages">;
  /** The state changed: a checkpoint is due. */
  changed: () => void;
  log: Logger;
}

export class StreamLossMonitor {
  readonly #d: StreamLossMonitorDeps;
  #watch: StreamLossWatch | undefined;
  #consumer: Pick<EventConsumer, "contiguous" | "lastDelivery"> | undefined;
  #looking = false;
  #stopped = false;

  constructor(deps: StreamLossMonitorDeps) {
    this.#d = deps;
  }

  /**
   * Starts watching after `coveredSeq` (the consumer starts after it), and looks once for messages
   * discarded while no aggregator ran. `wholeStream`: the consumer's filter takes every subject.
   * Returns the watch, to be told of every first delivery.
   */
  async start(coveredSeq: number, wholeStream: boolean): Promise<StreamLossWatch> {
    const watch = new StreamLossWatch(coveredSeq, wholeStream);
    this.#watch = watch;
    const state = await this.#d.streamState();
    const lost = watch.look({
      firstSeq: state.first_seq,
      lastSeq: state.last_seq,
      pending: 1,
      inFlight: false,
    });
    if (lost !== undefined) this.report(lost);
    return watch;
  }

  /** From now on looks take the deliveries of `consumer` into account. */
  attach(consumer: Pick<EventConsumer, "contiguous" | "lastDelivery">): void {
    this.#consumer = consumer;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Compares the stream with what was consumed; one look at a time. */
  async look(): Promise<void> {
    const watch = this.#watch;
    if (watch === undefined || this.#looking || this.#stopped) return;
    this.#looking = true;
    try {
      // Stream first, consumer second: nothing pending then means nothing up to last_seq is missing.
      const state = await this.#d.streamState();
      const info = await this.#d.consumerInfo();
      const consumer = this.#consumer;
      if (info === undefined || consumer === undefined) return;
      const lost = watch.look({
        firstSeq: state.first_seq,
        lastSeq: state.last_seq,
        pending: info.num_pending,
        // A delivery that went missing in transit counts as in flight until the next restart.
        inFlight: !consumer.contiguous || info.delivered.consumer_seq > consumer.lastDelivery,
      });
      if (lost !== undefined) this.report(lost);
    } catch (err) {
      this.#d.log.warn({ err }, "could not compare the stream with what was consumed");
    } finally {
      this.#looking = false;
    }
  }

  /**
   * A deleted session's events were purged from the stream: the sequences they leave out, up to the
   * stream's last one now, are no loss.
   */
  async excusePurge(): Promise<void> {
    const state = await this.#d.streamState();
    this.#watch?.purged(state.last_seq);
  }

  /** Marks the sessions accepting data as partial, counts and logs the range lost. */
  report(range: LostRange): void {
    const loss = streamLoss(STREAM_EVENTS, range);
    const sessions = this.#d.state().noteStreamLoss(loss);
    this.#d.metrics.lostMessages.inc(range.lastSeq - range.firstSeq + 1);
    this.#d.changed();
    this.#d.log.warn(
      { stream: STREAM_EVENTS, firstSeq: range.firstSeq, lastSeq: range.lastSeq, sessions },
      "stream messages were discarded before they were consumed; the sessions accepting data are partial",
    );
  }
}
