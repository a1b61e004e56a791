import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASELINES } from "../../lib/profile/baselines.ts";
import { recordStrace } from "../../lib/strace/record.ts";
import { nonReturningSyscalls } from "../../lib/syscalls/non-returning.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { runUnderProfile } from "../helpers/enforce.ts";
import { aggregatorStatus } from "../../cli/cluster/aggregator.ts";
import { control, readSessionMessages } from "../helpers/cluster.ts";
import { agentMetric } from "../helpers/agent-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { STREAM_EVENTS } from "../../lib/subjects.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { System, type NodeSpec, type PodSpec } from "./system.ts";

/**
 * Issue 6: three agents, two workloads whose pods sit on different nodes, driven through the CLI;
 * then the same run under each fault must give byte-identical profiles.
 */
const pod = (name: string, owner: string, container: string, n: number, cmd: string[]): PodSpec => ({
  uid: `0000000${n}-aaaa-4bbb-8ccc-${String(n).padStart(12, "0")}`,
  name,
  namespace: "shop",
  owner: { kind: "Deployment", name: owner },
  container,
  containerId: String(n).repeat(64).slice(0, 64),
  cmd,
});
const LISTER_A = pod("lister-5f7c9-aaaaa", "lister", "ls", 1, ["ls", "-la", "/usr"]);
const LISTER_B = pod("lister-5f7c9-bbbbb", "lister", "ls", 2, ["ls", "-lR", "/etc/default"]);
const PIPER_A = pod("piper-7d4b8-aaaaa", "piper", "sh", 3, [
  "sh",
  "-c",
  "cat /etc/passwd | cut -d: -f1 | sort | uniq | wc -l",
]);
const PIPER_B = pod("piper-7d4b8-bbbbb", "piper", "sh", 4, ["sh", "-c", "ls / | wc -l; sleep 0.1"]);
const NODES: NodeSpec[] = [
  { node: "node-1", pods: [LISTER_A] },
  { node: "node-2", pods: [LISTER_B, PIPER_A] },
  { node: "node-3", pods: [PIPER_B] },
];
const CONTAINERS = new Map([
  ["node-1", 1],
  ["node-2", 2],
  ["node-3", 1],
]);
const PROFILE_FILES = { lister: "shop.deployment.lister.ls.json", piper: "shop.deployment.piper.sh.json" };

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "seccompose-system-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

type Fault = (system: System, session: string) => Promise<void>;

interface RunResult {
  files: Map<string, string>;
  system: System;
  session: string;
}

async function run(
  name: string,
  opts: { cluster?: boolean; nodes?: NodeSpec[]; fault?: Fault; keep?: boolean; stopCode?: number } = {},
): Promise<RunResult> {
  const session = `s-${name}`;
  const system = await System.start(join(root, name), opts.nodes ?? NODES, { cluster: opts.cluster });
  try {
    const started = await system.cli(["start", "--id", session, "-n", "shop", "--expect-agents", "3"]);
    expect(started.stderr).not.toMatch(/error/i);
    expect(started.code).toBe(0);
    expect(started.stdout.trim()).toBe(session);
    await system.capturing(session);
    await opts.fault?.(system, session);
    await system.settle(session, CONTAINERS);
    const out = join(root, `${name}.profiles`);
    const stopped = await system.cli(["stop", session, "--output-dir", out, "--timeout", "90s"]);
    expect(stopped.code, stopped.stderr).toBe(opts.stopCode ?? 0);
    const files = new Map<string, string>();
    for (const f of (await readdir(out)).sort()) files.set(f, await readFile(join(out, f), "utf8"));
    return { files, system, session };
  } finally {
    if (!opts.keep) await system.stop();
  }
}

const allowed = (text: string) =>
  new Set((JSON.parse(text).syscalls as Array<{ names: string[] }>).flatMap((r) => r.names));

