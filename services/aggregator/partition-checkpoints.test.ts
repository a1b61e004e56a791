import type { JsMsg } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { SeccomposeError } from "../../lib/errors.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { decodeSnapshot, type LoadedCheckpoint } from "./checkpoint.ts";
import type { Settlement } from "./consumer.ts";
import { createMetrics } from "./metrics.ts";
import { MAX_ACK_PENDING, PartitionCheckpoints, type SettlingConsumer } from "./partition-checkpoints.ts";
import { AggregatorState } from "./session-state.ts";
import type { StateSnapshot } from "./state-snapshot.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");

/** A message of the consumer that only records how it was settled. */
function message(id: number, settled: string[]): JsMsg {
  return { ack: () => settled.push(`ack ${id}`), term: () => settled.push(`term ${id}`) } as unknown as JsMsg;
}

/** A consumer holding `settlement`, as EventConsumer does between checkpoints. */
class FakeConsumer implements SettlingConsumer {
  settlement: Settlement = { acks: [], terms: [] };
  coveredSeq = 0;
  get unsettled(): number {
    return this.settlement.acks.length + this.settlement.terms.length;
  }
  take(): Settlement {
    const taken = this.settlement;
    this.settlement = { acks: [], terms: [] };
    return taken;
  }
  covered(): number {
    return this.coveredSeq;
  }
  putBack(s: Settlement): void {
    this.settlement.acks.unshift(...s.acks);
    this.settlement.terms.unshift(...s.terms);
  }
}

function setUp(o: { holds?: () => boolean; load?: () => Promise<LoadedCheckpoint | undefined> } = {}) {
  const state = new AggregatorState(() => T0);
  const writes: Array<{ snapshot: StateSnapshot; coveredSeq: number; streamSeq: number }> = [];
  const failures: unknown[] = [];
  const lost: unknown[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const metrics = createMetrics();
  const checkpoints = new PartitionCheckpoints({
    store: {
      load: o.load ?? (async () => undefined),
      write: async (bytes, info) => {
        const failure = failures.shift();
        if (failure !== undefined) throw failure;
        writes.push({ snapshot: decodeSnapshot(bytes, "test"), ...info });
        return undefined as never;
      },
      pruneForeignChunks: async () => 0,
    },
    partition: 3,
    state: () => state,
    flush: async () => undefined,
    metrics,
    holds: o.holds ?? (() => true),
    lost: (err) => lost.push(err),
    log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) }),
  });
  const consumer = new FakeConsumer();
  checkpoints.attach(consumer);
  return { state, checkpoints, consumer, writes, failures, lost, logs };
}

