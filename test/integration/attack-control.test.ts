/**
 * Attacks on the control plane, run with the attacker's own credentials against a real nats-server
 * configured with the shipped permission model (deploy/nats-permissions.json): node-a's agent
 * credentials (its node-held NKey seed) forge control replies and try to make the server deliver in their name; the `cli`
 * user floods an agent with start requests and session records. The real agent of node-b and the
 * real CLI must be unaffected: only node-b is counted, only sessions with a record start, and an
 * agent's sessions stay bounded.
 */
import { readdir, readFile, rm, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gather } from "../../cli/cluster/agents.ts";
import type { ControlReply, SessionRecord } from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import {
  BUCKET_SESSIONS,
  CONTROL_SUBJECTS,
  STREAM_EVENTS,
  nodeControlSubject,
  replySubject,
  replySubjectsOf,
} from "../../lib/subjects.ts";
import { natsUsers, userName, writeAgentSeed, type Component } from "../deploy/nats-users.ts";
import { connectAs as connectUser, testPassword } from "../deploy/nats-users.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { sessionRecord } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, type CliResult } from "./cli.ts";

const NODE_A = "node-a";
const NODE_B = "node-b";
const GHOST = "ghost-node";
const MAX_ACTIVE = 6;
const FORGED_STARTS = 1250;
const password = testPassword;

let dir: string;
let server: NatsServerHandle;
let agentB: AgentProcess;
/** `start` needs an aggregator that consumes; this one runs with the shipped aggregator permissions. */
let aggregatorProcess: AggregatorProcess;
const connections: NatsConnection[] = [];
let cli: NatsConnection;
let attacker: NatsConnection;
/** What the attacker's forgeries did, for the assertions. */
const forgeries = { requests: 0 };

async function connectAs(component: Component, node?: string): Promise<NatsConnection> {
  const nc = await connectUser(server.url, component, node);
  connections.push(nc);
  return nc;
}

function runCliAs(...args: string[]): Promise<CliResult> {
  return runCli(args, {
    cwd: dir,
    env: {
      ...process.env,
      HOME: dir,
      KUBECONFIG: "",
      SECCOMPOSE_CONFIG: join(dir, "config.yaml"),
      SECCOMPOSE_NATS_URL: server.url,
      SECCOMPOSE_NATS_USER: "cli",
      SECCOMPOSE_NATS_PASSWORD: password("cli"),
    },
  });
}

/** Everything node-a's credentials can try against a control request it receives. */
function forgeReplies(msg: Msg): void {
  let request: { replyToken?: string; requestId?: string };
  try {
    request = msg.json();
  } catch {
    return;
  }
  const { replyToken, requestId } = request;
  if (typeof replyToken !== "string" || typeof requestId !== "string") return;
  forgeries.requests++;
  const reply = (node: string, ok: boolean): string =>
    JSON.stringify({
      schemaVersion: 1,
      requestId,
      node,
      ok,
      ...(ok ? {} : { error: { code: "SC_CONTROL_FAILED", message: "forged refusal" } }),
    });
  // On node-b's reply subject: refused by the server.
  attacker.publish(replySubject(replyToken, NODE_B), reply(NODE_B, false));
  // On its own reply subject, in node-b's and a ghost node's name: refused by the CLI.
  attacker.publish(replySubject(replyToken, NODE_A), reply(NODE_B, false));
  attacker.publish(replySubject(replyToken, NODE_A), reply(GHOST, true));
  // The server answers a JetStream API request on whatever reply subject it names.
  attacker.publish(`$JS.API.STREAM.INFO.KV_${BUCKET_SESSIONS}`, "", {
    reply: replySubject(replyToken, NODE_B),
  });
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-attack-"));
  server = await startNatsServer({
    config: `authorization { users: ${JSON.stringify(natsUsers([NODE_A, NODE_B]))} }`,
  });
  // The aggregator's credentials create the stream and buckets, as it does at start-up.
  const aggregator = await connectAs("aggregator");
  await ensureEventStream(await jetstreamManager(aggregator));
  await ensureKv(jetstream(aggregator), BUCKET_SESSIONS);

  const config = join(dir, "agent.yaml");
  await writeFile(config, `sessions:\n  maxActive: ${MAX_ACTIVE}\n  maxFinished: 4\n`);
  await writeFile(join(dir, "pods.json"), JSON.stringify({ pods: [] }));
  // node-b's real agent logs in with its own seed; the attacker holds node-a's.
  const seedB = join(dir, "node-b.nk");
  await writeAgentSeed(NODE_B, seedB);
  agentB = await startAgentProcess({
    node: NODE_B,
    natsUrls: [server.url],
    stateDir: join(dir, "state-b"),
    podsFile: join(dir, "pods.json"),
    env: { SECCOMPOSE_NATS_NKEY_FILE: seedB },
    extraArgs: ["--config", config],
  });

  aggregatorProcess = await startAggregatorProcess({
    natsUrls: [server.url],
    extraArgs: ["--nats-user", userName("aggregator"), "--nats-pass", password(userName("aggregator"))],
  });
  cli = await connectAs("cli");
  attacker = await connectAs("agent", NODE_A);
  attacker.subscribe("sc.ctl.>", { callback: (_err, msg) => forgeReplies(msg) });
  await attacker.flush();
}, 60_000);