describe("the whole system: 3 agents, 2 workloads, driven through the CLI", () => {
  let reference: RunResult;

  beforeAll(async () => {
    reference = await run("reference");
  }, 180_000);

  it("writes one profile per workload container, equal to the union of what each node saw", async () => {
    expect([...reference.files.keys()]).toEqual([PROFILE_FILES.lister, PROFILE_FILES.piper]);
    const implied = new Set([...BASELINES.runc, ...nonReturningSyscalls(scmpArchesForNode(process.arch))]);
    for (const [file, pods] of [
      [PROFILE_FILES.lister, [LISTER_A, LISTER_B]],
      [PROFILE_FILES.piper, [PIPER_A, PIPER_B]],
    ] as const) {
      const union = new Set<string>();
      for (const p of pods) {
        for (const r of (await recordStrace(p.cmd, { stdio: "null" })).records)
          if (r.kind === "syscall") union.add(r.name);
      }
      const names = allowed(reference.files.get(file)!);
      for (const n of union) expect(names, `${file} lacks ${n}`).toContain(n);
      for (const n of names)
        if (!union.has(n)) expect(implied, `${file} allows ${n}, which no node saw`).toContain(n);
    }
  });

  it("lets every command run under its workload's profile, enforced by libseccomp", async () => {
    for (const [file, pods] of [
      [PROFILE_FILES.lister, [LISTER_A, LISTER_B]],
      [PROFILE_FILES.piper, [PIPER_A, PIPER_B]],
    ] as const) {
      const profile = JSON.parse(reference.files.get(file)!) as object;
      for (const p of pods) {
        const res = await runUnderProfile(profile, p.cmd);
        expect(res.stderr, `${p.cmd.join(" ")} under ${file}`).toBe("");
        expect(res.code).toBe(0);
      }
    }
  });

  it("gives byte-identical profiles after the aggregator is SIGKILLed and restarted mid-session", async () => {
    let restored = false;
    const faulty = await run("aggregator-kill", {
      fault: async (system, session) => {
        // Killed once it has merged part of the session and a checkpoint covers some of it.
        await eventually("the aggregator to merge and checkpoint part of the session", async () => {
          const status = await aggregatorStatus(system.nc, session);
          const merged = status.sessions.find((x) => x.session === session)?.batchesMerged ?? 0;
          return merged > 0 && (status.checkpoint?.streamSeq ?? 0) > 0;
        });
        await system.aggregator.kill();
        await system.restartAggregator();
        restored = system.aggregator.logs.some((l) => l.event === "checkpoint.restored");
      },
    });
    expect(restored).toBe(true);
    expect(faulty.files).toEqual(reference.files);
  }, 180_000);

  it("gives byte-identical profiles when one node of a 3-node NATS cluster is killed and restarted", async () => {
    const seen = { leader: "", newLeader: "" };
    const faulty = await run("nats-cluster-node", {
      cluster: true,
      // The event stream's leader is killed mid-session; it comes back once another server leads
      // and is a current replica again before the session stops.
      fault: async (system) => {
        const jsm = await jetstreamManager(system.nc);
        seen.leader = (await jsm.streams.info(STREAM_EVENTS)).cluster?.leader ?? "";
        const killed = system.servers.find((s) => s.name === seen.leader);
        expect(killed, `stream leader ${seen.leader}`).toBeDefined();
        await killed!.kill();
        seen.newLeader = await eventually("another server to lead SC_EVENTS", async () => {
          const leader = (await jsm.streams.info(STREAM_EVENTS)).cluster?.leader;
          return leader !== undefined && leader !== seen.leader ? leader : undefined;
        });
        await killed!.restart();
        await eventually("the restarted server to be a current replica again", async () => {
          const info = await jsm.streams.info(STREAM_EVENTS);
          return info.cluster?.replicas?.some((r) => r.name === seen.leader && r.current) ?? false;
        });
      },
    });
    expect(seen.newLeader).not.toBe(seen.leader);
    expect(faulty.files).toEqual(reference.files);
  }, 180_000);

  it("gives byte-identical profiles when the single NATS server restarts while agents spool", async () => {
    let replayed = 0;
    const outage = { spooled: 0, replayedDuring: 0, sentDuring: 0, replayed: 0, sentAfter: 0 };
    const faulty = await run("nats-restart", {
      fault: async (system) => {
        const agents = [...system.agents.values()];
        await system.servers[0]!.kill();
        // The outage lasts until an agent has spooled something, however long that takes.
        const spooler = await eventually("an agent to spool while NATS is down", async () => {
          for (const a of agents)
            if ((await agentMetric(a, "seccompose_agent_messages_spooled_total")) > 0) return a;
          return undefined;
        });
        outage.spooled = await agentMetric(spooler, "seccompose_agent_messages_spooled_total");
        outage.replayedDuring = await agentMetric(spooler, "seccompose_agent_messages_replayed_total");
        outage.sentDuring = await agentMetric(spooler, "seccompose_agent_batches_sent_total");
        await system.servers[0]!.restart();
        await eventually("agents to replay their spool", () => {
          replayed = agents.filter((a) => a.logs.some((l) => l.event === "spool.replayed")).length;
          return replayed > 0 ? true : undefined;
        });
        outage.replayed = await eventually("the spooling agent to replay what it spooled", async () => {
          const n = await agentMetric(spooler, "seccompose_agent_messages_replayed_total");
          return n >= outage.spooled ? n : undefined;
        });
        outage.sentAfter = await agentMetric(spooler, "seccompose_agent_batches_sent_total");
      },
    });
    expect(replayed).toBeGreaterThan(0);
    // A spooled batch counts as sent only once JetStream acknowledged its replay.
    expect(outage.sentAfter - outage.sentDuring).toBeGreaterThanOrEqual(
      outage.replayed - outage.replayedDuring,
    );
    expect(faulty.files).toEqual(reference.files);
  }, 180_000);

  it("gives byte-identical profiles when an agent is SIGKILLed and restarted, and reports the gap", async () => {
    const faulty = await run("agent-kill", {
      keep: true,
      // The gap qualifies the result: partial (exit 7), the profiles themselves unchanged.
      stopCode: 7,
      fault: async (system) => {
        // Killed once JetStream acknowledged some of its batches: the restart has a past to resume.
        await eventually("node-2 to send batches", async () => {
          return (await agentMetric(system.agents.get("node-2")!, "seccompose_agent_batches_sent_total")) > 0;
        });
        await system.agents.get("node-2")!.kill();
        await system.startAgent("node-2");
      },
    });
    try {
      expect(faulty.files).toEqual(reference.files);
      const fin = (await readSessionMessages(faulty.system.nc, faulty.session)).find(
        (m) => m.message.kind === "fin" && m.message.node === "node-2",
      )?.message;
      expect(fin?.kind === "fin" ? fin.gaps?.length : 0).toBeGreaterThanOrEqual(1);
      const status = await aggregatorStatus(faulty.system.nc, faulty.session);
      expect(status.sessions[0]?.state).toBe("partial");
      expect(status.sessions[0]?.nodes.find((n) => n.name === "node-2")?.gaps?.length).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await faulty.system.stop();
    }
  }, 180_000);

  it("gives byte-identical profiles when a node's Falco crash-loops before it recovers, and reports the failure", async () => {
    const nodes = NODES.map((n) =>
      n.node === "node-3"
        ? { ...n, env: { STANDIN_CRASH_TIMES: "2", STANDIN_CRASH_COUNTER: join(root, "crash-counter") } }
        : n,
    );
    let restarts = 0;
    const faulty = await run("falco-crash-loop", {
      nodes,
      fault: async (system) => {
        const health = await eventually("node-3 to report Falco restarts", async () => {
          const mine = (await control(system.nc, "health", {}, 3, 3000)).find(
            (r) => r.node === "node-3",
          )?.health;
          return mine && mine.falco.restarts >= 2 ? mine : undefined;
        });
        restarts = health.falco.restarts;
        expect(health.falco.lastExit).toMatch(/exit code 1/);
      },
    });
    expect(restarts).toBeGreaterThanOrEqual(2);
    expect(faulty.files).toEqual(reference.files);
  }, 180_000);
});
