/**
 * Aggregator replicas dividing the partitions of SC_EVENTS by leases: failover on the real 3-node
 * NATS cluster (one of 3 replicas SIGKILLed mid-session), a replica joining, and fencing of a
 * replica paused (SIGSTOP) past its lease. Every profile must be byte-identical to what one
 * aggregator publishes for the same recorded input, and written once. Requests about a session
 * (status, freeze, delete) are answered by exactly the replica holding its partition.
 */
import { jetstream } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, createInbox } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import type { AggregatorStatus, EventMessage, SessionRecord } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { encodeEventMessage } from "../../lib/nats/codec.ts";
import { partitionOf } from "../../lib/partitions.ts";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import {
  AGGREGATOR_DELETE_SUBJECT,
  AGGREGATOR_FREEZE_SUBJECT,
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_AGGREGATOR_LEASES,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  batchMessageId,
  eventSubject,
  eventSubjectsOf,
  finMessageId,
  profileKey,
  STREAM_EVENTS,
} from "../../lib/subjects.ts";
import { checkpointHeadKey } from "../../services/aggregator/checkpoint.ts";
import { fixtureWorkload, syntheticRecording } from "../../services/aggregator/recording-fixture.ts";
import { requestDelete } from "../../cli/cluster/aggregator.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsCluster, startNatsServer } from "../helpers/nats.ts";

const PARTITIONS = 6;
const NODES = ["node-a", "node-b", "node-c"];
const WORKLOADS = 2;
const SESSIONS = Array.from({ length: 6 }, (_, i) => `replicas-${i}`);
const LEASE_TTL_MS = 3000;

const recordings = SESSIONS.map((session) =>
  syntheticRecording({
    session,
    nodes: NODES,
    batchesPerNode: 12,
    workloads: WORKLOADS,
    eventsPerWorkload: 40,
    syscallsPerWorkload: 60,
    seed: session.length * 7 + Number(session.split("-")[1]),
  }),
);
const batches = recordings
  .flatMap((r) => r.batches)
  .sort((a, b) => a.seq - b.seq || (a.session < b.session ? -1 : a.session > b.session ? 1 : 0));
const fins = recordings.flatMap((r) => r.fins);
const profileKeys = SESSIONS.flatMap((s) =>
  Array.from({ length: WORKLOADS }, (_, w) => profileKey(s, workloadToken(fixtureWorkload(w)))),
);

function record(session: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id: session,
    mode: "oneshot",
    state: "stopping",
    createdAt: "2026-11-27T10:00:00Z",
    expectedNodes: NODES,
    targets: {},
    profile: { argSyscalls: ["socket"] },
    partition: partitionOf(session, PARTITIONS),
    ...overrides,
  };
}

async function publishAll(js: JetStreamClient, messages: EventMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 32) {
    await Promise.all(
      messages.slice(i, i + 32).map((m) =>
        js.publish(
          eventSubject(partitionOf(m.session, PARTITIONS), m.session, m.node),
          encodeEventMessage(m),
          {
            msgID:
              m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node),
          },
        ),
      ),
    );
  }
}

const running = new Set<AggregatorProcess>();

async function replica(
  urls: string[],
  extra: string[] = [],
  standby = false,
  partitions = PARTITIONS,
): Promise<AggregatorProcess> {
  const p = await startAggregatorProcess({
    natsUrls: urls,
    standby,
    extraArgs: [
      "--partitions",
      String(partitions),
      "--lease-ttl-ms",
      String(LEASE_TTL_MS),
      "--checkpoint-interval-ms",
      "100",
      ...extra,
    ],
  });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

async function sessionStatus(
  nc: NatsConnection,
  session: string,
): Promise<AggregatorStatus["sessions"][number] | undefined> {
  try {
    const reply = await nc.request(AGGREGATOR_STATUS_SUBJECT, JSON.stringify({ session }), { timeout: 1000 });
    return assertValid("aggregatorStatus", reply.json(), "status reply").sessions[0];
  } catch {
    return undefined;
  }
}

/** Every reply to one request within `ms` (a request answered by several replicas has several). */
async function allReplies(nc: NatsConnection, subject: string, body: unknown, ms = 1500): Promise<unknown[]> {
  const inbox = createInbox();
  const replies: unknown[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      replies.push(msg.json());
    },
  });
  nc.publish(subject, JSON.stringify(body), { reply: inbox });
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return replies;
}

