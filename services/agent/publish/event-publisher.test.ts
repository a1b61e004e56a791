import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EventMessage, FinMarker, SyscallEventBatch } from "../../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { decodeEventMessage } from "../../../lib/nats/codec.ts";
import { ensureEventStream } from "../../../lib/nats/streams.ts";
import { STREAM_EVENTS, batchMessageId, finMessageId } from "../../../lib/subjects.ts";
import { startNatsServer } from "../../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../../test/helpers/nats.ts";
import { JetStreamEventPublisher } from "./event-publisher.ts";
import type { JetStreamEventPublisherOptions } from "./event-publisher.ts";

const logger = pino({ level: "silent" });
const NODE = "worker-1.example";

function batch(session: string, seq: number, syscalls = ["read", "write", "openat"]): SyscallEventBatch {
  return {
    schemaVersion: 1,
    kind: "batch",
    session,
    node: NODE,
    arch: "x86_64",
    seq,
    sentAt: 1_700_000_000_000 + seq,
    droppedEvents: 0,
    workloads: [
      {
        workload: { namespace: "shop", kind: "Deployment", name: "cart", container: "app" },
        pod: "cart-7d9f-abcde",
        syscalls: syscalls.map((name) => ({ name, count: seq, firstSeen: 1_700_000_000_000 })),
      },
    ],
  };
}

function fin(session: string, batches: number): FinMarker {
  return {
    schemaVersion: 1,
    kind: "fin",
    session,
    node: NODE,
    batches,
    sentAt: 1_700_000_100_000,
    droppedEvents: 0,
  };
}

interface Stored {
  seq: number;
  msgId: string;
  message: EventMessage;
}

async function storedMessages(jsm: JetStreamManager): Promise<Stored[]> {
  const { state } = await jsm.streams.info(STREAM_EVENTS);
  const stored: Stored[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(STREAM_EVENTS, { seq });
    if (!m) continue;
    stored.push({
      seq: m.seq,
      msgId: m.header.get("Nats-Msg-Id"),
      message: decodeEventMessage(m.data, `${STREAM_EVENTS} seq ${seq}`),
    });
  }
  return stored;
}

/** Each session's messages in stream order, as "1", "2", … for batches and "fin". */
function perSession(stored: Stored[]): Map<string, string[]> {
  const sessions = new Map<string, string[]>();
  for (const { message } of stored) {
    const list = sessions.get(message.session) ?? [];
    list.push(message.kind === "batch" ? String(message.seq) : "fin");
    sessions.set(message.session, list);
  }
  return sessions;
}

function expectedOrder(batches: number): string[] {
  return [...Array.from({ length: batches }, (_, i) => String(i + 1)), "fin"];
}

const stateDirs: string[] = [];
async function newStateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "seccompose-agent-state-"));
  stateDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(stateDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function options(
  nc: NatsConnection,
  stateDir: string,
  extra: Partial<JetStreamEventPublisherOptions> = {},
): JetStreamEventPublisherOptions {
  return {
    nc,
    stateDir,
    logger,
    maxInFlight: 8,
    publishTimeoutMs: 1_000,
    publishAttempts: 2,
    retryBackoffMs: [50, 100, 200],
    ...extra,
  };
}

async function connectTo(server: NatsServerHandle): Promise<NatsConnection> {
  return connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    noAsyncTraces: true,
  });
}

describe("JetStreamEventPublisher with a running server", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const publishers: JetStreamEventPublisher[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectTo(server);
    jsm = await jetstreamManager(nc);
  });

  beforeEach(async () => {
    await jsm.streams.delete(STREAM_EVENTS).catch(() => false);
    await ensureEventStream(jsm, { maxBytes: 64 * 1024 * 1024, duplicateWindowSeconds: 120 });
  });

  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  async function open(extra: Partial<JetStreamEventPublisherOptions> = {}): Promise<JetStreamEventPublisher> {
    const publisher = await JetStreamEventPublisher.open(options(nc, await newStateDir(), extra));
    publishers.push(publisher);
    return publisher;
  }

  it("stores each of many concurrently published batches exactly once, under its batch message id, with the FIN last", async () => {
    const publisher = await open({ maxInFlight: 4 });
    const pending = [];
    for (let seq = 1; seq <= 40; seq++) pending.push(publisher.publish(batch("s-one", seq), 0));
    pending.push(publisher.publish(fin("s-one", 40), 0));
    await Promise.all(pending);

    const stored = await storedMessages(jsm);
    expect(stored).toHaveLength(41);
    expect(stored.map((s) => s.seq)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(stored.map((s) => s.msgId)).toEqual([
      ...Array.from({ length: 40 }, (_, i) => batchMessageId("s-one", NODE, i + 1)),
      finMessageId("s-one", NODE),
    ]);
    expect(perSession(stored).get("s-one")).toEqual(expectedOrder(40));
    expect(publisher.stats()).toMatchObject({ batchesSent: 40, finsSent: 1, eventsSent: 120, spooled: 0 });
    expect(publisher.spoolBytes()).toBe(0);
  });

  it("stores a batch published twice only once, the stream acknowledging the second copy as a duplicate", async () => {
    const publisher = await open();
    await publisher.publish(batch("s-dup", 1), 0);
    await publisher.publish(batch("s-dup", 1), 0);
    await publisher.publish(batch("s-dup", 2), 0);

    const stored = await storedMessages(jsm);
    expect(stored.map((s) => s.msgId)).toEqual([
      batchMessageId("s-dup", NODE, 1),
      batchMessageId("s-dup", NODE, 2),
    ]);
    expect(publisher.stats().duplicates).toBe(1);
  });

  it("rejects a message larger than the configured maximum with SC_MESSAGE_TOO_LARGE and publishes nothing", async () => {
    const publisher = await open({ maxMessageBytes: 200 });
    const error = await publisher.publish(batch("s-big", 1), 0).catch((e: unknown) => e);
    expect(isSeccomposeError(error, "SC_MESSAGE_TOO_LARGE")).toBe(true);
    expect(await storedMessages(jsm)).toEqual([]);
  });

  it("rejects a batch the stream refuses for good without spooling it", async () => {
    await jsm.streams.update(STREAM_EVENTS, { max_msg_size: 64 });
    const publisher = await open();
    const error = await publisher.publish(batch("s-refused", 1), 0).catch((e: unknown) => e);
    expect(isSeccomposeError(error, "SC_JETSTREAM_REJECTED")).toBe(true);
    expect(publisher.spoolBytes()).toBe(0);
    expect(publisher.stats().rejected).toBe(1);
  });
});

