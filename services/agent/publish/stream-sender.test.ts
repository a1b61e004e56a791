import type { JetStreamClient } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { STREAM_EVENTS } from "../../../lib/subjects.ts";
import type { SpoolRecord } from "./spool.ts";
import { StreamSender } from "./stream-sender.ts";

const RECORD: SpoolRecord = {
  subject: "sc.ev.0.s1.node-a",
  msgId: "s1:node-a:1",
  session: "s1",
  kind: "batch",
  events: 3,
  data: new Uint8Array([1, 2, 3]),
};

interface Attempt {
  subject: string;
  msgID: string | undefined;
  streamName: string | undefined;
}

/** A JetStream client whose publishes answer from `outcomes` in turn: an error to throw or an ack. */
function client(outcomes: Array<Error | { duplicate: boolean }>): {
  js: JetStreamClient;
  attempts: Attempt[];
} {
  const attempts: Attempt[] = [];
  const js = {
    publish: async (
      subject: string,
      _data: Uint8Array,
      opts: { msgID?: string; expect?: { streamName?: string } },
    ) => {
      attempts.push({ subject, msgID: opts.msgID, streamName: opts.expect?.streamName });
      const outcome = outcomes.shift()!;
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  } as unknown as JetStreamClient;
  return { js, attempts };
}

function sender(js: JetStreamClient, state: { connected: boolean } = { connected: true }): StreamSender {
  return new StreamSender({
    js,
    logger: pino({ level: "silent" }),
    publishTimeoutMs: 1_000,
    publishAttempts: 3,
    retryBackoffMs: [1, 2],
    connected: () => state.connected,
    closing: () => false,
  });
}

describe("StreamSender", () => {
  it("retries a transient failure under the same message id until the stream acknowledges it", async () => {
    const { js, attempts } = client([new TimeoutError(), { duplicate: true }]);
    await expect(sender(js).send(RECORD)).resolves.toEqual({ kind: "acked", duplicate: true });
    expect(attempts).toEqual([
      { subject: RECORD.subject, msgID: RECORD.msgId, streamName: STREAM_EVENTS },
      { subject: RECORD.subject, msgID: RECORD.msgId, streamName: STREAM_EVENTS },
    ]);
  });

  it("gives a message to the spool once its attempts are spent, or at once while NATS is away", async () => {
    const spent = client([new TimeoutError(), new TimeoutError(), new TimeoutError(), { duplicate: false }]);
    await expect(sender(spent.js).send(RECORD)).resolves.toEqual({ kind: "spool" });
    expect(spent.attempts).toHaveLength(3);

    const away = client([new TimeoutError(), { duplicate: false }]);
    await expect(sender(away.js, { connected: false }).send(RECORD)).resolves.toEqual({ kind: "spool" });
    expect(away.attempts).toHaveLength(1);
  });

  it("takes a refusal as final, as SC_JETSTREAM_REJECTED naming the message", async () => {
    const refusal = new JetStreamApiError({
      code: 400,
      err_code: 10054,
      description: "message size exceeds maximum allowed",
    });
    const { js, attempts } = client([refusal]);
    const outcome = await sender(js).send(RECORD);
    expect(outcome.kind).toBe("rejected");
    const error = (outcome as { error: Error }).error;
    expect(isSeccomposeError(error, "SC_JETSTREAM_REJECTED")).toBe(true);
    expect(error.message).toContain(RECORD.msgId);
    expect(attempts).toHaveLength(1);
  });

  it("waits the backoff steps in turn, the last one repeating", () => {
    const { js } = client([]);
    const s = sender(js);
    expect([1, 2, 3, 9].map((attempt) => s.backoff(attempt))).toEqual([1, 2, 2, 2]);
  });
});
