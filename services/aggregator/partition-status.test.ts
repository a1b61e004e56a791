import type { ConsumerInfo } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { assertValid } from "../../lib/contracts/validators.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { partitionStatus, type PartitionStatusInputs } from "./partition-status.ts";
import { AggregatorState } from "./session-state.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");

function inputs(
  consumerInfo: PartitionStatusInputs["consumerInfo"],
  logs: unknown[] = [],
): PartitionStatusInputs {
  return {
    instance: "replica-1",
    partition: 2,
    consumerInfo,
    checkpoint: () => ({ streamSeq: 40, writtenAt: new Date(T0).toISOString() }),
    podOwnershipOff: "not running in a cluster",
    log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) }),
  };
}

describe("partitionStatus", () => {
  it("shows the partition's durable consumer and last checkpoint with its sessions", async () => {
    const state = new AggregatorState(() => T0);
    state.setRecord(sessionRecord("s1", { expectedNodes: ["node-a"] }));
    const info = { num_pending: 5, num_ack_pending: 2, ack_floor: { stream_seq: 33 } } as ConsumerInfo;
    const status = assertValid(
      "aggregatorStatus",
      await partitionStatus(
        state,
        undefined,
        inputs(async () => info),
      ),
      "test",
    );
    expect(status.consumer).toEqual({
      stream: "SC_EVENTS",
      durable: "sc_aggregator_2",
      numPending: 5,
      numAckPending: 2,
      ackFloor: 33,
    });
    expect(status.checkpoint).toEqual({ streamSeq: 40, writtenAt: new Date(T0).toISOString() });
    expect(status.sessions.map((s) => s.session)).toEqual(["s1"]);
    expect(status.instance).toBe("replica-1");
  });

  it("reads the last checkpoint after the consumer info, so the ack floor is never ahead of it", async () => {
    const state = new AggregatorState(() => T0);
    let checkpoint = { streamSeq: 10, writtenAt: new Date(T0).toISOString() };
    const o = inputs(async () => {
      // A checkpoint settles while the consumer info is on its way.
      checkpoint = { streamSeq: 33, writtenAt: new Date(T0 + 1).toISOString() };
      return { num_pending: 0, num_ack_pending: 0, ack_floor: { stream_seq: 33 } } as ConsumerInfo;
    });
    const status = await partitionStatus(state, undefined, { ...o, checkpoint: () => checkpoint });
    expect(status.consumer?.ackFloor).toBe(33);
    expect(status.checkpoint?.streamSeq).toBe(33);
  });

  it("answers without the consumer when it cannot be read, and says why in the log", async () => {
    const logs: Array<Record<string, unknown>> = [];
    const state = new AggregatorState(() => T0);
    const status = await partitionStatus(
      state,
      "s1",
      inputs(async () => {
        throw new Error("timeout");
      }, logs),
    );
    expect(status.consumer).toBeUndefined();
    expect(logs.map((l) => l.event)).toEqual(["status.consumer-unreadable"]);
  });
});