describe("PartitionCheckpoints", () => {
  it("settles the messages merged before the snapshot once it is stored, and writes nothing when nothing changed", async () => {
    const { state, checkpoints, consumer, writes } = setUp();
    const settled: string[] = [];
    consumer.settlement = { acks: [message(1, settled)], terms: [message(2, settled)] };
    consumer.coveredSeq = 2;
    state.noteStreamSeq(2);
    await checkpoints.write();
    expect(settled).toEqual(["ack 1", "term 2"]);
    expect(writes.map((w) => [w.streamSeq, w.coveredSeq])).toEqual([[2, 2]]);
    expect(checkpoints.last).toEqual({ streamSeq: 2, writtenAt: new Date(T0).toISOString() });
    await checkpoints.write();
    expect(writes).toHaveLength(1);
    checkpoints.changed();
    await checkpoints.write();
    expect(writes).toHaveLength(2);
  });

  it("settles nothing when storing fails, and covers those messages with the next checkpoint", async () => {
    const { checkpoints, consumer, writes, failures, logs } = setUp();
    const settled: string[] = [];
    consumer.settlement = { acks: [message(1, settled)], terms: [] };
    failures.push(new Error("connection lost"));
    await checkpoints.write();
    expect(settled).toEqual([]);
    expect(consumer.unsettled).toBe(1);
    expect(logs.at(-1)?.msg).toBe("checkpoint failed; will retry");
    consumer.settlement.acks.push(message(2, settled));
    await checkpoints.write();
    expect(settled).toEqual(["ack 1", "ack 2"]);
    expect(writes).toHaveLength(1);
  });

  it("gives the partition up when another replica wrote the head, or when the lease is gone, settling nothing", async () => {
    const conflict = new SeccomposeError("SC_CHECKPOINT_CONFLICT", "another aggregator wrote the head");
    const taken = setUp();
    const settled: string[] = [];
    taken.consumer.settlement.acks.push(message(1, settled));
    taken.failures.push(conflict);
    await taken.checkpoints.write();
    expect(taken.lost).toEqual([conflict]);
    expect(settled).toEqual([]);

    let holds = true;
    const expired = setUp({ holds: () => holds });
    expired.consumer.settlement.acks.push(message(2, settled));
    holds = false;
    await expired.checkpoints.write();
    expect(expired.writes).toEqual([]);
    expect(expired.lost.map((e) => (e as SeccomposeError).code)).toEqual(["SC_CHECKPOINT_CONFLICT"]);
    await expect(expired.checkpoints.fence(undefined)).rejects.toMatchObject({
      code: "SC_CHECKPOINT_CONFLICT",
    });
  });

  it("tells whether a checkpoint reflecting the state as it is now was stored", async () => {
    const { state, checkpoints, writes, failures } = setUp();
    state.setRecord(sessionRecord("s1"));
    expect(await checkpoints.writeNow()).toBe(true);
    expect(writes.at(-1)?.snapshot.sessions.map((s) => s.id)).toEqual(["s1"]);
    failures.push(new Error("connection lost"));
    expect(await checkpoints.writeNow()).toBe(false);
  });

  it("forces a checkpoint once half of the messages the server lets it hold wait for one, or too many bytes", async () => {
    const { checkpoints, consumer, writes } = setUp();
    consumer.settlement.acks.push(message(1, []));
    checkpoints.onUnsettled(MAX_ACK_PENDING / 2 - 1, 64 * 1024 * 1024 - 1);
    expect(consumer.unsettled).toBe(1);
    // A checkpoint takes the messages it covers at once, before it is stored.
    checkpoints.onUnsettled(MAX_ACK_PENDING / 2, 1024);
    expect(consumer.unsettled).toBe(0);
    await checkpoints.final();
    consumer.settlement.acks.push(message(2, []));
    checkpoints.onUnsettled(1, 64 * 1024 * 1024);
    expect(consumer.unsettled).toBe(0);
    await checkpoints.final();
    expect(writes).toHaveLength(2);
  });

  it("restores a stored checkpoint, and takes an unreadable one for none", async () => {
    const snapshot = new AggregatorState(() => T0).snapshot();
    const head = { streamSeq: 9, coveredSeq: 7, instance: "earlier" } as LoadedCheckpoint["head"];
    const stored = setUp({ load: async () => ({ head, snapshot }) });
    const restored: StateSnapshot[] = [];
    expect((await stored.checkpoints.load((s) => restored.push(s)))?.head.coveredSeq).toBe(7);
    expect(restored).toEqual([snapshot]);
    expect(stored.logs.at(-1)).toMatchObject({
      event: "checkpoint.restored",
      streamSeq: 9,
      writtenBy: "earlier",
    });
    await stored.checkpoints.fence({ head, snapshot });
    expect(stored.writes.map((w) => [w.streamSeq, w.coveredSeq])).toEqual([[9, 7]]);

    const unreadable = setUp({
      load: async () => {
        throw new SeccomposeError("SC_CHECKPOINT_INVALID", "checkpoint head is not JSON");
      },
    });
    expect(await unreadable.checkpoints.load(() => restored.push(snapshot))).toBeUndefined();
    expect(restored).toHaveLength(1);
    expect(unreadable.logs.at(-1)?.msg).toBe("checkpoint unreadable; rebuilding from the stream");
  });
});
