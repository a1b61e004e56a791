import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import type { AgentHealth, ProfileDocument } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";
import { countsByNode } from "../../lib/profile/observations.ts";
import type { StraceRecord } from "../../lib/strace/parse.ts";
import { recordStrace } from "../../lib/strace/record.ts";
import { nonReturningSyscalls } from "../../lib/syscalls/non-returning.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { COMPACT_LAYOUT, createCompactParser } from "../../services/agent/intake/compact-alert.ts";
import { agentHttp, agentMetric, startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import {
  control,
  prepareBroker,
  mergeStored,
  nodeRequest,
  readSessionMessages,
  sessionRecord,
} from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { FIXTURE_PODS, readFixtureLines, renderCompactLine } from "../helpers/falco-fixtures.ts";
import { makeNamespace, makeNode, makePod, startFakeApiServer } from "../helpers/fake-apiserver.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";

const NON_RETURNING = new Set(nonReturningSyscalls(scmpArchesForNode(process.arch)));

/** The syscalls strace saw that return, which is what Falco can report. */
function returningSyscalls(records: readonly StraceRecord[]): Set<string> {
  return new Set(
    records.flatMap((r) => (r.kind === "syscall" && !NON_RETURNING.has(r.name) ? [r.name] : [])),
  );
}
const POD_A = { uid: "0a0a0a0a-1111-4222-8333-444455556666", cid: "a".repeat(64) };
const POD_B = { uid: "0b0b0b0b-1111-4222-8333-444455556666", cid: "b".repeat(64) };

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-agent-it-"));
  server = await startNatsServer();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1 });
  await prepareBroker(nc);
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill().catch(() => {});
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function podsFile(
  name: string,
  pods: Array<{ uid: string; name: string; cid: string; container: string; owner: string }>,
) {
  const path = join(dir, `${name}.pods.json`);
  await writeFile(
    path,
    JSON.stringify({
      pods: pods.map((p) => ({
        uid: p.uid,
        name: p.name,
        namespace: "shop",
        labels: { app: p.owner },
        owner: { kind: "Deployment", name: p.owner },
        containers: [{ name: p.container, id: p.cid }],
      })),
    }),
  );
  return path;
}

async function health(): Promise<AgentHealth> {
  const [reply] = await control(nc, "health", {});
  return reply!.health!;
}

/** Waits until the agent has stopped seeing new events for a few flushes. */
async function settle(): Promise<void> {
  let last = -1;
  let stable = 0;
  await eventually(
    "the agent to go quiet",
    async () => {
      const seen = (await health()).counters.alertsRead!;
      stable = seen === last && seen > 0 ? stable + 1 : 0;
      last = seen;
      return stable >= 4 ? true : undefined;
    },
    60_000,
  );
}

