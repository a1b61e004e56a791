import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { PubAck } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getFreePort, startNatsCluster, startNatsServer } from "./nats.ts";
import type { NatsClusterHandle, NatsServerHandle } from "./nats.ts";
import { eventually } from "./eventually.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Messages of `stream` held in the local store of the node behind `monitorPort`. */
async function localStreamMessages(monitorPort: number, stream: string): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}/jsz?streams=true`);
  const jsz = (await response.json()) as {
    account_details?: { stream_detail?: { name: string; state: { messages: number } }[] }[];
  };
  const details = jsz.account_details?.flatMap((a) => a.stream_detail ?? []) ?? [];
  return details.find((d) => d.name === stream)?.state.messages;
}

describe("getFreePort", () => {
  it("returns a loopback port that can be bound", async () => {
    const port = await getFreePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });
});

describe("startNatsServer", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("stores JetStream publishes that a durable consumer reads back in order", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "EVENTS", subjects: ["ev.>"] });
    const js = jetstream(nc);
    for (const payload of ["open", "read", "close"]) await js.publish("ev.node-a", payload);
    await jsm.consumers.add("EVENTS", { durable_name: "reader", ack_policy: AckPolicy.Explicit });

    const consumer = await js.consumers.get("EVENTS", "reader");
    const batch = await consumer.fetch({ max_messages: 3, expires: 5_000 });
    const read: string[] = [];
    for await (const m of batch) {
      read.push(m.string());
      m.ack();
    }
    expect(read).toEqual(["open", "read", "close"]);
  });

  it("keeps stream data across a restart on the same port and store", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "DURABLE", subjects: ["durable.>"] });
    await jetstream(nc).publish("durable.x", "kept");
    const pidBefore = server.pid;

    await server.restart();

    expect(server.pid).not.toBe(pidBefore);
    expect(isRunning(pidBefore)).toBe(false);
    const reconnected = await connect({ servers: server.url });
    try {
      const jsmAfter = await jetstreamManager(reconnected);
      expect((await jsmAfter.streams.info("DURABLE")).state.messages).toBe(1);
      expect((await jsmAfter.streams.getMessage("DURABLE", { seq: 1 }))?.string()).toBe("kept");
    } finally {
      await reconnected.close();
    }
  });

  it("applies extra config text, and stop ends the process and removes the temp dir", async () => {
    const guarded = await startNatsServer({
      jetstream: false,
      config: 'authorization { user: "agent", password: "s3cret" }',
    });
    try {
      await expect(connect({ servers: guarded.url, reconnect: false })).rejects.toThrow(/Authorization/i);
      const authorized = await connect({ servers: guarded.url, user: "agent", pass: "s3cret" });
      await authorized.close();
    } finally {
      await guarded.stop();
    }
    expect(isRunning(guarded.pid)).toBe(false);
    expect(existsSync(guarded.dir)).toBe(false);
  });

  it("rejects with the tail of the server log when the config is invalid", async () => {
    await expect(startNatsServer({ config: "listen: {{ not a value" })).rejects.toThrow(
      /exited during start[\s\S]*log tail:\n[\s\S]*Parse error/,
    );
  });
});

describe("startNatsCluster", () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it("accepts publishes to a replicas-3 stream after its leader is killed and catches that node up on restart", async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: "REPLICATED", subjects: ["rep.>"], num_replicas: 3 });
    expect(info.cluster?.replicas).toHaveLength(2);
    const js = jetstream(nc);
    for (let i = 1; i <= 3; i++) await js.publish("rep.x", `before-${i}`, { msgID: `before-${i}` });

    const leaderName = info.cluster?.leader;
    const leader = cluster.servers.find((s) => s.name === leaderName);
    if (!leader) throw new Error(`stream leader ${leaderName} is not one of the cluster's servers`);
    await leader.kill();

    // Publishes fail until a new leader is elected; retrying with the same msgID cannot store twice.
    const ack = await eventually<PubAck>("a publish after the leader was killed", () =>
      js.publish("rep.x", "after-kill", { msgID: "after-kill", timeout: 1_000 }),
    );
    expect(ack.seq).toBe(4);
    const survivorInfo = await jsm.streams.info("REPLICATED");
    expect(survivorInfo.cluster?.leader).not.toBe(leaderName);
    expect(survivorInfo.state.messages).toBe(4);

    await leader.restart();
    await eventually("the restarted node holding all 4 messages", async () =>
      (await localStreamMessages(leader.monitorPort, "REPLICATED")) === 4 ? true : undefined,
    );
    const rejoined = await jsm.streams.info("REPLICATED");
    const peers = [rejoined.cluster?.leader, ...(rejoined.cluster?.replicas ?? []).map((r) => r.name)];
    expect(peers).toContain(leaderName);
  });

  it("serves a KV value written through one node to a client connected to another", async () => {
    const [firstUrl, , lastUrl] = cluster.urls;
    const writer = await connect({ servers: firstUrl });
    const reader = await connect({ servers: lastUrl });
    try {
      const written = await new Kvm(jetstream(writer)).create("profiles", { history: 3, replicas: 3 });
      const revision = await written.put("session-1", JSON.stringify({ syscalls: ["read", "write"] }));

      const readBucket = await new Kvm(jetstream(reader)).open("profiles");
      // Direct gets may be answered by a follower that has not applied the latest entry yet.
      const entry = await eventually("the KV entry being readable on another node", async () => {
        const e = await readBucket.get("session-1");
        return e?.revision === revision ? e : undefined;
      });
      expect(entry.json()).toEqual({ syscalls: ["read", "write"] });
      expect(reader.info?.server_name).not.toBe(writer.info?.server_name);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});
