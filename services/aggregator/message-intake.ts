/**
 * Where a partition's messages enter its state: pulled from its durable consumer, each one is
 * decoded and validated (size, schema, and the subject it came on must be that of its session and
 * node), merged (AggregatorState.apply) and reported (merge-reporter.ts). A bad message is counted and logged, never merged; the consumer
 * terminates it at the next checkpoint.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { DriftEvent } from "../../lib/contracts/types.ts";
import { isSeccomposeError, SeccomposeError } from "../../lib/errors.ts";
import { decodeEventMessage } from "../../lib/nats/codec.ts";
import { STREAM_EVENTS, eventSubject } from "../../lib/subjects.ts";
import { EventConsumer, type DurableStart, type EventConsumerOptions } from "./consumer.ts";
import { MergeReporter } from "./merge-reporter.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import type { AggregatorState, MergeOutcome } from "./session-state.ts";

/** Bytes asked for per pull (see EventConsumerOptions.maxBytes). */
const PULL_MAX_BYTES = 4 * 1024 * 1024;

export interface MessageIntakeDeps {
  partition: number;
  maxMessageBytes: number;
  metrics: AggregatorMetrics;
  log: Logger;
  /** Publishes a Drift event (sc.drift.…). */
  drift: (event: DriftEvent) => void;
  /** A node's data is complete: its session is worth checking at once. */
  nodeComplete: () => void;
}

export class MessageIntake {
  /** The partition's state, held here so that each message reaches it without a further call. */
  #state: AggregatorState;
  readonly #d: MessageIntakeDeps;
  readonly #partition: number;
  readonly #maxMessageBytes: number;
  readonly #reporter: MergeReporter;

  constructor(state: AggregatorState, deps: MessageIntakeDeps) {
    this.#state = state;
    this.#d = deps;
    this.#partition = deps.partition;
    this.#maxMessageBytes = deps.maxMessageBytes;
    this.#reporter = new MergeReporter(deps.metrics, deps.log, deps.drift);
  }

  get state(): AggregatorState {
    return this.#state;
  }

  /** Takes over the state restored from the checkpoint at start-up, before any message is pulled. */
  restored(state: AggregatorState): void {
    this.#state = state;
  }

  /** The partition's consumer from `start` on, each message handed to `handle`. */
  consumer(
    js: JetStreamClient,
    start: DurableStart,
    hooks: Pick<EventConsumerOptions, "onFirstDelivery" | "onUnsettled">,
  ): EventConsumer {
    return new EventConsumer(js, {
      maxBytes: PULL_MAX_BYTES,
      partition: this.#partition,
      start,
      logger: this.#d.log,
      handle: (m) => this.handle(m),
      ...hooks,
    });
  }

  /** Merges one message of the consumer; false: it is bad, to be terminated. Never throws. */
  handle(m: JsMsg): boolean {
    const source = `${STREAM_EVENTS} seq ${m.seq} on ${m.subject}`;
    this.#state.noteStreamSeq(m.seq);
    let outcome: MergeOutcome;
    try {
      const message = decodeEventMessage(m.data, source, this.#maxMessageBytes);
      const expected = eventSubject(this.#partition, message.session, message.node);
      if (m.subject !== expected) {
        throw new SeccomposeError(
          "SC_MESSAGE_INVALID",
          `${source} is from session ${message.session}, node ${message.node}, whose subject is ${expected}`,
        );
      }
      outcome = this.#state.apply(message);
    } catch (err) {
      this.#state.noteBadMessage();
      this.#d.metrics.badBatches.inc();
      const fields = { subject: m.subject, seq: m.seq, bytes: m.data.length };
      if (isSeccomposeError(err)) this.#d.log.warn({ event: "message.bad", ...fields, err }, "bad message");
      else this.#d.log.error({ event: "message.merge-failed", ...fields, err }, "merging a message failed");
      return false;
    }
    return this.report(outcome);
  }

  /**
   * Reports a merge (merge-reporter.ts; the first refusal per session, node and reason only is
   * logged, so a flood does not become a log flood); false: the message is to be terminated.
   */
  report(outcome: MergeOutcome): boolean {
    const keep = this.#reporter.report(outcome);
    if (outcome.nodeComplete) this.#d.nodeComplete();
    return keep;
  }
}
