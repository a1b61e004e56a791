/**
 * Runs the real clients under the subject permissions of deploy/nats-permissions.json on a real
 * nats-server 2.9.10: every operation a component needs must pass, and what the permission model
 * promises to forbid must be refused by the server.
 */
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createUser } from "@nats-io/nkeys";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import {
  AGGREGATOR_DELETE_SUBJECT,
  AGGREGATOR_FREEZE_SUBJECT,
  aggregatorDurable,
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_AGGREGATOR_LEASES,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_INSTALLED,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  CONTROL_SUBJECTS,
  OBJECT_STORE_PROFILES,
  STREAM_EVENTS,
  batchMessageId,
  convergenceSubject,
  driftReportKey,
  driftSubject,
  eventSubject,
  eventSubjectsOf,
  nodeControlSubject,
  profileKey,
  replySubject,
  replySubjectsOf,
  SESSION_CHANGES_PREFIX,
} from "../../lib/subjects.ts";
import { SessionDirectory } from "../../lib/nats/session-directory.ts";
import { InstalledMarks, profileSha256 } from "../../lib/nats/installed-marks.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer } from "../helpers/nats.ts";
import type { NatsServerHandle } from "../helpers/nats.ts";
import { natsUsers, userName } from "./nats-users.ts";
import { connectAs as connectUser, testPassword } from "./nats-users.ts";
import type { Component } from "./nats-users.ts";

/** The second node name has dots, so its subject token differs from its name. */
const NODE_A = "node-a";
const NODE_B = "ip-10-0-0-7.ec2.internal";
const SESSION = "s1";
const WORKLOAD = "default_Deployment_web_nginx";
const password = testPassword;

let server: NatsServerHandle;
const connections: NatsConnection[] = [];

async function connectAs(component: Component, node?: string): Promise<NatsConnection> {
  const nc = await connectUser(server.url, component, node);
  connections.push(nc);
  return nc;
}

/** A request-style call (JetStream publish, API call, request) refused by the server's permissions. */
async function expectPublishDenied(call: Promise<unknown>, subject: string): Promise<void> {
  await expect(call).rejects.toThrow(`Permissions Violation for Publish to "${subject}"`);
}

async function expectSubscribeDenied(nc: NatsConnection, subject: string): Promise<void> {
  const closed = await nc.subscribe(subject).closed;
  expect(closed).toBeInstanceOf(Error);
  expect((closed as Error).message).toContain(`Permissions Violation for Subscription to "${subject}"`);
}

let aggregator: NatsConnection;
let agentA: NatsConnection;
let agentB: NatsConnection;
let cli: NatsConnection;

beforeAll(async () => {
  // The users.json install writes: each agent an NKey user, known by the public key its node enrolled.
  const users = natsUsers([NODE_A, NODE_B]);
  server = await startNatsServer({ config: `authorization { users: ${JSON.stringify(users)} }` });
  aggregator = await connectAs("aggregator");
  agentA = await connectAs("agent", NODE_A);
  agentB = await connectAs("agent", NODE_B);
  cli = await connectAs("cli");

  // The aggregator owns every JetStream asset: it creates them with the project's own code.
  const js = jetstream(aggregator);
  await ensureEventStream(await jetstreamManager(aggregator));
  await ensureKv(js, BUCKET_SESSIONS, { history: 5 });
  await ensureKv(js, BUCKET_PROFILES, { history: 10 });
  await ensureKv(js, BUCKET_AGGREGATOR_STATE);
  await ensureKv(js, BUCKET_AGGREGATOR_LEASES, { ttlSeconds: 10 });
  await ensureKv(js, BUCKET_INSTALLED);
  await new Objm(aggregator).create(OBJECT_STORE_PROFILES);
  await (
    await jetstreamManager(aggregator)
  ).consumers.add(STREAM_EVENTS, {
    durable_name: aggregatorDurable(0),
    ack_policy: AckPolicy.Explicit,
  });
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.stop();
});