/** Every profile's stored bytes, once every session is finalised. */
async function finalProfiles(
  nc: NatsConnection,
  sessions = SESSIONS,
  keys = profileKeys,
): Promise<Map<string, string>> {
  const kv = await new Kvm(jetstream(nc)).open(BUCKET_PROFILES);
  for (const s of sessions) {
    await eventually(
      `session ${s} finalised`,
      async () => {
        const st = await sessionStatus(nc, s);
        return st !== undefined && st.state !== "recording" ? st : undefined;
      },
      90_000,
    );
  }
  const out = new Map<string, string>();
  for (const key of keys)
    out.set(key, await eventually(`profile ${key}`, async () => (await kv.get(key))?.string()));
  return out;
}

/** Counts every write to KV sc_profiles from now on, per key (the bucket keeps no history). */
async function countWrites(
  nc: NatsConnection,
): Promise<{ of: (keys: string[]) => number[]; stop: () => void }> {
  const kv = await new Kvm(jetstream(nc)).open(BUCKET_PROFILES);
  const counts = new Map<string, number>();
  const watcher = await kv.watch({ include: "updates" });
  void (async () => {
    for await (const e of watcher) if (e.operation === "PUT") counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  })();
  return { of: (keys) => keys.map((k) => counts.get(k) ?? 0), stop: () => watcher.stop() };
}

async function leaseHolders(nc: NatsConnection): Promise<Map<number, string>> {
  const kv = await new Kvm(jetstream(nc)).open(BUCKET_AGGREGATOR_LEASES);
  const held = new Map<number, string>();
  for await (const key of await kv.keys("partition.*")) {
    const e = await kv.get(key);
    if (e?.operation === "PUT") held.set(Number(key.split(".")[1]), e.json<{ replica: string }>().replica);
  }
  return held;
}

/** The reference: one aggregator on one server, the same recorded input. */
let reference: Map<string, string> | undefined;
async function referenceProfiles(): Promise<Map<string, string>> {
  if (reference !== undefined) return reference;
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const one = await replica([server.url]);
    const sessions = await new Kvm(jetstream(nc)).open(BUCKET_SESSIONS);
    for (const s of SESSIONS) await sessions.put(s, JSON.stringify(record(s)));
    await publishAll(jetstream(nc), [...batches, ...fins]);
    reference = await finalProfiles(nc);
    for (const text of reference.values()) expect(JSON.parse(text).status).toBe("complete");
    await one.stop();
  } finally {
    await nc.close();
    await server.stop();
  }
  return reference;
}