describe("node agent with a stand-in Falco and a real nats-server", () => {
  it.each(["compact", "json"] as const)(
    "publishes, per container, the syscall set strace records for the same programs, each batch once (%s alerts)",
    async (format) => {
      const commands = [
        { cmd: ["ls", "-la", "/usr"], podUid: POD_A.uid, containerId: POD_A.cid },
        {
          cmd: ["sh", "-c", "cat /etc/passwd | cut -d: -f1 | sort | wc -l"],
          podUid: POD_B.uid,
          containerId: POD_B.cid,
        },
      ];
      const commandsFile = join(dir, `commands-${format}.json`);
      await writeFile(commandsFile, JSON.stringify(commands));
      const agent = await startAgentProcess({
        node: `node-a-${format}`,
        natsUrls: [server.url],
        stateDir: join(dir, `state-strace-${format}`),
        alertFormat: format,
        podsFile: await podsFile(`strace-${format}`, [
          { ...POD_A, name: "lister-1", container: "ls", owner: "lister" },
          { ...POD_B, name: "piper-1", container: "sh", owner: "piper" },
        ]),
        env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile },
      });
      agents.push(agent);

      const [started] = await control(nc, "start", {
        session: sessionRecord(`strace-${format}`, { targets: { namespaces: ["shop"] } }),
      });
      expect(started).toMatchObject({ ok: true });
      await settle();
      const [stopped] = await control(nc, "stop", { sessionId: `strace-${format}` });
      expect(stopped?.ok).toBe(true);

      const stored = await readSessionMessages(nc, `strace-${format}`);
      const batches = stored.filter((s) => s.message.kind === "batch");
      const fin = stored.find((s) => s.message.kind === "fin");
      expect(fin?.message).toMatchObject({ kind: "fin", node: `node-a-${format}`, batches: batches.length });
      expect(batches.map((b) => (b.message.kind === "batch" ? b.message.seq : 0))).toEqual(
        batches.map((_, i) => i + 1),
      );
      expect(new Set(stored.map((s) => s.msgId)).size).toBe(stored.length);

      const merged = mergeStored(stored);
      for (const [i, { cmd }] of commands.entries()) {
        const expected = returningSyscalls((await recordStrace(cmd, { stdio: "null" })).records);
        const key = {
          namespace: "shop",
          kind: "Deployment",
          name: i === 0 ? "lister" : "piper",
          container: i === 0 ? "ls" : "sh",
        };
        const seen = [...merged.workload(key).syscalls.keys()];
        expect(new Set(seen.filter((n) => !NON_RETURNING.has(n)))).toEqual(expected);
        // Falco never reports the syscalls that do not return; the agent adds them.
        for (const n of NON_RETURNING) expect(seen).toContain(n);
      }
    },
  );

  it("with the hot-syscall split, gets each syscall from one of its two Falcos: strace's set, with a hot syscall counted once", async () => {
    // Each stand-in runs the command under strace itself; the hot one reports only the hot
    // syscalls (its rule), the other is not given them (base_syscalls negations).
    const cmd = ["ls", "-la", "/usr"];
    const commandsFile = join(dir, "commands-split.json");
    await writeFile(commandsFile, JSON.stringify([{ cmd, podUid: POD_A.uid, containerId: POD_A.cid }]));
    const agent = await startAgentProcess({
      node: "node-a-split",
      natsUrls: [server.url],
      stateDir: join(dir, "state-split"),
      podsFile: await podsFile("split", [{ ...POD_A, name: "lister-1", container: "ls", owner: "lister" }]),
      env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, SECCOMPOSE_FALCO_HOT_SYSCALLS: "on" },
    });
    agents.push(agent);
    const [started] = await control(nc, "start", {
      session: sessionRecord("split", { targets: { namespaces: ["shop"] } }),
    });
    expect(started).toMatchObject({ ok: true });
    await settle();
    const [stopped] = await control(nc, "stop", { sessionId: "split" });
    expect(stopped?.ok).toBe(true);

    const merged = mergeStored(await readSessionMessages(nc, "split"));
    const observed = merged.workload({
      namespace: "shop",
      kind: "Deployment",
      name: "lister",
      container: "ls",
    });
    const records = (await recordStrace(cmd, { stdio: "null" })).records;
    const expected = returningSyscalls(records);
    const seen = [...observed.syscalls.keys()].filter((n) => !NON_RETURNING.has(n));
    expect(new Set(seen)).toEqual(expected);
    // Reported by both Falcos, a hot syscall would count twice what one run makes.
    const reads = records.filter((r) => r.kind === "syscall" && r.name === "read").length;
    expect(reads).toBeGreaterThan(0);
    expect(countsByNode(observed.syscalls.get("read")!).get("node-a-split")).toBe(reads);
    const health = (await control(nc, "health", {})).find((r) => r.node === "node-a-split")?.health;
    // Two Falcos ran, the hot one with the default hot list.
    expect(health?.falco.hot).toMatchObject({ restarts: 0 });
    expect(health?.falco.hot?.syscalls).toEqual(expect.arrayContaining(["read", "write", "futex"]));
  });

  it("loses nothing when NATS is killed and restarted mid-session", async () => {
    const lines = readFixtureLines("node-a.alerts.jsonl").map((l) => renderCompactLine(l, COMPACT_LAYOUT));
    const replay = Array.from({ length: 6 }, () => lines).flat();
    const replayFile = join(dir, "replay.txt");
    await writeFile(replayFile, `${replay.join("\n")}\n`);
    // What the agent must end up with: every syscall alert of the replay, counted per container.
    const parse = createCompactParser(COMPACT_LAYOUT, { hostname: "node-b" });
    const expected = new Map<string, number>();
    for (const line of replay) {
      const alert = parse(line);
      if (alert.kind !== "syscall" || !alert.containerId) continue;
      const k = `${alert.containerId.startsWith("4f1e") ? "py" : "sh"}/${alert.syscall}`;
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }

    const agent = await startAgentProcess({
      node: "node-b",
      natsUrls: [server.url],
      stateDir: join(dir, "state-outage"),
      podsFile: await podsFile("fixture", [
        {
          uid: FIXTURE_PODS.python.uid,
          cid: FIXTURE_PODS.python.cid,
          name: "py-1",
          container: "py",
          owner: "py",
        },
        {
          uid: FIXTURE_PODS.pipeline.uid,
          cid: FIXTURE_PODS.pipeline.cid,
          name: "sh-1",
          container: "sh",
          owner: "sh",
        },
      ]),
      env: { STANDIN_MODE: "replay", STANDIN_REPLAY: replayFile, STANDIN_RATE: "1500" },
    });
    agents.push(agent);
    expect(
      (
        await control(nc, "start", {
          session: sessionRecord("outage1", { targets: { namespaces: ["shop"] } }),
        })
      )[0]?.ok,
    ).toBe(true);

    await eventually("events to flow", async () =>
      (await health()).counters.eventsSent! > 0 ? true : undefined,
    );
    await server.kill();
    // The outage lasts until the agent has spooled batches, however long that takes.
    const spooled = await eventually("the agent to spool batches while NATS is down", async () => {
      const n = await agentMetric(agent, "seccompose_agent_messages_spooled_total");
      return n >= 2 ? n : undefined;
    });
    await server.restart();
    await settle();
    expect(await agentMetric(agent, "seccompose_agent_messages_replayed_total")).toBeGreaterThanOrEqual(
      spooled,
    );
    expect((await control(nc, "stop", { sessionId: "outage1" }))[0]?.ok).toBe(true);

    const stored = await readSessionMessages(nc, "outage1");
    const merged = mergeStored(stored);
    const actual = new Map<string, number>();
    for (const [who, container] of [
      ["py", "py"],
      ["sh", "sh"],
    ] as const) {
      const wo = merged.workload({ namespace: "shop", kind: "Deployment", name: who, container });
      for (const [name, stats] of wo.syscalls) {
        const count = countsByNode(stats).get("node-b") ?? 0;
        if (count > 0) actual.set(`${who}/${name}`, count);
      }
    }
    expect(actual).toEqual(expected);
    expect(stored.at(-1)?.message.kind).toBe("fin");
    expect(agent.logs.some((l) => l.event === "nats.disconnected")).toBe(true);
  });

  it("counts Falco's dropped events in health and in the FIN, and renders its node's own profile on request", async () => {
    const commandsFile = join(dir, "commands-drops.json");
    await writeFile(
      commandsFile,
      JSON.stringify([{ cmd: ["ls", "/"], podUid: POD_A.uid, containerId: POD_A.cid }]),
    );
    const agent = await startAgentProcess({
      node: "node-d",
      natsUrls: [server.url],
      stateDir: join(dir, "state-drops"),
      podsFile: await podsFile("drops", [{ ...POD_A, name: "lister-1", container: "ls", owner: "lister" }]),
      env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_DROPS: "3" },
    });
    agents.push(agent);
    expect((await control(nc, "start", { session: sessionRecord("drops1") }))[0]?.ok).toBe(true);
    const h = await eventually("drop alerts", async () => {
      const mine = (await control(nc, "health", {})).find((r) => r.node === "node-d")?.health;
      return mine && mine.counters.falcoDrops! >= 3 ? mine : undefined;
    });
    expect(h.counters.falcoDrops).toBeGreaterThanOrEqual(3);

    const docs = (await nodeRequest(nc, "node-d", "profile", {
      op: "status",
      sessionId: "drops1",
    })) as ProfileDocument[];
    expect(docs).toHaveLength(1);
    assertValid("profileDocument", docs[0], "node profile reply");
    expect(docs[0]!.workload).toEqual({
      namespace: "shop",
      kind: "Deployment",
      name: "lister",
      container: "ls",
    });
    expect(docs[0]!.syscalls.map((s) => s.name)).toContain("getdents64");
    expect(docs[0]!.nodes[0]!.droppedEvents).toBeGreaterThanOrEqual(3);

    expect((await control(nc, "stop", { sessionId: "drops1" }))[0]?.ok).toBe(true);
    const fin = (await readSessionMessages(nc, "drops1")).find((m) => m.message.kind === "fin")?.message;
    expect(fin?.droppedEvents).toBeGreaterThanOrEqual(3);
  });

  it("resumes its sessions from the session KV after being killed, and reports the gap", async () => {
    const commandsFile = join(dir, "commands-resume.json");
    await writeFile(
      commandsFile,
      JSON.stringify([{ cmd: ["ls", "/"], podUid: POD_A.uid, containerId: POD_A.cid }]),
    );
    const options = {
      node: "node-e",
      natsUrls: [server.url],
      stateDir: join(dir, "state-resume"),
      podsFile: await podsFile("resume", [{ ...POD_A, name: "lister-1", container: "ls", owner: "lister" }]),
      env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_REPEAT: "1" },
    };
    const first = await startAgentProcess(options);
    agents.push(first);
    const kv = await new Kvm(nc).open(BUCKET_SESSIONS);
    await kv.put("resume1", JSON.stringify(sessionRecord("resume1")));
    await eventually("events from the first agent", async () => {
      const mine = (await control(nc, "health", {})).find((r) => r.node === "node-e")?.health;
      return mine && mine.counters.batchesSent! > 0 ? true : undefined;
    });
    await first.kill();

    const second = await startAgentProcess(options);
    agents.push(second);
    const resumed = await eventually("the restarted agent to resume the session", async () => {
      const mine = (await control(nc, "status", { sessionId: "resume1" })).find((r) => r.node === "node-e");
      return mine?.sessions?.find((s) => s.sessionId === "resume1" && s.state === "running");
    });
    expect(second.logs.some((l) => l.event === "session.restored")).toBe(true);
    expect(resumed.state).toBe("running");

    await kv.put("resume1", JSON.stringify(sessionRecord("resume1", { state: "stopping" })));
    const stored = await eventually("the FIN", async () => {
      const msgs = await readSessionMessages(nc, "resume1");
      return msgs.some((m) => m.message.kind === "fin") ? msgs : undefined;
    });
    const fin = stored.find((m) => m.message.kind === "fin")!.message;
    expect(fin.kind === "fin" && fin.gaps?.length).toBe(1);
    const seqs = stored.flatMap((m) => (m.message.kind === "batch" ? [m.message.seq] : []));
    expect(new Set(seqs)).toEqual(
      new Set(Array.from({ length: fin.kind === "fin" ? fin.batches : 0 }, (_, i) => i + 1)),
    );
  });

  it("restarts a crashing Falco with backoff and reports the failure in health and logs", async () => {
    const agent = await startAgentProcess({
      node: "node-c",
      natsUrls: [server.url],
      stateDir: join(dir, "state-crash"),
      podsFile: await podsFile("crash", []),
      env: { STANDIN_MODE: "crash" },
      extraArgs: [],
    });
    agents.push(agent);
    expect((await control(nc, "start", { session: sessionRecord("crash1") }))[0]?.ok).toBe(true);
    const h = await eventually(
      "two Falco restarts",
      async () => {
        const replies = await control(nc, "health", {});
        const mine = replies.find((r) => r.node === "node-c")?.health;
        return mine && mine.falco.restarts >= 2 ? mine : undefined;
      },
      30_000,
    );
    expect(["backoff", "starting", "running"]).toContain(h.falco.state);
    expect(h.falco.lastExit).toMatch(/exit code 1/);
    expect(agent.logs.some((l) => l.event === "falco.failed")).toBe(true);
    const ready = await agentHttp(agent, "/readyz");
    const metrics = await agentHttp(agent, "/metrics");
    expect(metrics.text).toMatch(/seccompose_agent_falco_restarts_total [2-9]/);
    expect([200, 503]).toContain(ready.status);
  });
});

