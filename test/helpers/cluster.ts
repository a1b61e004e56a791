/** Client-side helpers for integration tests: control requests and reading what reached the stream. */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ControlReply, EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { decodeEventMessage } from "../../lib/nats/codec.ts";
import { ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import { Kvm } from "@nats-io/kv";
import {
  BUCKET_SESSIONS,
  CONTROL_SUBJECTS,
  STREAM_EVENTS,
  nodeControlSubject,
  replySubjectsOf,
} from "../../lib/subjects.ts";
import { ObservationSet } from "../../lib/profile/observations.ts";

export { sessionRecord } from "./session-record.ts";

let requests = 0;

/**
 * Publishes a request with a reply token and collects what the agents publish on
 * sc.reply.<token>.<node>, until `expect` replies arrived or the time is up.
 */
async function collect(
  nc: NatsConnection,
  subject: string,
  request: Record<string, unknown>,
  expect: number,
  maxWait: number,
): Promise<unknown[]> {
  const replyToken = `test-token-${process.pid}-${++requests}`.padEnd(16, "0");
  const replies: unknown[] = [];
  const sub = nc.subscribe(replySubjectsOf(replyToken), { max: expect });
  // A subscription's own timeout ends once the first message arrives: with fewer replies than
  // expected it would wait for ever, so the deadline is a timer.
  const deadline = setTimeout(() => sub.unsubscribe(), maxWait);
  try {
    await nc.flush();
    nc.publish(
      subject,
      JSON.stringify({ schemaVersion: 1, requestId: `t${requests}`, replyToken, ...request }),
    );
    for await (const m of sub) replies.push(m.json());
  } finally {
    clearTimeout(deadline);
  }
  return replies;
}

/**
 * One control request answered by every agent; collects replies until `expect` agents answered or
 * the time is up. A start given a `session` record first writes it to KV sc_sessions, as the CLI
 * does: agents start only sessions that have a record there.
 */
export async function control(
  nc: NatsConnection,
  op: keyof typeof CONTROL_SUBJECTS,
  body: Record<string, unknown>,
  expect = 1,
  maxWait = 10_000,
): Promise<ControlReply[]> {
  let request: Record<string, unknown> = { op, ...body };
  if (op === "start" && body.session !== undefined) {
    const session = body.session as SessionRecord;
    await (await new Kvm(jetstream(nc)).open(BUCKET_SESSIONS)).put(session.id, JSON.stringify(session));
    request = { op, sessionId: session.id };
  }
  return (await collect(nc, CONTROL_SUBJECTS[op], request, expect, maxWait)) as ControlReply[];
}

/** One request to one node's agent (sc.node.<node>.<op>); its reply as JSON. */
export async function nodeRequest(
  nc: NatsConnection,
  node: string,
  op: "profile" | "install",
  body: Record<string, unknown>,
  maxWait = 10_000,
): Promise<unknown> {
  const [reply] = await collect(nc, nodeControlSubject(node, op), body, 1, maxWait);
  if (reply === undefined) throw new Error(`node ${node} did not answer its ${op} request`);
  return reply;
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

/** Every message of a session in SC_EVENTS (its record's partition), in stream order. */
export async function readSessionMessages(
  nc: NatsConnection,
  session: string,
  partition = 0,
): Promise<StoredMessage[]> {
  const consumer = await jetstream(nc).consumers.get(STREAM_EVENTS, {
    // A consumer's filter must lie within the stream's subjects, which are per partition.
    filter_subjects: `sc.ev.${partition}.${session}.*`,
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
