/** Client-side helpers for integration tests: control requests and reading what reached the stream. */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ControlReply, EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { decodeEventMessage } from "../../lib/nats/codec.ts";
import { ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import { BUCKET_SESSIONS, CONTROL_SUBJECTS, STREAM_EVENTS } from "../../lib/subjects.ts";
import { ObservationSet } from "../../lib/profile/observations.ts";

export function sessionRecord(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id,
    mode: "oneshot",
    state: "running",
    createdAt: new Date().toISOString(),
    targets: {},
    profile: {},
    ...overrides,
  };
}

let requests = 0;

/** One control request answered by every agent; collects replies until `expect` agents answered or the time is up. */
export async function control(
  nc: NatsConnection,
  op: keyof typeof CONTROL_SUBJECTS,
  body: Record<string, unknown>,
  expect = 1,
  maxWait = 10_000,
): Promise<ControlReply[]> {
  const request = { schemaVersion: 1, op, requestId: `t${++requests}`, ...body };
  const replies: ControlReply[] = [];
  const it = await nc.requestMany(CONTROL_SUBJECTS[op], JSON.stringify(request), {
    strategy: "count",
    maxMessages: expect,
    maxWait,
  });
  for await (const m of it) replies.push(m.json<ControlReply>());
  return replies;
}

/** What the aggregator creates at start-up: the event stream and the session bucket. */
export async function prepareBroker(nc: NatsConnection): Promise<void> {
  await ensureEventStream(await jetstreamManager(nc), { replicas: 1 });
  await ensureKv(jetstream(nc), BUCKET_SESSIONS);
}

export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  message: EventMessage;
}

/** Every message of a session in SC_EVENTS, in stream order. */
export async function readSessionMessages(nc: NatsConnection, session: string): Promise<StoredMessage[]> {
  const consumer = await jetstream(nc).consumers.get(STREAM_EVENTS, {
    filter_subjects: `sc.ev.${session}.>`,
  });
  const out: StoredMessage[] = [];
  for (;;) {
    const m = await consumer.next({ expires: 1500 });
    if (!m) break;
    out.push({
      seq: m.seq,
      subject: m.subject,
      msgId: m.headers?.get("Nats-Msg-Id"),
      message: decodeEventMessage(m.data, `stream seq ${m.seq}`),
    });
    if (m.info.pending === 0) break;
  }
  return out;
}

/** Merges stored batches the way the aggregator does. */
export function mergeStored(messages: StoredMessage[]): ObservationSet {
  const set = new ObservationSet();
  for (const { message } of messages) if (message.kind === "batch") set.applyBatch(message);
  return set;
}