afterAll(async () => {
  await agentB?.kill().catch(() => {});
  await aggregatorProcess?.kill().catch(() => {});
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("forged control replies (node-a's agent credentials)", () => {
  it("are not counted by start: the real node-b is, a ghost node is not, and node-b is not reported as refusing", async () => {
    const result = await runCliAs(
      "start",
      "--id",
      "atk1",
      "-n",
      "shop",
      "--expect-agents",
      NODE_B,
      "--output",
      "json",
    );
    expect(result.code, result.stderr).toBe(0);
    const started = JSON.parse(result.stdout) as { session: SessionRecord; problems: string[] };
    expect(started.session.expectedNodes).toEqual([NODE_B]);
    expect(started.problems).toEqual([]);
    expect(result.stderr).toContain(`claims to come from node "${GHOST}"`);
    expect(result.stderr).not.toContain("refused to start");
    expect(forgeries.requests).toBeGreaterThanOrEqual(2);

    const stored = (await (await new Kvm(cli).open(BUCKET_SESSIONS)).get("atk1"))!.json<SessionRecord>();
    expect(stored.expectedNodes).toEqual([NODE_B]);
  });

  it("are not counted by status, which sees node-b's session running", async () => {
    const before = forgeries.requests;
    const replies = await gather(cli, "status", { sessionId: "atk1" }, { maxWaitMs: 1_500 });
    expect(forgeries.requests).toBeGreaterThan(before);
    expect(replies.map((r) => r.node)).toEqual([NODE_B]);
    expect(replies[0]!.sessions).toMatchObject([{ sessionId: "atk1", state: "running" }]);
  });

  it("never reach the CLI on node-b's reply subject, not even as a server response", async () => {
    const token = "f".repeat(32);
    const seen: string[] = [];
    const sub = cli.subscribe(replySubjectsOf(token), {
      callback: (_e, m) => void seen.push(`${m.subject} ${m.headers ? "headers" : ""}${m.reply ?? ""}`),
    });
    await cli.flush();
    forgeReplies({ json: () => ({ replyToken: token, requestId: "r" }) } as unknown as Msg);
    await attacker.flush();
    await eventually("the attacker's messages delivered", () => seen.length >= 3);
    await cli.flush();
    // Two forged bodies on node-a's own subject, and the server's API response: nothing the CLI counts.
    expect(seen.filter((s) => s.startsWith(replySubject(token, NODE_A)))).toHaveLength(2);
    expect(seen.filter((s) => s.startsWith(replySubject(token, NODE_B)))).toHaveLength(1);
    sub.unsubscribe();
  });
});

describe("push consumers (node-a's agent credentials)", () => {
  it("cannot be created, so the server delivers nothing to sc.ctl.stop or node-b's install subject", async () => {
    // node-b's own credentials may read both subjects: they observe whatever would arrive there.
    const observer = await connectAs("agent", NODE_B);
    const arrived: string[] = [];
    for (const subject of [CONTROL_SUBJECTS.stop, nodeControlSubject(NODE_B, "install")])
      observer.subscribe(subject, { callback: (_e, m) => void arrived.push(m.subject) });
    await observer.flush();

    const jsm = await jetstreamManager(attacker);
    for (const deliver of [CONTROL_SUBJECTS.stop, nodeControlSubject(NODE_B, "install")]) {
      for (const stream of [`KV_${BUCKET_SESSIONS}`, STREAM_EVENTS]) {
        await expect(
          jsm.consumers.add(stream, { deliver_subject: deliver, ack_policy: AckPolicy.None }),
        ).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE/);
      }
    }
    await expect((await new Kvm(attacker).open(BUCKET_SESSIONS)).watch()).rejects.toThrow(
      /Permissions Violation/,
    );
    await observer.flush();
    expect(arrived).toEqual([]);
    const [status] = await gather(cli, "status", { sessionId: "atk1" }, { expected: 1 });
    expect(status?.sessions).toMatchObject([{ sessionId: "atk1", state: "running" }]);
  });
});

describe("sessions on an agent (the cli user's credentials)", () => {
  it(`${FORGED_STARTS} start requests for sessions without a record create no session`, async () => {
    const rssBefore = await rssKiB(agentB.pid);
    const token = "e".repeat(32);
    // As the CLI does: only a control reply on node-b's own reply subject is node-b's (the attacker
    // still makes the server put a JetStream API response there).
    const fromB: ControlReply[] = [];
    const sub = cli.subscribe(replySubject(token, NODE_B), {
      callback: (_e, m) => {
        const value = m.json<unknown>();
        if (isValid("controlReply", value)) fromB.push(value as ControlReply);
      },
    });
    await cli.flush();
    for (let i = 0; i < FORGED_STARTS; i++) {
      cli.publish(
        CONTROL_SUBJECTS.start,
        JSON.stringify({
          schemaVersion: 1,
          op: "start",
          requestId: `f${i}`,
          replyToken: token,
          sessionId: `forged-${i}`,
        }),
      );
    }
    await eventually("node-b's answer to every forged start", () => fromB.length === FORGED_STARTS);
    sub.unsubscribe();
    const codes: Record<string, number> = {};
    for (const r of fromB) codes[r.error?.code ?? "ok"] = (codes[r.error?.code ?? "ok"] ?? 0) + 1;
    expect(codes).toEqual({ SC_SESSION_NOT_FOUND: FORGED_STARTS });

    const [health] = await gather(cli, "health", {}, { expected: 1 });
    expect(health?.health?.activeSessions).toEqual(["atk1"]);
    expect((await readdir(join(dir, "state-b", "sessions"))).sort()).toEqual(["atk1"]);
    // No session state was kept: memory grows by far less than the 200 MB the attack used to cost.
    expect((await rssKiB(agentB.pid)) - rssBefore).toBeLessThan(64 * 1024);
  });

  it(`records written for many sessions start at most maxActive (${MAX_ACTIVE}) of them`, async () => {
    const kv = await new Kvm(cli).open(BUCKET_SESSIONS);
    for (let i = 0; i < 3 * MAX_ACTIVE; i++) {
      await kv.put(
        `flood-${i}`,
        JSON.stringify(sessionRecord(`flood-${i}`, { targets: { namespaces: ["shop"] } })),
      );
    }
    // atk1 holds one of the slots: the other records beyond the bound are refused.
    const refused = 3 * MAX_ACTIVE - (MAX_ACTIVE - 1);
    await eventually(
      "node-b to refuse the records beyond its bound",
      () =>
        agentB.logs.filter(
          (l) =>
            l.msg === "could not apply a session record" &&
            String((l.err as { message?: unknown } | undefined)?.message).includes("maxActiveSessions"),
        ).length >= refused,
    );
    const [reply] = await gather(cli, "health", {}, { expected: 1 });
    const health = reply!.health!;
    expect(health.activeSessions).toHaveLength(MAX_ACTIVE);
    expect(health.activeSessions).toContain("atk1");
  });
});

describe("seccompose start with an invalid selector", () => {
  it("is a usage error (exit 2) that writes nothing", async () => {
    const result = await runCliAs("start", "--id", "zombie1", "-l", "app in (x", "--expect-agents", NODE_B);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("invalid label selector");
    expect(await (await new Kvm(cli).open(BUCKET_SESSIONS)).get("zombie1")).toBeNull();
  });
});
