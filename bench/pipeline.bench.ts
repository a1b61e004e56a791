/**
 * The whole pipeline on one machine: stand-in Falco → agents → JetStream → aggregator → profile.
 * 1. Throughput: 3 agents each replay real Falco alerts as fast as they can; reports the syscall
 *    events per second from session start until every agent has read all of them, and checks the
 *    final profiles count every one of them (zero loss). Target: ≥ 1,000,000 events/s aggregate.
 * 2. Stop-to-profile latency with 10 agents over 20 sessions: p50 and p99 (target p50 < 1 s).
 * 3. Peak memory (VmHWM) of every process.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { AgentHealth, ProfileDocument } from "../lib/contracts/types.ts";
import { BUCKET_PROFILES, BUCKET_SESSIONS } from "../lib/subjects.ts";
import { COMPACT_LAYOUT, createCompactParser } from "../services/agent/intake/compact-alert.ts";
import { startAgentProcess, type AgentProcess } from "../test/helpers/agent-process.ts";
import { startAggregatorProcess } from "../test/helpers/aggregator-process.ts";
import { control, sessionRecord } from "../test/helpers/cluster.ts";
import { eventually } from "../test/helpers/eventually.ts";
import { FIXTURE_PODS, readFixtureLines, renderCompactLine } from "../test/helpers/falco-fixtures.ts";
import { startNatsServer } from "../test/helpers/nats.ts";

const LINES_PER_AGENT = Number(process.env.PIPELINE_LINES ?? 1_000_000);

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

const dir = await mkdtemp(join(tmpdir(), "seccompose-pipeline-"));
const server = await startNatsServer();
const nc = await connect({ servers: server.url });
const aggregator = await startAggregatorProcess({ natsUrls: [server.url] });
const agents: AgentProcess[] = [];
const kvSessions = await new Kvm(nc).open(BUCKET_SESSIONS);
const kvProfiles = await new Kvm(nc).open(BUCKET_PROFILES);

const podsFile = join(dir, "pods.json");
await writeFile(
  podsFile,
  JSON.stringify({
    pods: [
      {
        uid: FIXTURE_PODS.python.uid,
        name: "py-1",
        namespace: "bench",
        owner: { kind: "Deployment", name: "py" },
        containers: [{ name: "py", id: FIXTURE_PODS.python.cid }],
      },
      {
        uid: FIXTURE_PODS.pipeline.uid,
        name: "sh-1",
        namespace: "bench",
        owner: { kind: "Deployment", name: "sh" },
        containers: [{ name: "sh", id: FIXTURE_PODS.pipeline.cid }],
      },
    ],
  }),
);
const fixture = readFixtureLines("node-a.alerts.jsonl").map((l) => renderCompactLine(l, COMPACT_LAYOUT));

async function replayFile(name: string, lines: number): Promise<{ path: string; syscalls: number }> {
  const out: string[] = [];
  const parse = createCompactParser(COMPACT_LAYOUT);
  let syscalls = 0;
  for (let i = 0; i < lines; i++) {
    const line = fixture[i % fixture.length]!;
    out.push(line);
    if (parse(line).kind === "syscall") syscalls++;
  }
  const path = join(dir, name);
  await writeFile(path, `${out.join("\n")}\n`);
  return { path, syscalls };
}

async function startAgents(count: number, replay: string, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    agents.push(
      await startAgentProcess({
        node: `${prefix}-${i}`,
        natsUrls: [server.url],
        stateDir: join(dir, `${prefix}-${i}`),
        podsFile,
        env: { STANDIN_MODE: "replay", STANDIN_REPLAY: replay },
      }),
    );
  }
}

async function health(): Promise<AgentHealth[]> {
  return (await control(nc, "health", {}, agents.length)).map((r) => r.health!);
}

async function startSession(id: string, nodes: string[]): Promise<void> {
  const record = sessionRecord(id, { targets: { namespaces: ["bench"] }, expectedNodes: nodes });
  await kvSessions.put(id, JSON.stringify(record));
  const acks = await control(nc, "start", { session: record }, nodes.length);
  if (acks.length !== nodes.length || acks.some((a) => !a.ok))
    throw new Error(`start ${id}: ${JSON.stringify(acks)}`);
}

/** Stops a session and resolves when the aggregator has published it as finalised. */
async function stopSession(id: string, nodes: number): Promise<number> {
  const finalised = nc.subscribe(`sc.agg.status.${id}`, { max: 1 });
  const entry = await kvSessions.get(id);
  const record = {
    ...JSON.parse(entry!.string()),
    state: "stopping",
    stopRequestedAt: new Date().toISOString(),
    stopDeadline: new Date(Date.now() + 60_000).toISOString(),
  };
  const t0 = performance.now();
  await kvSessions.put(id, JSON.stringify(record));
  await control(nc, "stop", { sessionId: id }, nodes);
  for await (const _ of finalised) break;
  return performance.now() - t0;
}