describe("agent permissions", () => {
  it("admits an agent only with its node's enrolled key: no password login, no key that was not enrolled", async () => {
    const login = async (options: Parameters<typeof connect>[0]) =>
      (await connect({ servers: server.url, reconnect: false, ...options })).close();
    await expect(
      login({ user: userName("agent", NODE_A), pass: password(userName("agent", NODE_A)) }),
    ).rejects.toThrow(/Authorization Violation/i);
    await expect(login({ authenticator: nkeyAuthenticator(createUser().getSeed()) })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });

  it("lets an agent publish event batches on its own node's subject and on no other node's", async () => {
    const ack = await jetstream(agentB).publish(eventSubject(0, SESSION, NODE_B), "batch", {
      msgID: batchMessageId(SESSION, NODE_B, 1),
    });
    expect(ack.stream).toBe(STREAM_EVENTS);

    const forged = eventSubject(0, SESSION, NODE_B);
    await expectPublishDenied(jetstream(agentA).publish(forged, "forged"), forged);
    // Whatever the partition: the node token is the last one.
    const otherPartition = eventSubject(5, SESSION, NODE_B);
    await expectPublishDenied(jetstream(agentA).publish(otherPartition, "forged"), otherPartition);
  });

  it("lets an agent read session desired state but not write it, and keeps it from reading profiles", async () => {
    await (await new Kvm(cli).open(BUCKET_SESSIONS)).put("s-read", '{"id":"s-read"}');
    await (await new Kvm(aggregator).open(BUCKET_PROFILES)).put(profileKey("s-read", WORKLOAD), "{}");
    await new Objm(aggregator)
      .open(OBJECT_STORE_PROFILES)
      .then((os) => os.putBlob({ name: profileKey("s-read", WORKLOAD) }, new Uint8Array(300_000)));

    // Agents read sessions without consumers: keys by STREAM.INFO, values by DIRECT.GET, changes by republish.
    const changes: string[] = [];
    agentA.subscribe(`${SESSION_CHANGES_PREFIX}.>`, { callback: (_e, m) => void changes.push(m.subject) });
    await agentA.flush();
    await (await new Kvm(cli).open(BUCKET_SESSIONS)).put("s-read2", '{"id":"s-read2"}');
    const directory = await SessionDirectory.open(agentA);
    expect(await directory.keys()).toEqual(expect.arrayContaining(["s-read", "s-read2"]));
    const sessions = await new Kvm(agentA).open(BUCKET_SESSIONS);
    expect((await sessions.get("s-read"))?.string()).toBe('{"id":"s-read"}');
    await eventually("the change republished", () => changes.includes(`${SESSION_CHANGES_PREFIX}.s-read2`));
    await expect(sessions.watch()).rejects.toThrow(
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER/,
    );
    await expectPublishDenied(sessions.put("s-read", "{}"), `$KV.${BUCKET_SESSIONS}.s-read`);

    const profiles = await new Kvm(agentA).open(BUCKET_PROFILES);
    await expect(profiles.get(profileKey("s-read", WORKLOAD))).rejects.toThrow(
      /Permissions Violation for Publish/,
    );
    await expect(
      new Objm(agentA).open(OBJECT_STORE_PROFILES).then((os) => os.getBlob(profileKey("s-read", WORKLOAD))),
    ).rejects.toThrow(/Permissions Violation for Publish/);
    await expectPublishDenied(profiles.put("forged", "{}"), `$KV.${BUCKET_PROFILES}.forged`);
  });

  it("lets the CLI mark installed profiles and agents read the marks without consumers, but never write them", async () => {
    const profile = '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}';
    const mark = {
      schemaVersion: 1 as const,
      name: "shop.deployment.web.nginx",
      profile,
      sha256: profileSha256(profile),
      session: SESSION,
      workload: { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" },
      mode: "enforce" as const,
      markedAt: "2025-01-15T10:00:00.000Z",
    };
    const byCli = await InstalledMarks.open(cli);
    await byCli.put(mark);
    await byCli.put({ ...mark, name: "gone" });
    await byCli.remove("gone");

    const byAgent = await InstalledMarks.open(agentA);
    expect(await byAgent.entries()).toEqual([
      { name: "gone", state: "uninstalled" },
      { name: mark.name, state: "installed", mark },
    ]);
    // A node that could write a mark would choose what every other node installs.
    const kv = await new Kvm(agentA).open(BUCKET_INSTALLED);
    await expectPublishDenied(kv.put(mark.name, "{}"), `$KV.${BUCKET_INSTALLED}.${mark.name}`);
    await expectPublishDenied(kv.delete(mark.name), `$KV.${BUCKET_INSTALLED}.${mark.name}`);
    await expect(kv.watch()).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER/);
    await expectPublishDenied(
      jetstreamManager(agentA).then((jsm) => jsm.streams.purge(`KV_${BUCKET_INSTALLED}`)),
      `$JS.API.STREAM.PURGE.KV_${BUCKET_INSTALLED}`,
    );
  });

  it("keeps agents from creating any consumer, so the server never delivers anywhere in their name", async () => {
    const jsm = await jetstreamManager(agentA);
    for (const [stream, deliver] of [
      [`KV_${BUCKET_SESSIONS}`, CONTROL_SUBJECTS.stop],
      [`KV_${BUCKET_SESSIONS}`, nodeControlSubject(NODE_B, "install")],
      [STREAM_EVENTS, replySubject("a".repeat(16), NODE_B)],
    ] as const) {
      await expect(
        jsm.consumers.add(stream, { deliver_subject: deliver, ack_policy: AckPolicy.None }),
      ).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE/);
    }
  });

  it("lets an agent reply on its own node's reply subject only, and never through allow_responses", async () => {
    const token = "b".repeat(32);
    const received: string[] = [];
    cli.subscribe(replySubjectsOf(token), { callback: (_e, m) => void received.push(m.subject) });
    await cli.flush();
    agentA.publish(replySubject(token, NODE_B), "forged");
    agentA.publish(replySubject(token, NODE_A), "own");
    agentB.publish(replySubject(token, NODE_B), "own");
    await Promise.all([agentA.flush(), agentB.flush()]);
    await eventually("both own replies", () => received.length >= 2);
    await cli.flush();
    expect(received.sort()).toEqual([replySubject(token, NODE_A), replySubject(token, NODE_B)].sort());

    // A request's NATS reply subject is no way around it: agents have no allow_responses.
    agentA.subscribe(CONTROL_SUBJECTS.health, { callback: (_e, m) => void m.respond("forged") });
    await agentA.flush();
    await expect(cli.request(CONTROL_SUBJECTS.health, "{}", { timeout: 1_000 })).rejects.toThrow(/TIMEOUT/i);
  });

  it("keeps agents from sending control requests, deleting streams and reading other agents' events", async () => {
    await expectPublishDenied(agentA.request(CONTROL_SUBJECTS.stop, "{}"), CONTROL_SUBJECTS.stop);
    await expectPublishDenied(
      jetstreamManager(agentA).then((jsm) => jsm.streams.delete(STREAM_EVENTS)),
      `$JS.API.STREAM.DELETE.${STREAM_EVENTS}`,
    );
    await expectSubscribeDenied(agentA, "sc.ev.>");
    await expectSubscribeDenied(agentA, nodeControlSubject(NODE_B, "install"));
    await expectSubscribeDenied(agentA, replySubjectsOf("c".repeat(16)));
  });
});

