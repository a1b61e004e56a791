import { spawn } from "node:child_process";
import { jetstream } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import type { AggregatorStatus, EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import {
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  batchMessageId,
  eventSubject,
  finMessageId,
  profileKey,
} from "../../lib/subjects.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { fixtureWorkload, syntheticRecording } from "./recording-fixture.ts";
import { eventually } from "../../test/helpers/eventually.ts";
import {
  AGGREGATOR_MAIN,
  startAggregatorProcess,
  type AggregatorProcess,
} from "../../test/helpers/aggregator-process.ts";

const SESSION = "crash-test";
const NODES = ["node-a", "node-b", "node-c"];
const WORKLOADS = 4;

const running = new Set<AggregatorProcess>();

async function spawnAggregator(url: string): Promise<AggregatorProcess> {
  const p = await startAggregatorProcess({ natsUrls: [url], extraArgs: ["--checkpoint-interval-ms", "100"] });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

async function publishAll(js: JetStreamClient, messages: EventMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 32) {
    await Promise.all(
      messages.slice(i, i + 32).map((m) =>
        js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
          msgID:
            m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node),
        }),
      ),
    );
  }
}

async function status(nc: NatsConnection): Promise<AggregatorStatus> {
  const reply = await nc.request(AGGREGATOR_STATUS_SUBJECT, JSON.stringify({ session: SESSION }), {
    timeout: 2000,
  });
  return assertValid("aggregatorStatus", reply.json(), "status reply");
}

const record: SessionRecord = {
  schemaVersion: 1,
  id: SESSION,
  mode: "oneshot",
  state: "stopping",
  createdAt: "2026-11-27T10:00:00Z",
  expectedNodes: NODES,
  targets: {},
  profile: { argSyscalls: ["socket"] },
};

const recording = syntheticRecording({
  session: SESSION,
  nodes: NODES,
  batchesPerNode: 90,
  workloads: WORKLOADS,
  eventsPerWorkload: 150,
  syscallsPerWorkload: 200,
});
// Interleave the nodes as agents would send concurrently.
const batches = [...recording.batches].sort((a, b) => a.seq - b.seq || (a.node < b.node ? -1 : 1));

interface Outcome {
  profiles: string[];
  status: AggregatorStatus["sessions"][number];
}

/** Waits for every workload's final profile and returns the stored bytes (as text) and the session's status. */
async function finalOutcome(nc: NatsConnection): Promise<Outcome> {
  const kv = await new Kvm(jetstream(nc)).open(BUCKET_PROFILES);
  const profiles: string[] = [];
  for (let w = 0; w < WORKLOADS; w++) {
    const key = profileKey(SESSION, workloadToken(fixtureWorkload(w)));
    profiles.push(await eventually(`profile ${key}`, async () => (await kv.get(key))?.string()));
  }
  const s = await eventually("complete status", async () => {
    const st = (await status(nc)).sessions[0];
    return st?.state === "complete" ? st : undefined;
  });
  return { profiles, status: s };
}

describe("seccompose-aggregator process", () => {
  let server: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;

  afterEach(async () => {
    for (const p of running) await p.kill();
    await nc?.close();
    await server?.stop();
  });

  async function setUp(): Promise<{ nc: NatsConnection; js: JetStreamClient; url: string }> {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const js = jetstream(nc);
    const sessions = await new Kvm(js).create(BUCKET_SESSIONS);
    await sessions.put(SESSION, JSON.stringify(record));
    return { nc, js, url: server.url };
  }

  it("publishes a byte-identical final profile when SIGKILLed mid-session and restarted", async () => {
    // Reference: one uninterrupted process.
    const ref = await setUp();
    const uninterrupted = await spawnAggregator(ref.url);
    await eventually("aggregator answering", () => status(ref.nc));
    await publishAll(ref.js, [...batches, ...recording.fins]);
    const reference = await finalOutcome(ref.nc);
    await uninterrupted.stop();
    await nc!.close();
    await server!.stop();

    const { nc: client, js, url } = await setUp();
    const first = await spawnAggregator(url);
    await eventually("aggregator answering", () => status(client));
    await publishAll(js, batches.slice(0, 100));
    // Let a checkpoint cover part of the session, then kill while more batches are being merged.
    await eventually("a checkpoint", async () => {
      const st = await status(client);
      return (st.checkpoint?.streamSeq ?? 0) > 0 && (st.sessions[0]?.batchesMerged ?? 0) >= 50
        ? st
        : undefined;
    });
    const publishing = publishAll(js, batches.slice(100, 200));
    await first.kill();
    await publishing;

    const second = await spawnAggregator(url);
    await eventually("restart answering", () => status(client));
    expect(second.logs.some((l) => l.event === "checkpoint.restored")).toBe(true);
    // This process stores checkpoints of its own, then is killed right after the last FIN is
    // published, possibly while finalising.
    await eventually("a checkpoint by the restarted process", async () => (await status(client)).checkpoint);
    await publishAll(js, [...batches.slice(200), ...recording.fins]);
    await second.kill();

    const third = await spawnAggregator(url);
    const outcome = await finalOutcome(client);
    expect(outcome.profiles).toEqual(reference.profiles);
    expect(outcome.status).toMatchObject({
      state: "complete",
      batchesMerged: batches.length,
      eventsMerged: recording.events,
    });
    expect(outcome.status).toEqual({ ...reference.status, finalisedAt: outcome.status.finalisedAt });
    expect(await third.stop()).toBe(0);

    // A graceful stop settled everything: the next process keeps the durable consumer as it is.
    const fourth = await spawnAggregator(url);
    const again = await finalOutcome(client);
    expect(fourth.logs.some((l) => l.event === "consumer.resumed")).toBe(true);
    expect(again).toEqual(outcome);
    await fourth.stop();
  });

  it("rejects an invalid configuration with SC_CONFIG_INVALID and exit code 2", async () => {
    const p = spawn(
      process.execPath,
      [AGGREGATOR_MAIN, "--nats-url", "nats://127.0.0.1:4222", "--replicas", "9"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => p.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /SC_CONFIG_INVALID: invalid aggregatorConfig from configuration \(flags\): \/replicas must be <= 5/,
    );
  });
});