describe("node agent inside Kubernetes (stand-in API server)", () => {
  it("attributes events to pods from its own pod watch and reports Falco failures on its pod", async () => {
    const api = await startFakeApiServer({
      objects: [
        makeNamespace("shop"),
        makeNamespace("seccompose"),
        makeNode({ name: "node-k" }),
        makePod({
          name: "web-1",
          namespace: "shop",
          node: "node-k",
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx", id: POD_A.cid }],
        }),
        makePod({
          name: "agent-k",
          namespace: "seccompose",
          node: "node-k",
          owner: { kind: "DaemonSet", name: "seccompose-agent" },
        }),
      ],
    });
    try {
      const web = api.get("Pod", "shop", "web-1") as { metadata: { uid: string } };
      const commandsFile = join(dir, "commands-k8s.json");
      await writeFile(
        commandsFile,
        JSON.stringify([{ cmd: ["ls", "/"], podUid: web.metadata.uid, containerId: POD_A.cid }]),
      );
      const agent = await startAgentProcess({
        node: "node-k",
        natsUrls: [server.url],
        stateDir: join(dir, "state-k8s"),
        kubeconfig: api.kubeconfigPath,
        env: {
          STANDIN_MODE: "strace",
          STANDIN_COMMANDS: commandsFile,
          POD_NAME: "agent-k",
          POD_NAMESPACE: "seccompose",
        },
      });
      agents.push(agent);
      expect(
        (
          await control(nc, "start", {
            session: sessionRecord("k8s1", { targets: { namespaces: ["shop"] } }),
          })
        )[0]?.ok,
      ).toBe(true);
      await eventually("events of the web pod", async () => {
        const mine = (await control(nc, "status", { sessionId: "k8s1" })).find((r) => r.node === "node-k");
        return mine?.sessions?.[0]?.containers === 1 ? true : undefined;
      });
      expect((await control(nc, "stop", { sessionId: "k8s1" }))[0]?.ok).toBe(true);
      const merged = mergeStored(await readSessionMessages(nc, "k8s1"));
      expect([
        ...merged
          .workload({ namespace: "shop", kind: "Deployment", name: "web", container: "nginx" })
          .syscalls.keys(),
      ]).toContain("getdents64");
      await agent.stop();
      agents.splice(agents.indexOf(agent), 1);

      const crashing = await startAgentProcess({
        node: "node-k",
        natsUrls: [server.url],
        stateDir: join(dir, "state-k8s-crash"),
        kubeconfig: api.kubeconfigPath,
        env: { STANDIN_MODE: "crash", POD_NAME: "agent-k", POD_NAMESPACE: "seccompose" },
      });
      agents.push(crashing);
      expect((await control(nc, "start", { session: sessionRecord("k8s2") }))[0]?.ok).toBe(true);
      const condition = await eventually("the FalcoHealthy condition", () => {
        const pod = api.get("Pod", "seccompose", "agent-k") as {
          status?: { conditions?: Array<Record<string, string>> };
        };
        return pod.status?.conditions?.find(
          (c) => c.type === "seccompose.dev/FalcoHealthy" && c.status === "False",
        );
      });
      expect(condition.message).toMatch(/exit code 1/);
      const event = await eventually("a FalcoFailed event", () =>
        api.list("Event", "seccompose").find((e) => (e as { reason?: string }).reason === "FalcoFailed"),
      );
      expect((event as { type: string }).type).toBe("Warning");
    } finally {
      await api.stop();
    }
  });
});