describe("control requests", () => {
  it("reach every agent from the CLI, and node requests only the addressed agent", async () => {
    const token = "d".repeat(32);
    for (const [nc, node] of [
      [agentA, NODE_A],
      [agentB, NODE_B],
    ] as const) {
      for (const subject of [
        CONTROL_SUBJECTS.status,
        CONTROL_SUBJECTS.installed,
        nodeControlSubject(node, "install"),
        nodeControlSubject(node, "uninstall"),
      ]) {
        nc.subscribe(subject, {
          callback: (_err, msg) => nc.publish(replySubject(msg.string(), node), `${subject} ${node}`),
        });
      }
      await nc.flush();
    }
    const replies: string[] = [];
    const sub = cli.subscribe(replySubjectsOf(token), {
      callback: (_err, msg) => void replies.push(msg.string()),
    });
    await cli.flush();
    cli.publish(CONTROL_SUBJECTS.status, token);
    await eventually("both agents' replies", () => replies.length === 2);
    expect(replies.sort()).toEqual(
      [`${CONTROL_SUBJECTS.status} ${NODE_B}`, `${CONTROL_SUBJECTS.status} ${NODE_A}`].sort(),
    );

    cli.publish(nodeControlSubject(NODE_B, "install"), token);
    await eventually("node B's reply", () => replies.length === 3);
    await cli.flush();
    expect(replies[2]).toBe(`${nodeControlSubject(NODE_B, "install")} ${NODE_B}`);

    cli.publish(CONTROL_SUBJECTS.installed, token);
    await eventually("both agents' lists", () => replies.length === 5);
    cli.publish(nodeControlSubject(NODE_A, "uninstall"), token);
    await eventually("node A's uninstall reply", () => replies.length === 6);
    await cli.flush();
    expect(replies[5]).toBe(`${nodeControlSubject(NODE_A, "uninstall")} ${NODE_A}`);
    sub.unsubscribe();
  });
});

