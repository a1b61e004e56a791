import type { JsMsg } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { EventMessage } from "../../lib/contracts/types.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { eventSubject } from "../../lib/subjects.ts";
import { finMarker, syscallBatch } from "../../test/helpers/event-messages.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { MessageIntake } from "./message-intake.ts";
import { createMetrics } from "./metrics.ts";
import { AggregatorState } from "./session-state.ts";

const T0 = 1_700_000_000_000;
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

function setUp() {
  const state = new AggregatorState(() => T0);
  state.setRecord(sessionRecord("s1", { expectedNodes: ["node-a"] }));
  const logs: Array<Record<string, unknown>> = [];
  const metrics = createMetrics();
  let completed = 0;
  const intake = new MessageIntake(state, {
    partition: 2,
    maxMessageBytes: 1024 * 1024,
    metrics,
    log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) }),
    drift: () => undefined,
    nodeComplete: () => completed++,
  });
  return { state, intake, metrics, logs, completed: () => completed };
}

/** A stream message carrying `message` at stream sequence `seq`, on its subject unless told otherwise. */
function streamMessage(
  seq: number,
  message: EventMessage,
  subject = eventSubject(2, message.session, message.node),
) {
  return { seq, subject, data: encodeEventMessage(message) } as JsMsg;
}

const batch = syscallBatch({
  session: "s1",
  node: "node-a",
  seq: 1,
  workloads: [{ workload: web, pod: "web-0", syscalls: [{ name: "read", count: 2, firstSeen: T0 }] }],
});

describe("MessageIntake", () => {
  it("merges a valid message into the state and keeps it; a node made complete is worth a look at once", () => {
    const { state, intake, completed } = setUp();
    expect(intake.handle(streamMessage(7, batch))).toBe(true);
    expect(state.highestStreamSeq).toBe(7);
    expect(state.sessions.get("s1")!.events).toBe(1);
    expect(completed()).toBe(0);
    expect(intake.handle(streamMessage(8, finMarker({ session: "s1", node: "node-a", batches: 1 })))).toBe(
      true,
    );
    expect(completed()).toBe(1);
  });

  it("counts, logs and terminates a message that came on another session's subject, or cannot be decoded", async () => {
    const { state, intake, metrics, logs } = setUp();
    expect(intake.handle(streamMessage(3, batch, eventSubject(2, "s2", "node-a")))).toBe(false);
    expect(
      intake.handle({
        seq: 4,
        subject: eventSubject(2, "s1", "node-a"),
        data: new Uint8Array([1, 2]),
      } as JsMsg),
    ).toBe(false);
    expect(state.badMessages).toBe(2);
    expect(state.highestStreamSeq).toBe(4);
    expect(state.sessions.get("s1")!.events).toBe(0);
    expect(logs.map((l) => [l.event, (l.err as { code?: string }).code])).toEqual([
      ["message.bad", "SC_MESSAGE_INVALID"],
      ["message.bad", expect.stringMatching(/^SC_/)],
    ]);
    expect(await metrics.registry.getSingleMetricAsString("seccompose_aggregator_bad_batches_total")).toMatch(
      / 2$/m,
    );
  });

  it("terminates a refused message: a node outside the node set", () => {
    const { intake } = setUp();
    const foreign = { ...batch, node: "node-z" };
    expect(intake.handle(streamMessage(5, foreign))).toBe(false);
  });
});
