/**
 * One partition's part of the status reply (the replica combines its partitions'): its state's
 * sessions and counters (status.ts) with its durable consumer as the server sees it and the last
 * checkpoint this process stored. A consumer that cannot be read leaves the reply without it.
 */
import type { ConsumerInfo } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { AggregatorStatus } from "../../lib/contracts/types.ts";
import { STREAM_EVENTS, aggregatorDurable } from "../../lib/subjects.ts";
import type { AggregatorState } from "./session-state.ts";
import { buildStatus, type ConsumerStatus, type StatusInputs } from "./status.ts";

export interface PartitionStatusInputs extends Pick<StatusInputs, "instance" | "podOwnershipOff"> {
  partition: number;
  /** The partition's durable consumer as the server sees it, when it can be read. */
  consumerInfo: () => Promise<ConsumerInfo | undefined>;
  /**
   * The last checkpoint stored, read once the consumer info is in: read before, a checkpoint
   * settled meanwhile would show an ack floor ahead of the checkpoint reported beside it.
   */
  checkpoint: () => StatusInputs["checkpoint"];
  log: Logger;
}

/** The status of `state`'s sessions (only `session`'s, when given). */
export async function partitionStatus(
  state: AggregatorState,
  session: string | undefined,
  o: PartitionStatusInputs,
): Promise<AggregatorStatus> {
  let consumer: ConsumerStatus | undefined;
  try {
    const info = await o.consumerInfo();
    if (info !== undefined) {
      consumer = {
        stream: STREAM_EVENTS,
        durable: aggregatorDurable(o.partition),
        numPending: info.num_pending,
        numAckPending: info.num_ack_pending,
        ackFloor: info.ack_floor.stream_seq,
      };
    }
  } catch (err) {
    o.log.warn({ event: "status.consumer-unreadable", err }, "could not read the consumer info for status");
  }
  return buildStatus(state, {
    instance: o.instance,
    now: state.now(),
    consumer,
    checkpoint: o.checkpoint(),
    session,
    podOwnershipOff: o.podOwnershipOff,
  });
}
