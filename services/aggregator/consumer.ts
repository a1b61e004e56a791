/**
 * The durable pull consumer of one partition of SC_EVENTS (filter `sc.ev.<p>.*.*`). Messages are handed to the merge one at a time, in
 * delivery order, and are neither acked nor terminated here: they wait until a checkpoint reflects
 * them (see checkpoint.ts), then `settle()` acks the good ones and terminates the bad ones.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type {
  ConsumerConfig,
  ConsumerInfo,
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { isConsumerNotFound } from "../../lib/nats/errors.ts";
import { STREAM_EVENTS, aggregatorDurable, partitionSubjects } from "../../lib/subjects.ts";

export interface DurableSettings {
  /** Must exceed the checkpoint interval: messages stay unacked until a checkpoint covers them. */
  ackWaitMs: number;
  /** Messages delivered but not yet covered by a checkpoint; delivery pauses at this many. */
  maxAckPending: number;
}

export type DurablePlan = { action: "keep" } | { action: "create"; startAfter: number; reason: string };

/**
 * How to start consuming, given the durable consumer as found (if any) and the stream sequence the
 * stored checkpoint covers (undefined: there is no checkpoint).
 *
 * Messages a killed predecessor received but never acked would only come back after ack_wait, so
 * the durable is then recreated after the highest sequence known to be covered (its ack floor, or
 * the checkpoint's); everything past it comes again, which the idempotent merge absorbs.
 */
export function planDurable(
  info: ConsumerInfo | undefined,
  checkpointCovered: number | undefined,
  partition: number,
): DurablePlan {
  if (info === undefined) {
    return {
      action: "create",
      startAfter: checkpointCovered ?? 0,
      reason:
        checkpointCovered === undefined ? "no durable consumer and no checkpoint" : "no durable consumer",
    };
  }
  const floor = info.ack_floor.stream_seq;
  if (checkpointCovered === undefined && floor > 0) {
    return {
      action: "create",
      startAfter: 0,
      reason: "the consumer acked messages but no checkpoint exists",
    };
  }
  const startAfter = Math.max(floor, checkpointCovered ?? 0);
  const c = info.config;
  if (c.ack_policy !== AckPolicy.Explicit || c.filter_subject !== partitionSubjects(partition)) {
    return { action: "create", startAfter, reason: "the consumer's ack policy or filter differs" };
  }
  if (info.num_ack_pending > 0) {
    return { action: "create", startAfter, reason: "messages delivered to a previous process are unacked" };
  }
  return { action: "keep" };
}

/** Where consumption starts: every stream sequence up to `coveredSeq` is reflected in the restored state. */
export interface DurableStart {
  coveredSeq: number;
  /** Consumer (delivery) sequence of the last message delivered before this process started. */
  deliveredSeq: number;
}

function durableConfig(
  settings: DurableSettings,
  startAfter: number,
  partition: number,
): Partial<ConsumerConfig> {
  return {
    durable_name: aggregatorDurable(partition),
    ack_policy: AckPolicy.Explicit,
    filter_subject: partitionSubjects(partition),
    ack_wait: nanos(settings.ackWaitMs),
    max_ack_pending: settings.maxAckPending,
    max_deliver: -1,
    ...(startAfter > 0
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startAfter + 1 }
      : { deliver_policy: DeliverPolicy.All }),
  };
}

export async function durableInfo(
  jsm: JetStreamManager,
  partition: number,
  durable = aggregatorDurable(partition),
): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(STREAM_EVENTS, durable);
  } catch (err) {
    if (isConsumerNotFound(err)) return undefined;
    throw err;
  }
}

/** Creates, recreates or updates the durable consumer according to `planDurable`. */
export async function ensureDurable(
  jsm: JetStreamManager,
  partition: number,
  settings: DurableSettings,
  checkpointCovered: number | undefined,
  logger: Logger,
): Promise<DurableStart> {
  const durable = aggregatorDurable(partition);
  const info = await durableInfo(jsm, partition);
  const plan = planDurable(info, checkpointCovered, partition);
  if (plan.action === "keep" && info !== undefined) {
    // On 2.9 `add` of an existing durable updates its mutable settings; the start position stays.
    await jsm.consumers.add(STREAM_EVENTS, {
      ...info.config,
      ack_wait: nanos(settings.ackWaitMs),
      max_ack_pending: settings.maxAckPending,
    });
    logger.info(
      { event: "consumer.resumed", durable, ackFloor: info.ack_floor.stream_seq },
      "resuming the durable consumer",
    );
    // Nothing is pending, so everything delivered so far was acked, hence covered by a checkpoint.
    return { coveredSeq: info.ack_floor.stream_seq, deliveredSeq: info.delivered.consumer_seq };
  }
  const startAfter = plan.action === "create" ? plan.startAfter : 0;
  if (info !== undefined) await jsm.consumers.delete(STREAM_EVENTS, durable);
  await jsm.consumers.add(STREAM_EVENTS, durableConfig(settings, startAfter, partition));
  logger.info(
    { durable, startAfter, reason: plan.action === "create" ? plan.reason : "new" },
    "created the durable consumer",
  );
  return { coveredSeq: startAfter, deliveredSeq: 0 };
}

