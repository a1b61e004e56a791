/**
 * The whole pipeline on one machine: stand-in Falco → agents → JetStream → aggregator → profile.
 * 1. Throughput: 3 agents each replay real Falco alerts as fast as they can; reports the syscall
 *    events per second from the first to the last event the agents read, and checks the final
 *    profiles count every one of them (zero loss); median of 3 sessions. Baseline in the same run:
 *    the same alert bytes published raw to JetStream by 3 publishers and consumed by one reader
 *    that only counts lines (the prototype's way: every event over the wire, nothing decoded).
 *    Targets: ≥ 1× the raw baseline (edge aggregation must beat shipping the bytes), and the
 *    absolute ≥ 1,000,000 events/s.
 * 2. Stop-to-profile latency with 10 agents over 20 sessions: p50 and p99 (target p50 < 1 s).
 * 3. Peak memory (VmHWM) of every process.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { AckPolicy, jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
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
import { formatSpread, percentile, ratio, spread } from "./stats.ts";

const LINES_PER_AGENT = Number(process.env.PIPELINE_LINES ?? 1_000_000);
const RUNS = 3;
const RAW_CHUNK_BYTES = 64 * 1024;

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

/** One throughput session: events/s from the first to the last event the agents read, and the loss check. */
async function throughputRun(
  id: string,
  syscallsPerAgent: number,
): Promise<{ rate: number; missing: number }> {
  const readSoFar = async () => (await health()).reduce((n, h) => n + h.counters.alertsRead!, 0);
  const before = await readSoFar();
  const nodes = agents.map((a) => a.options.node);
  const expected = syscallsPerAgent * agents.length;
  await startSession(id, nodes);
  // Sustained rate: from the first event any agent read to the last, sampled every 100 ms.
  let first: number | undefined;
  await eventually(
    "every agent to read its replay",
    async () => {
      const read = (await readSoFar()) - before;
      if (read > 0) first ??= performance.now();
      return read >= LINES_PER_AGENT * agents.length ? true : undefined;
    },
    600_000,
    100,
  );
  const seconds = (performance.now() - first!) / 1000;
  await stopSession(id, agents.length);
  // Profiles also count the never-returning syscalls the agents add (count 0), so totals compare exactly.
  return { rate: expected / seconds, missing: expected - (await profileTotals(id)) };
}

/**
 * The baseline: the same replay bytes published raw to JetStream by 3 publishers (64 KiB line-aligned
 * chunks, 64 publishes in flight, as the agents publish) and consumed by one reader counting lines.
 * Returns syscall events/s: lines/s scaled by the share of lines that are syscall events.
 */
async function rawRun(path: string, syscallShare: number, run: number): Promise<number> {
  const text = await readFile(path, "utf8");
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + RAW_CHUNK_BYTES);
    if (end < text.length) end = text.lastIndexOf("\n", end) + 1;
    chunks.push(Buffer.from(text.slice(at, end)));
    at = end;
  }
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_RAW_${run}`;
  await jsm.streams.add({ name: stream, subjects: [`raw${run}.>`], max_bytes: -1 });
  await jsm.consumers.add(stream, { durable_name: "reader", ack_policy: AckPolicy.Explicit });
  const publishers = await Promise.all([0, 1, 2].map(() => connect({ servers: server.url })));
  const start = performance.now();
  const consumed = (async () => {
    const messages = await (
      await jetstream(nc).consumers.get(stream, "reader")
    ).consume({
      max_bytes: 4 * 1024 * 1024,
    });
    let lines = 0;
    let seen = 0;
    for await (const m of messages) {
      for (const byte of m.data) if (byte === 10) lines++;
      m.ack();
      if (++seen === chunks.length * publishers.length) break;
    }
    await messages.close();
    return lines;
  })();
  await Promise.all(
    publishers.map(async (pnc, p) => {
      const js = jetstream(pnc);
      const inflight = new Set<Promise<PubAck>>();
      for (const chunk of chunks) {
        const ack = js.publish(`raw${run}.node-${p}`, chunk);
        inflight.add(ack);
        void ack.finally(() => inflight.delete(ack));
        if (inflight.size >= 64) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }),
  );
  const lines = await consumed;
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(publishers.map((pnc) => pnc.close()));
  await jsm.streams.delete(stream);
  return (lines * syscallShare) / seconds;
}

try {
  // 1. Throughput with 3 agents, beside raw publish/consume of the same bytes.
  const big = await replayFile("replay-big.txt", LINES_PER_AGENT);
  await startAgents(3, big.path, "tp");
  const rates: number[] = [];
  const raw: number[] = [];
  let missing = 0;
  for (let run = 0; run < RUNS; run++) {
    const result = await throughputRun(`throughput-${run}`, big.syscalls);
    rates.push(result.rate);
    missing += result.missing;
    raw.push(await rawRun(big.path, big.syscalls / LINES_PER_AGENT, run));
  }
  const pipeline = spread(rates);
  const rawBaseline = spread(raw);
  const expected = big.syscalls * agents.length * RUNS;
  console.log(
    `pipeline throughput (3 agents, ${(big.syscalls * 3).toLocaleString("en-US")} syscall events per session, first to last event read): ${formatSpread(pipeline, "events/s")}`,
  );
  console.log(
    `raw publish/consume of the same alert bytes (3 publishers, 1 reader): ${formatSpread(rawBaseline, "events/s")}`,
  );
  console.log(
    `  pipeline / raw: ${ratio(pipeline, rawBaseline, { atLeast: 1 })}; absolute target ≥ 1,000,000: ${pipeline.median >= 1_000_000 ? "met" : "NOT met"}`,
  );
  console.log(
    `pipeline loss: ${missing} of ${expected.toLocaleString("en-US")} events missing from the final profiles over ${RUNS} sessions (${missing === 0 ? "zero loss" : "LOSS"})`,
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
  // The floor of any stop: one scatter-gather round trip to the same 10 agents.
  const roundTrips: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await health();
    roundTrips.push(performance.now() - t0);
  }
  roundTrips.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  console.log(
    `stop to final profile, 10 agents, 20 sessions: p50 ${p50.toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms (target p50 < 1,000 ms: ${p50 < 1000 ? "met" : "NOT met"})`,
  );
  console.log(
    `scatter-gather health round trip to the same 10 agents: p50 ${percentile(roundTrips, 50).toFixed(1)} ms, p99 ${percentile(roundTrips, 99).toFixed(1)} ms`,
  );
  console.log(`  stop-to-profile p50 / round-trip p50: ${ratio(p50, percentile(roundTrips, 50))}`);
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
