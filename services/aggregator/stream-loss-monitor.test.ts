import type { ConsumerInfo } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { createMetrics } from "./metrics.ts";
import { AggregatorState } from "./session-state.ts";
import { StreamLossMonitor } from "./stream-loss-monitor.ts";

function setUp() {
  const state = new AggregatorState(() => 0);
  state.setRecord(sessionRecord("s1", { expectedNodes: ["node-a"] }));
  const stream = { first_seq: 1, last_seq: 0 };
  const consumer = { contiguous: true, lastDelivery: 0 };
  let info: ConsumerInfo | undefined;
  let changes = 0;
  const metrics = createMetrics();
  const logs: Array<Record<string, unknown>> = [];
  const monitor = new StreamLossMonitor({
    streamState: async () => ({ ...stream }),
    consumerInfo: async () => info,
    state: () => state,
    metrics,
    changed: () => changes++,
    log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) }),
  });
  const consumerAt = (pending: number, deliveredConsumerSeq: number) => {
    info = { num_pending: pending, delivered: { consumer_seq: deliveredConsumerSeq } } as ConsumerInfo;
  };
  return { state, stream, consumer, consumerAt, monitor, metrics, logs, changes: () => changes };
}

const lostTotal = async (metrics: ReturnType<typeof createMetrics>) =>
  metrics.registry.getSingleMetricAsString("seccompose_aggregator_lost_messages_total");

describe("StreamLossMonitor", () => {
  it("marks the sessions accepting data partial when the stream starts beyond what the checkpoint covers", async () => {
    const { state, stream, monitor, metrics, logs, changes } = setUp();
    Object.assign(stream, { first_seq: 11, last_seq: 20 });
    await monitor.start(4, true);
    expect(state.sessions.get("s1")!.streamLoss.map((l) => [l.firstSeq, l.lastSeq])).toEqual([[5, 10]]);
    expect(state.lostMessages).toBe(6);
    expect(await lostTotal(metrics)).toMatch(/ 6$/m);
    expect(changes()).toBe(1);
    expect(logs.at(-1)).toMatchObject({ firstSeq: 5, lastSeq: 10, sessions: ["s1"] });
  });

  it("looks only when no delivery is in flight, and counts what the stream dropped since", async () => {
    const { state, stream, consumer, consumerAt, monitor } = setUp();
    const watch = await monitor.start(0, true);
    expect(watch.delivered(1)).toBeUndefined();
    monitor.attach(consumer);
    consumer.lastDelivery = 1;
    Object.assign(stream, { first_seq: 6, last_seq: 9 });
    consumerAt(3, 2);
    await monitor.look();
    expect(state.lostMessages).toBe(0);
    consumerAt(3, 1);
    await monitor.look();
    expect(state.sessions.get("s1")!.streamLoss.map((l) => [l.firstSeq, l.lastSeq])).toEqual([[2, 5]]);
    monitor.stop();
    Object.assign(stream, { first_seq: 20, last_seq: 30 });
    await monitor.look();
    expect(state.lostMessages).toBe(4);
  });

  it("takes the holes of a purged session for no loss", async () => {
    const { state, stream, consumer, consumerAt, monitor } = setUp();
    await monitor.start(0, true);
    monitor.attach(consumer);
    Object.assign(stream, { first_seq: 8, last_seq: 7 });
    await monitor.excusePurge();
    consumerAt(0, 0);
    await monitor.look();
    expect(state.lostMessages).toBe(0);
  });
});