async function profileTotals(id: string): Promise<number> {
  let total = 0;
  for await (const key of await kvProfiles.keys(`${id}.*`)) {
    const doc = (await kvProfiles.get(key))!.json<ProfileDocument>();
    for (const s of doc.syscalls) total += s.count;
  }
  return total;
}

try {
  // 1. Throughput with 3 agents.
  const big = await replayFile("replay-big.txt", LINES_PER_AGENT);
  await startAgents(3, big.path, "tp");
  const nodes = agents.map((a) => a.options.node);
  const expected = big.syscalls * agents.length;
  await startSession("throughput", nodes);
  // Sustained rate: from the first event any agent read to the last, sampled every 100 ms.
  let first: number | undefined;
  await eventually(
    "every agent to read its replay",
    async () => {
      const read = (await health()).reduce((n, h) => n + h.counters.alertsRead!, 0);
      if (read > 0) first ??= performance.now();
      return read >= LINES_PER_AGENT * agents.length ? true : undefined;
    },
    600_000,
    100,
  );
  const seconds = (performance.now() - first!) / 1000;
  await stopSession("throughput", agents.length);
  const counted = await profileTotals("throughput");
  // Profiles also count the never-returning syscalls the agents add (count 0), so totals compare exactly.
  console.log(
    `pipeline throughput: ${Math.round(expected / seconds).toLocaleString("en-US")} syscall events/s aggregate ` +
      `(3 agents, ${expected.toLocaleString("en-US")} events in ${seconds.toFixed(2)} s, first to last event read by the agents; target ≥ 1,000,000)`,
  );
  console.log(
    `pipeline loss: ${expected - counted} of ${expected.toLocaleString("en-US")} events missing from the final profiles (${counted === expected ? "zero loss" : "LOSS"})`,
  );
  const tpMem = await Promise.all(agents.map((a) => peakRssMiB(a.pid)));
  console.log(
    `peak memory, throughput run: agents ${tpMem.map((m) => m.toFixed(0)).join(", ")} MiB; aggregator ${(await peakRssMiB(aggregator.pid)).toFixed(0)} MiB; nats-server ${(await peakRssMiB(server.pid)).toFixed(0)} MiB`,
  );
  for (const a of agents.splice(0)) await a.stop();

  // 2. Stop-to-profile latency with 10 agents.
  const small = await replayFile("replay-small.txt", 300);
  await startAgents(10, small.path, "lat");
  const latNodes = agents.map((a) => a.options.node);
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const id = `latency-${i}`;
    await startSession(id, latNodes);
    await eventually("every agent to send a batch", async () => {
      const statuses = await control(nc, "status", { sessionId: id }, latNodes.length);
      return statuses.length === latNodes.length &&
        statuses.every((s) => (s.sessions?.[0]?.eventsSeen ?? 0) > 0)
        ? true
        : undefined;
    });
    latencies.push(await stopSession(id, latNodes.length));
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
  console.log(
    `stop to final profile, 10 agents, 20 sessions: p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms (target p50 < 1,000 ms)`,
  );
  const latMem = await Promise.all(agents.map((a) => peakRssMiB(a.pid)));
  console.log(
    `peak memory, latency run: agents max ${Math.max(...latMem).toFixed(0)} MiB; aggregator ${(await peakRssMiB(aggregator.pid)).toFixed(0)} MiB; nats-server ${(await peakRssMiB(server.pid)).toFixed(0)} MiB`,
  );
} finally {
  for (const a of agents) await a.stop().catch(() => {});
  await aggregator.stop();
  await nc.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