describe("aggregator permissions", () => {
  it("lets the aggregator consume and ack SC_EVENTS through its durable consumer and recreate it", async () => {
    await jetstream(agentA).publish(eventSubject(0, "s-consume", NODE_A), "batch", {
      msgID: batchMessageId("s-consume", NODE_A, 1),
    });
    const consumer = await jetstream(aggregator).consumers.get(STREAM_EVENTS, aggregatorDurable(0));
    let seen: string | undefined;
    while (seen !== eventSubject(0, "s-consume", NODE_A)) {
      const msg = await consumer.next({ expires: 2_000 });
      if (msg === null) throw new Error("the durable consumer delivered nothing");
      seen = msg.subject;
      expect(await msg.ackAck()).toBe(true);
    }

    const jsm = await jetstreamManager(aggregator);
    await jsm.consumers.delete(STREAM_EVENTS, aggregatorDurable(0));
    const info = await jsm.consumers.add(STREAM_EVENTS, {
      durable_name: aggregatorDurable(0),
      ack_policy: AckPolicy.Explicit,
    });
    expect(info.name).toBe(aggregatorDurable(0));
  });

  it("lets the aggregator write profiles, checkpoints and large profiles and notify the CLI", async () => {
    const key = profileKey("s-write", WORKLOAD);
    await (await new Kvm(aggregator).open(BUCKET_PROFILES)).put(key, "{}");
    await (await new Kvm(aggregator).open(BUCKET_AGGREGATOR_STATE)).put("head", "1");
    // Partition leases: claim, renew with compare-and-set, hand back.
    const leases = await new Kvm(aggregator).open(BUCKET_AGGREGATOR_LEASES);
    const claimed = await leases.create("partition.3", "{}");
    await leases.delete("partition.3", { previousSeq: await leases.update("partition.3", "{}", claimed) });
    const os = await new Objm(aggregator).open(OBJECT_STORE_PROFILES);
    await os.putBlob({ name: key }, new Uint8Array(200_000));
    expect(await os.delete(key)).toBeTruthy();

    const notified: string[] = [];
    const subjects = ["sc.drift.>", "sc.conv.>", `${AGGREGATOR_STATUS_SUBJECT}.>`];
    for (const subject of subjects)
      cli.subscribe(subject, {
        callback: (_err, msg) => {
          notified.push(msg.subject);
        },
      });
    await cli.flush();
    const published = [
      driftSubject("s-write", WORKLOAD),
      convergenceSubject("s-write", WORKLOAD),
      `${AGGREGATOR_STATUS_SUBJECT}.s-write`,
    ];
    for (const subject of published) aggregator.publish(subject, "{}");
    await aggregator.flush();
    await cli.flush();
    expect(notified.sort()).toEqual(published.sort());
  });

  it("answers the CLI's status requests and never forges events or control requests", async () => {
    aggregator.subscribe(AGGREGATOR_STATUS_SUBJECT, {
      callback: (_err, msg) => {
        msg.respond("ok");
      },
    });
    await aggregator.flush();
    expect((await cli.request(AGGREGATOR_STATUS_SUBJECT, "{}", { timeout: 2_000 })).string()).toBe("ok");

    const forged = eventSubject(0, SESSION, NODE_A);
    await expectPublishDenied(jetstream(aggregator).publish(forged, "forged"), forged);
    await expectPublishDenied(aggregator.request(CONTROL_SUBJECTS.start, "{}"), CONTROL_SUBJECTS.start);
  });
});

