import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentHealth, ControlReply, EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import { decodeEventMessage, encodeEventMessage } from "../../lib/nats/codec.ts";
import { CONTROL_SUBJECTS, replySubjectsOf } from "../../lib/subjects.ts";
import { ControlPlane } from "../../services/agent/control/control-plane.ts";
import type { AgentController } from "../../services/agent/ports.ts";
import { eventually } from "../helpers/eventually.ts";
import { mutations, seededRandom, type Random } from "../helpers/mutate.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";

const COUNT = 10_000;
const workload = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const batch: EventMessage = {
  schemaVersion: 1,
  kind: "batch",
  session: "s1",
  node: "node-a",
  arch: "x86_64",
  seq: 3,
  sentAt: 1_700_000_000_000,
  droppedEvents: 2,
  workloads: [
    {
      workload,
      pod: "web-7d4b9-abcde",
      podUid: "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f",
      syscalls: [
        { name: "read", count: 10, firstSeen: 1_700_000_000_000 },
        { name: "socket", count: 1, firstSeen: 1_700_000_000_001, args: ["2"] },
      ],
    },
  ],
};
const fin: EventMessage = {
  schemaVersion: 1,
  kind: "fin",
  session: "s1",
  node: "node-a",
  batches: 3,
  sentAt: 1,
  droppedEvents: 0,
};

/** Structural damage: a field removed, retyped or out of range, somewhere in the object tree. */
function damaged(value: unknown, rand: Random): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  const containers: Array<Record<string, unknown>> = [];
  const walk = (v: unknown) => {
    if (v && typeof v === "object") {
      containers.push(v as Record<string, unknown>);
      for (const c of Object.values(v)) walk(c);
    }
  };
  walk(copy);
  const target = containers[Math.floor(rand() * containers.length)]!;
  const keys = Object.keys(target);
  const key = keys[Math.floor(rand() * keys.length)] ?? "x";
  const replacements = [undefined, null, -1, 2 ** 60, "", "a.b", [], {}, true, "x".repeat(5000), 1.5];
  const r = replacements[Math.floor(rand() * replacements.length)];
  if (r === undefined) delete target[key];
  else target[key] = r;
  if (rand() < 0.1) copy.unexpected = 1;
  return copy;
}

describe("event batch decoder under malformed input", () => {
  it(`rejects ${COUNT} malformed batches and FINs with a specific, counted error each`, () => {
    const rand = seededRandom(7);
    const encoded = [batch, fin].map((m) => Buffer.from(encodeEventMessage(m)).toString("latin1"));
    const inputs: Uint8Array[] = [
      // byte-level damage of valid messages
      ...mutations(encoded, COUNT / 2, rand).map((s) => Buffer.from(s, "latin1")),
      // well-formed msgpack with the wrong structure
      ...Array.from({ length: COUNT / 2 }, (_, i) => encodeRaw(damaged(i % 2 ? batch : fin, rand))),
    ];
    const byCode = new Map<string, number>();
    let accepted = 0;
    for (const data of inputs) {
      try {
        decodeEventMessage(data, "bad-input test");
        accepted++;
      } catch (err) {
        if (!isSeccomposeError(err)) throw new Error(`unexpected ${String(err)}`, { cause: err });
        expect(["SC_MESSAGE_INVALID", "SC_MESSAGE_TOO_LARGE"]).toContain(err.code);
        expect(err.message).toMatch(/bad-input test/);
        byCode.set(err.code, (byCode.get(err.code) ?? 0) + 1);
      }
    }
    const rejected = [...byCode.values()].reduce((a, b) => a + b, 0);
    expect(accepted + rejected).toBe(COUNT);
    expect(rejected).toBeGreaterThan(COUNT * 0.8);
  });

  it("rejects an oversized message before decoding it", () => {
    const big = new Uint8Array(2 * 1024 * 1024);
    try {
      decodeEventMessage(big, "oversize test");
      expect.unreachable();
    } catch (err) {
      expect(isSeccomposeError(err, "SC_MESSAGE_TOO_LARGE")).toBe(true);
    }
  });
});