describe("JetStreamEventPublisher across NATS outages", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection | undefined;
  let admin: NatsConnection | undefined;
  const publishers: JetStreamEventPublisher[] = [];

  beforeEach(async () => {
    server = await startNatsServer();
    admin = await connectTo(server);
    await ensureEventStream(await jetstreamManager(admin), { maxBytes: 64 * 1024 * 1024 });
    nc = await connectTo(server);
  });

  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.close()));
    await nc?.close();
    await admin?.close();
    await server.stop();
  });

  async function open(stateDir: string, extra: Partial<JetStreamEventPublisherOptions> = {}) {
    const publisher = await JetStreamEventPublisher.open(options(nc as NatsConnection, stateDir, extra));
    publishers.push(publisher);
    return publisher;
  }

  it("spools while the server is down and, once it is back, delivers every message exactly once in order per session with the FIN last", async () => {
    const stateDir = await newStateDir();
    const publisher = await open(stateDir);
    const sessions = ["s-a", "s-b"];
    const pending: Promise<void>[] = [];
    const publishRange = (from: number, to: number): void => {
      for (let seq = from; seq <= to; seq++)
        for (const session of sessions) pending.push(publisher.publish(batch(session, seq), 0));
    };

    publishRange(1, 10);
    await Promise.all(pending.slice(0, 10));
    // Killed while the next publishes are in flight, their acks never to come.
    publishRange(11, 15);
    await server.kill();
    publishRange(16, 30);
    for (const session of sessions) pending.push(publisher.publish(fin(session, 30), 0));
    await Promise.all(pending);

    expect(publisher.spoolBytes()).toBeGreaterThan(0);
    expect((await readdir(join(stateDir, "spool"))).length).toBeGreaterThan(0);

    await server.restart();
    await publisher.drain(30_000);

    expect(publisher.spoolBytes()).toBe(0);
    expect(publisher.stats().replayed).toBeGreaterThan(0);
    expect(await readdir(join(stateDir, "spool"))).toEqual([]);
    const stored = await storedMessages(await jetstreamManager(nc as NatsConnection));
    expect(stored).toHaveLength(62);
    expect(new Set(stored.map((s) => s.msgId)).size).toBe(62);
    const order = perSession(stored);
    for (const session of sessions) expect(order.get(session)).toEqual(expectedOrder(30));
  });

  it("rejects with SC_SPOOL_FULL naming the spool directory, its size and the limit when the spool cannot take a message", async () => {
    const stateDir = await newStateDir();
    const publisher = await open(stateDir, { spoolMaxBytes: 2_048 });
    await server.kill();

    let error: unknown;
    let spooled = 0;
    for (let seq = 1; seq <= 50 && error === undefined; seq++) {
      await publisher.publish(batch("s-full", seq), 0).then(
        () => spooled++,
        (e: unknown) => (error = e),
      );
    }

    expect(spooled).toBeGreaterThan(0);
    expect(isSeccomposeError(error, "SC_SPOOL_FULL")).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(join(stateDir, "spool"));
    expect(message).toContain(`holds ${publisher.spoolBytes()} bytes`);
    expect(message).toContain("limit of 2048 bytes");
    expect(publisher.spoolBytes()).toBeLessThanOrEqual(2_048);
  });

  it("replays the spool a previous publisher left on disk once a new publisher starts with NATS reachable", async () => {
    const stateDir = await newStateDir();
    const first = await open(stateDir);
    await server.kill();
    for (let seq = 1; seq <= 5; seq++) await first.publish(batch("s-restart", seq), 0);
    await first.publish(fin("s-restart", 5), 0);
    const left = first.spoolBytes();
    expect(left).toBeGreaterThan(0);
    await first.close();
    await nc?.close();

    await server.restart();
    nc = await connectTo(server);
    const second = await open(stateDir);
    expect(second.spoolBytes()).toBe(left);
    await second.drain(30_000);

    const stored = await storedMessages(await jetstreamManager(nc));
    expect(perSession(stored).get("s-restart")).toEqual(expectedOrder(5));
    expect(second.stats()).toMatchObject({ replayed: 6, batchesSent: 5, finsSent: 1 });
    expect(await readdir(join(stateDir, "spool"))).toEqual([]);
  });
});