export interface Settlement {
  acks: JsMsg[];
  terms: JsMsg[];
}

/** Acks merged messages and terminates bad ones (term() without a reason: 2.9 ignores reasons). */
export function settle(s: Settlement): void {
  for (const m of s.acks) m.ack();
  for (const m of s.terms) m.term();
}

export interface EventConsumerOptions {
  /**
   * Bytes requested per pull. Bounded by bytes, not messages: a pull of large batches that takes
   * long to merge starves the socket, and the server drops a client that does not read in time.
   */
  maxBytes: number;
  partition: number;
  start: DurableStart;
  logger: Logger;
  /** Merges one message; false: it is bad and will be terminated. Must not throw. */
  handle: (m: JsMsg) => boolean;
  /**
   * Called before `handle` with the stream sequence of a first delivery that follows every earlier
   * delivery (nothing went missing in transit), for the detection of discarded messages.
   */
  onFirstDelivery?: (streamSeq: number) => void;
  /** Called after each message with the number of messages, and their bytes, awaiting a checkpoint. */
  onUnsettled: (count: number, bytes: number) => void;
}

export class EventConsumer {
  readonly #js: JetStreamClient;
  readonly #opts: EventConsumerOptions;
  #settlement: Settlement = { acks: [], terms: [] };
  /** Bytes of the messages in #settlement: each holds its payload until settled. */
  #unsettledBytes = 0;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #covered: number;
  #lastDelivery: number;
  #deliveriesContiguous = true;

  constructor(js: JetStreamClient, opts: EventConsumerOptions) {
    this.#js = js;
    this.#opts = opts;
    this.#covered = opts.start.coveredSeq;
    this.#lastDelivery = opts.start.deliveredSeq;
  }

  /**
   * The highest stream sequence S such that every message up to S was merged by this process or
   * covered when it started. A pull consumer delivers new messages in stream order, so a first
   * delivery of S after an unbroken run of delivery sequences means nothing before S was skipped.
   * Once a delivery goes missing (lost in transit, to come back after ack_wait), S stays put.
   */
  covered(): number {
    return this.#covered;
  }

  #track(m: JsMsg): void {
    if (!this.#deliveriesContiguous) return;
    const { deliverySequence, deliveryCount, streamSequence } = m.info;
    if (deliverySequence !== this.#lastDelivery + 1) {
      this.#deliveriesContiguous = false;
      this.#opts.logger.warn(
        { expected: this.#lastDelivery + 1, got: deliverySequence },
        "a delivery went missing; the covered stream sequence stays until restart",
      );
      return;
    }
    this.#lastDelivery = deliverySequence;
    if (deliveryCount !== 1) return;
    this.#opts.onFirstDelivery?.(streamSequence);
    if (streamSequence > this.#covered) this.#covered = streamSequence;
  }

  /** Consumer (delivery) sequence of the last message this process received. */
  get lastDelivery(): number {
    return this.#lastDelivery;
  }

  /** Whether every delivery so far was received (see covered()). */
  get contiguous(): boolean {
    return this.#deliveriesContiguous;
  }

  async start(): Promise<void> {
    const consumer = await this.#js.consumers.get(STREAM_EVENTS, aggregatorDurable(this.#opts.partition));
    const messages = await consumer.consume({ max_bytes: this.#opts.maxBytes });
    this.#messages = messages;
    const logger = this.#opts.logger;
    void (async () => {
      for await (const s of messages.status()) {
        if (
          s.type === "heartbeats_missed" ||
          s.type === "consumer_not_found" ||
          s.type === "consumer_deleted"
        ) {
          logger.warn({ status: s }, "event consumer status");
        }
      }
    })();
    this.#loop = (async () => {
      for await (const m of messages) {
        // Synchronous with the merge: a checkpoint sees both or neither.
        this.#track(m);
        (this.#opts.handle(m) ? this.#settlement.acks : this.#settlement.terms).push(m);
        this.#unsettledBytes += m.data.length;
        this.#opts.onUnsettled(this.unsettled, this.#unsettledBytes);
      }
    })();
  }

  get unsettled(): number {
    return this.#settlement.acks.length + this.#settlement.terms.length;
  }

  /** Everything merged so far, to settle once a checkpoint taken now is stored. */
  take(): Settlement {
    const taken = this.#settlement;
    this.#settlement = { acks: [], terms: [] };
    this.#unsettledBytes = 0;
    return taken;
  }

  /** Returns messages whose checkpoint failed; the next checkpoint covers them together with newer ones. */
  putBack(s: Settlement): void {
    this.#settlement.acks.unshift(...s.acks);
    this.#settlement.terms.unshift(...s.terms);
    for (const m of [...s.acks, ...s.terms]) this.#unsettledBytes += m.data.length;
  }

  /** Stops pulling; messages already merged stay available to take(). */
  async stop(): Promise<void> {
    await this.#messages?.close();
    await this.#loop;
  }
}