function encodeRaw(value: unknown): Uint8Array {
  // encodeEventMessage would refuse nothing here (it does not validate); pack directly to be explicit.
  return encodeEventMessage(value as EventMessage, Number.MAX_SAFE_INTEGER);
}

describe("control plane under malformed requests", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let plane: ControlPlane;
  const calls: string[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    const controller: AgentController = {
      startSession: async (s: SessionRecord) => void calls.push(`start ${s.id}`),
      stopSession: async (id: string) => (calls.push(`stop ${id}`), { batches: 0 }),
      dropSession: async (id: string) => void calls.push(`drop ${id}`),
      sessionStatus: () => [],
      health: (): AgentHealth => ({
        node: "node-a",
        arch: "x86_64",
        kernel: "6.1.0",
        agentVersion: "test",
        falco: { state: "running", restarts: 0 },
        activeSessions: [],
        counters: {
          alertsRead: 0,
          parseErrors: 0,
          eventsSent: 0,
          batchesSent: 0,
          spoolBytes: 0,
          falcoDrops: 0,
        },
        lastErrors: [],
      }),
      nodeProfiles: () => [],
    };
    plane = await ControlPlane.start({
      nc,
      node: "node-a",
      controller,
      sessionRecord: async () => undefined,
      logger: pino({ level: "silent" }),
    });
  });
  afterAll(async () => {
    await plane?.stop();
    await nc?.close();
    await server?.stop();
  });

  it(`answers ${COUNT} malformed requests with an error reply each, and keeps serving`, async () => {
    const rand = seededRandom(11);
    // Agents answer on sc.reply.<replyToken>.<node>: a request whose token was damaged cannot be answered.
    const replyToken = "bad-input-reply-token";
    const valid = [
      { schemaVersion: 1, op: "stop", requestId: "r1", replyToken, sessionId: "s1" },
      { schemaVersion: 1, op: "health", requestId: "r2", replyToken },
      { schemaVersion: 1, op: "status", requestId: "r3", replyToken, sessionId: "s1" },
    ];
    const texts = [
      ...mutations(
        valid.map((v) => JSON.stringify(v)),
        COUNT / 2,
        rand,
      ),
      ...Array.from({ length: COUNT / 2 }, (_, i) => JSON.stringify(damaged(valid[i % 3], rand))),
    ];
    const answerable = texts.filter((text) => {
      try {
        return (JSON.parse(text) as { replyToken?: unknown }).replyToken === replyToken;
      } catch {
        return false;
      }
    }).length;
    const replies: ControlReply[] = [];
    const sub = nc.subscribe(replySubjectsOf(replyToken), {
      callback: (_err, msg) => void replies.push(msg.json<ControlReply>()),
    });
    await nc.flush();
    const subjects = [CONTROL_SUBJECTS.stop, CONTROL_SUBJECTS.health, CONTROL_SUBJECTS.status];
    texts.forEach((text, i) => nc.publish(subjects[i % 3]!, text));
    await eventually(
      "every request answered or counted",
      () => plane.stats().requests === COUNT && replies.length === answerable,
    );
    const codes = new Map<string, number>();
    let ok = 0;
    for (const reply of replies) {
      if (reply.ok) ok++;
      else {
        expect(reply.error?.code).toMatch(/^SC_/);
        expect(reply.error?.message.length).toBeGreaterThan(10);
        codes.set(reply.error!.code, (codes.get(reply.error!.code) ?? 0) + 1);
      }
    }
    const rejected = [...codes.values()].reduce((a, b) => a + b, 0);
    expect(ok + rejected).toBe(answerable);
    expect(answerable).toBeGreaterThan(COUNT * 0.5);
    expect(rejected).toBeGreaterThan(answerable * 0.7);
    // Requests with a damaged token are counted, though their replies (if any) went elsewhere.
    expect(plane.stats().invalid).toBeGreaterThanOrEqual(rejected);
    expect(plane.stats().invalid).toBeLessThanOrEqual(COUNT - ok);
    sub.unsubscribe();
  });
});