describe("aggregator replicas", () => {
  afterEach(async () => {
    for (const p of running) await p.kill();
  });

  it("3 replicas on the 3-node cluster, one SIGKILLed mid-session: every profile byte-identical to one aggregator's", async () => {
    const expected = await referenceProfiles();
    const cluster = await startNatsCluster(3);
    const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1 });
    try {
      const replicas = [
        await replica(cluster.urls, ["--replicas", "3"]),
        await replica(cluster.urls, ["--replicas", "3"], true),
        await replica(cluster.urls, ["--replicas", "3"], true),
      ];
      // The partitions spread over the three replicas.
      const spread = await eventually(
        "partitions spread over 3 replicas",
        async () => {
          const held = await leaseHolders(nc);
          return held.size === PARTITIONS && new Set(held.values()).size === 3 ? held : undefined;
        },
        60_000,
      );
      const js = jetstream(nc);
      const written = await countWrites(nc);
      const sessions = await new Kvm(js).open(BUCKET_SESSIONS);
      for (const s of SESSIONS) await sessions.put(s, JSON.stringify(record(s)));
      await publishAll(js, batches.slice(0, batches.length / 2));
      // Kill the replica holding partitions with data merged, while more arrives.
      const victimName = spread.get(partitionOf(SESSIONS[0]!, PARTITIONS))!;
      const victim = replicas.find((r) => r.logs.some((l) => l.instance === victimName))!;
      expect(victim).toBeDefined();
      await eventually(
        "some batches merged",
        async () => ((await sessionStatus(nc, SESSIONS[0]!))?.batchesMerged ?? 0) > 0,
      );
      const publishing = publishAll(js, batches.slice(batches.length / 2));
      await victim.kill();
      await publishing;
      await publishAll(js, fins);
      const outcome = await finalProfiles(nc);
      expect(outcome).toEqual(expected);
      expect(written.of(profileKeys)).toEqual(profileKeys.map(() => 1));
      written.stop();
      // The survivors took the victim's partitions over.
      const after = await leaseHolders(nc);
      expect(after.size).toBe(PARTITIONS);
      expect([...after.values()]).not.toContain(victimName);
      for (const s of SESSIONS) {
        expect(await sessionStatus(nc, s)).toMatchObject({
          state: "complete",
          batchesMerged: NODES.length * 12,
        });
      }
    } finally {
      for (const p of running) await p.kill();
      await nc.close();
      await cluster.stop();
    }
  }, 300_000);

  it("a replica that joins takes its share of the partitions; nothing is lost or merged twice", async () => {
    const expected = await referenceProfiles();
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      const first = await replica([server.url]);
      const js = jetstream(nc);
      const written = await countWrites(nc);
      const sessions = await new Kvm(js).open(BUCKET_SESSIONS);
      for (const s of SESSIONS) await sessions.put(s, JSON.stringify(record(s)));
      await publishAll(js, batches.slice(0, batches.length / 2));
      const second = await replica([server.url], [], true);
      const held = await eventually(
        "partitions shared by 2 replicas",
        async () => {
          const h = await leaseHolders(nc);
          const counts = [...new Set(h.values())].map((r) => [...h.values()].filter((x) => x === r).length);
          return h.size === PARTITIONS && counts.length === 2 && counts.every((c) => c === PARTITIONS / 2)
            ? h
            : undefined;
        },
        60_000,
      );
      expect(first.logs.some((l) => l.event === "partition.handed-back")).toBe(true);
      expect(second.logs.some((l) => l.event === "checkpoint.restored")).toBe(true);
      expect(held.size).toBe(PARTITIONS);
      await publishAll(js, [...batches.slice(batches.length / 2), ...fins]);
      expect(await finalProfiles(nc)).toEqual(expected);
      expect(written.of(profileKeys)).toEqual(profileKeys.map(() => 1));
      written.stop();
      for (const s of SESSIONS) {
        expect(await sessionStatus(nc, s)).toMatchObject({
          state: "complete",
          batchesMerged: NODES.length * 12,
        });
      }
    } finally {
      for (const p of running) await p.kill();
      await nc.close();
      await server.stop();
    }
  }, 300_000);

  it("status, freeze and delete of a session are answered by the one replica holding its partition", async () => {
    const expected = await referenceProfiles();
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      await replica([server.url]);
      await replica([server.url], [], true);
      const held = await eventually(
        "partitions shared by 2 replicas",
        async () => {
          const h = await leaseHolders(nc);
          return h.size === PARTITIONS && new Set(h.values()).size === 2 ? h : undefined;
        },
        60_000,
      );
      const js = jetstream(nc);
      const sessions = await new Kvm(js).open(BUCKET_SESSIONS);
      for (const s of SESSIONS) await sessions.put(s, JSON.stringify(record(s)));
      await publishAll(js, [...batches, ...fins]);
      expect(await finalProfiles(nc)).toEqual(expected);

      // Status about every session: each replica about its own partitions.
      const whole = (await allReplies(nc, AGGREGATOR_STATUS_SUBJECT, {})) as AggregatorStatus[];
      expect(whole.map((st) => st.partitions!.length).sort()).toEqual([3, 3]);
      expect(whole.flatMap((st) => st.sessions.map((x) => x.session)).sort()).toEqual([...SESSIONS].sort());

      // One session of each replica: one reply each, from the holder of its partition.
      const owner = (s: string) => held.get(partitionOf(s, PARTITIONS))!;
      const [a, b] = [SESSIONS[0]!, SESSIONS.find((s) => owner(s) !== owner(SESSIONS[0]!))!];
      expect(b).toBeDefined();
      for (const s of [a, b]) {
        const status = (await allReplies(nc, AGGREGATOR_STATUS_SUBJECT, {
          session: s,
        })) as AggregatorStatus[];
        expect(status.map((st) => st.instance)).toEqual([owner(s)]);
        // A one-shot session cannot be frozen: the refusal comes once, from the same replica's view.
        const freeze = await allReplies(nc, AGGREGATOR_FREEZE_SUBJECT, {
          session: s,
          workloadTokens: [workloadToken(fixtureWorkload(0))],
        });
        expect(freeze).toEqual([expect.objectContaining({ code: "SC_USAGE" })]);
      }
      const deleted = await allReplies(nc, AGGREGATOR_DELETE_SUBJECT, { session: a });
      expect(deleted).toEqual([
        {
          session: a,
          record: true,
          state: "stopped",
          keys: WORKLOADS,
          objects: 0,
          events: NODES.length * 13,
        },
      ]);
      expect(await requestDelete(nc, { session: b })).toMatchObject({ session: b, keys: WORKLOADS });
      // Nothing of them is left: record, profiles, events, the owning replica's state.
      const profiles = await new Kvm(js).open(BUCKET_PROFILES);
      for (const s of [a, b]) {
        expect((await sessions.get(s))?.operation).not.toBe("PUT");
        expect((await profiles.get(profileKey(s, workloadToken(fixtureWorkload(0)))))?.operation).not.toBe(
          "PUT",
        );
        const info = await (
          await js.jetstreamManager()
        ).streams.info(STREAM_EVENTS, {
          subjects_filter: eventSubjectsOf(s),
        });
        expect(info.state.subjects ?? {}).toEqual({});
        const status = (await allReplies(nc, AGGREGATOR_STATUS_SUBJECT, {
          session: s,
        })) as AggregatorStatus[];
        expect(status.map((st) => st.sessions)).toEqual([[]]);
      }
      // The other sessions are untouched.
      const rest = SESSIONS.filter((s) => s !== a && s !== b);
      const keys = rest.flatMap((s) =>
        Array.from({ length: WORKLOADS }, (_, w) => profileKey(s, workloadToken(fixtureWorkload(w)))),
      );
      const kept = await finalProfiles(nc, rest, keys);
      for (const key of keys) expect(kept.get(key)).toBe(expected.get(key));
      for (const s of rest) expect(await sessionStatus(nc, s)).toMatchObject({ state: "complete" });
    } finally {
      for (const p of running) await p.kill();
      await nc.close();
      await server.stop();
    }
  }, 180_000);

  it("a replica paused (SIGSTOP) past its lease writes nothing once resumed", async () => {
    const session = "fenced";
    const recording = syntheticRecording({
      session,
      nodes: NODES,
      batchesPerNode: 8,
      workloads: 1,
      eventsPerWorkload: 30,
    });
    const keys = [profileKey(session, workloadToken(fixtureWorkload(0)))];
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const oneRecord = (overrides: Partial<SessionRecord> = {}): SessionRecord => ({
      ...record(session, { state: "running", partition: 0 }),
      ...overrides,
    });
    try {
      const paused = await replica([server.url], [], false, 1);
      const standby = await replica([server.url], [], true, 1);
      const js = jetstream(nc);
      const written = await countWrites(nc);
      const sessions = await new Kvm(js).open(BUCKET_SESSIONS);
      await sessions.put(session, JSON.stringify(oneRecord()));
      const publish = (ms: EventMessage[]) =>
        Promise.all(
          ms.map((m) =>
            js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
              msgID:
                m.kind === "batch"
                  ? batchMessageId(m.session, m.node, m.seq)
                  : finMessageId(m.session, m.node),
            }),
          ),
        );
      await publish(recording.batches.filter((b) => b.seq <= 4));
      await eventually(
        "first batches merged",
        async () => (await sessionStatus(nc, session))?.batchesMerged === 12,
      );
      // Paused holding the partition, with a stale view: the rest comes while it sleeps, and its
      // stop deadline passes, so the paused state would finalise a partial result on waking.
      process.kill(paused.pid, "SIGSTOP");
      const pausedAt = Date.now();
      await sessions.put(
        session,
        JSON.stringify(
          oneRecord({
            state: "stopping",
            stopDeadline: new Date(Date.now() + 2 * LEASE_TTL_MS).toISOString(),
          }),
        ),
      );
      await publish([...recording.batches.filter((b) => b.seq > 4), ...recording.fins]);
      await eventually(
        "the standby took the partition over",
        async () =>
          (await leaseHolders(nc)).get(0) !== undefined &&
          standby.logs.some((l) => l.event === "aggregator.consuming"),
        30_000,
      );
      const finals = await finalProfiles(nc, [session], keys);
      expect(JSON.parse(finals.get(keys[0]!)!).status).toBe("complete");
      // Let the deadline pass, then wake the paused replica and give it time to act.
      await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 2 * LEASE_TTL_MS + 500 - Date.now())));
      const resumedAt = Date.now();
      process.kill(paused.pid, "SIGCONT");
      await eventually("the paused replica noticed its lease is gone", () =>
        paused.logs.some((l) => l.event === "partition.lease-lost" || l.event === "partition.lost"),
      );
      await new Promise((r) => setTimeout(r, 2000));
      expect(written.of(keys)).toEqual([1]);
      written.stop();
      expect((await finalProfiles(nc, [session], keys)).get(keys[0]!)).toBe(finals.get(keys[0]!));
      expect(
        paused.logs.filter((l) => (l.time as number) >= resumedAt && l.event === "session.finalised"),
      ).toEqual([]);
      // The standby's checkpoints go on undisturbed: the paused replica wrote none over them.
      const standbyName = standby.logs.find((l) => typeof l.instance === "string")!.instance;
      const head = await (await new Kvm(js).open(BUCKET_AGGREGATOR_STATE)).get(checkpointHeadKey(0));
      expect(head?.json<{ instance: string }>().instance).toBe(standbyName);
      expect(standby.logs.some((l) => l.event === "partition.lost")).toBe(false);
      expect(await sessionStatus(nc, session)).toMatchObject({ state: "complete" });
    } finally {
      for (const p of running) await p.kill();
      await nc.close();
      await server.stop();
    }
  }, 180_000);
});