describe("session deletion", () => {
  it("is done by the aggregator: filtered purges of profiles and events, object deletion, record purge", async () => {
    const js = jetstream(aggregator);
    await (await new Kvm(aggregator).open(BUCKET_SESSIONS)).put("s-del", "{}");
    const profiles = await new Kvm(aggregator).open(BUCKET_PROFILES);
    await profiles.put(profileKey("s-del", WORKLOAD), "{}");
    await profiles.put(driftReportKey("s-del", WORKLOAD), "{}");
    await profiles.put(profileKey("s-keep", WORKLOAD), "{}");
    const os = await new Objm(aggregator).open(OBJECT_STORE_PROFILES);
    await os.putBlob({ name: profileKey("s-del", WORKLOAD) }, new Uint8Array(1000));
    await jetstream(agentA).publish(eventSubject(0, "s-del", NODE_A), "batch");
    await jetstream(agentA).publish(eventSubject(0, "s-keep", NODE_A), "batch");

    const jsm = await jetstreamManager(aggregator);
    expect(
      (await jsm.streams.purge(`KV_${BUCKET_PROFILES}`, { filter: `$KV.${BUCKET_PROFILES}.s-del.>` })).purged,
    ).toBe(2);
    expect(await os.delete(profileKey("s-del", WORKLOAD))).toBeTruthy();
    expect((await jsm.streams.purge(STREAM_EVENTS, { filter: eventSubjectsOf("s-del") })).purged).toBe(1);
    await (await new Kvm(js).open(BUCKET_SESSIONS)).purge("s-del");
    expect(await profiles.get(profileKey("s-keep", WORKLOAD))).not.toBeNull();
  });

  it("is asked for by the CLI on sc.agg.delete, which agents may not send; the CLI itself may purge no profile or event", async () => {
    aggregator.subscribe(AGGREGATOR_DELETE_SUBJECT, {
      callback: (_err, msg) => {
        msg.respond("deleted");
      },
    });
    await aggregator.flush();
    expect((await cli.request(AGGREGATOR_DELETE_SUBJECT, "{}", { timeout: 2_000 })).string()).toBe("deleted");
    await expectPublishDenied(agentA.request(AGGREGATOR_DELETE_SUBJECT, "{}"), AGGREGATOR_DELETE_SUBJECT);
    await expectPublishDenied(agentA.request(AGGREGATOR_FREEZE_SUBJECT, "{}"), AGGREGATOR_FREEZE_SUBJECT);

    const jsm = await jetstreamManager(cli);
    await expectPublishDenied(
      jsm.streams.purge(`KV_${BUCKET_PROFILES}`, { filter: `$KV.${BUCKET_PROFILES}.s-keep.>` }),
      `$JS.API.STREAM.PURGE.KV_${BUCKET_PROFILES}`,
    );
    await expectPublishDenied(
      jsm.streams.purge(STREAM_EVENTS, { filter: eventSubjectsOf("s-keep") }),
      `$JS.API.STREAM.PURGE.${STREAM_EVENTS}`,
    );
    const name = profileKey("s-keep", WORKLOAD);
    await (await new Objm(aggregator).open(OBJECT_STORE_PROFILES)).putBlob({ name }, new Uint8Array(1000));
    await expectPublishDenied(
      (await new Objm(cli).open(OBJECT_STORE_PROFILES)).delete(name),
      // The meta subject names the object in padded base64 (URL alphabet; this name needs no other).
      `$O.${OBJECT_STORE_PROFILES}.M.${Buffer.from(name).toString("base64")}`,
    );
  });
});

describe("CLI permissions", () => {
  it("lets the CLI write session desired state and read profiles and the event backlog", async () => {
    const sessions = await new Kvm(cli).open(BUCKET_SESSIONS);
    await sessions.put("s-cli", '{"id":"s-cli"}');
    const keys: string[] = [];
    for await (const key of await sessions.keys()) keys.push(key);
    expect(keys).toContain("s-cli");

    await (await new Kvm(aggregator).open(BUCKET_PROFILES)).put(profileKey("s-cli", WORKLOAD), "{}");
    const profiles = await new Kvm(cli).open(BUCKET_PROFILES);
    expect((await profiles.get(profileKey("s-cli", WORKLOAD)))?.string()).toBe("{}");
    const listed: string[] = [];
    for await (const key of await profiles.keys("s-cli.>")) listed.push(key);
    expect(listed).toEqual([profileKey("s-cli", WORKLOAD)]);

    const jsm = await jetstreamManager(cli);
    expect((await jsm.streams.info(STREAM_EVENTS)).config.name).toBe(STREAM_EVENTS);
    expect((await jsm.consumers.info(STREAM_EVENTS, aggregatorDurable(0))).name).toBe(aggregatorDurable(0));
  });

  it("lets the CLI follow events by sequence without any consumer of its own", async () => {
    await jetstream(agentA).publish(eventSubject(0, "follow", NODE_A), "batch");
    const jsm = await jetstreamManager(cli);
    const first = await jsm.streams.getMessage(STREAM_EVENTS, {
      seq: 1,
      next_by_subj: "sc.ev.*.follow.*",
    } as unknown as Parameters<typeof jsm.streams.getMessage>[1]);
    expect(first?.subject).toBe(eventSubject(0, "follow", NODE_A));
  });

  it("keeps the CLI from publishing events, writing profiles, creating consumers on or purging the event stream", async () => {
    const forged = eventSubject(0, SESSION, NODE_A);
    await expectPublishDenied(jetstream(cli).publish(forged, "forged"), forged);
    const profiles = await new Kvm(cli).open(BUCKET_PROFILES);
    await expectPublishDenied(profiles.put("forged", "{}"), `$KV.${BUCKET_PROFILES}.forged`);
    const jsm = await jetstreamManager(cli);
    await expectPublishDenied(
      jsm.consumers.add(STREAM_EVENTS, { durable_name: "reader", ack_policy: AckPolicy.None }),
      `$JS.API.CONSUMER.CREATE.${STREAM_EVENTS}.reader`,
    );
    await expectPublishDenied(jsm.streams.purge(STREAM_EVENTS), `$JS.API.STREAM.PURGE.${STREAM_EVENTS}`);
    await expectSubscribeDenied(cli, "sc.ev.>");
  });
});
