/**
 * Aggregator memory under a flood from one node (issue 9): the real aggregator process, with its
 * default limits, while node-a sends a million distinct fake syscall names under a session that was
 * never started, a million more under a real session, 200,000 distinct argument tuples of a real
 * syscall and 5,000 workloads. Reported: the aggregator's RSS (sampled from /proc every 50 ms)
 * beside the same process's idle RSS measured first in this run, and the checkpoint's size.
 * Three runs, each with a fresh server and aggregator: median and spread. Target: peak RSS under 300 MiB.
 * The aggregator runs with the NODE_OPTIONS of the shipped Deployment, so the figure is what ships.
 *
 *   npx node bench/aggregator-flood.bench.ts [fakeNamesPerSession]
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { jetstream } from "@nats-io/jetstream";
import type { PubAck } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type {
  AggregatorStatus,
  EventMessage,
  SessionRecord,
  SyscallEventBatch,
} from "../lib/contracts/types.ts";
import { encodeEventMessage } from "../lib/nats/codec.ts";
import {
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_SESSIONS,
  batchMessageId,
  eventSubject,
} from "../lib/subjects.ts";
import { checkpointHeadKey } from "../services/aggregator/checkpoint.ts";
import { startAggregatorProcess } from "../test/helpers/aggregator-process.ts";
import { startNatsServer } from "../test/helpers/nats.ts";
import { formatSpread, ratio, spread } from "./stats.ts";

const TARGET_MIB = 300;
const FAKE_NAMES = Number(process.argv[2] ?? 1_000_000);
const TUPLES = 200_000;
const WORKLOADS = 5000;
const PER_BATCH = 4000;
const SESSION = "flooded";
const MiB = 1024 * 1024;
const RUNS = 3;
const DEPLOYMENT = fileURLToPath(
  new URL("../deploy/kustomize/base/aggregator/deployment.yaml", import.meta.url),
);

interface EnvVar {
  name: string;
  value?: string;
}

/** The NODE_OPTIONS the shipped aggregator Deployment sets, or "" when it sets none. */
async function shippedNodeOptions(): Promise<string> {
  const deployment = parseYaml(await readFile(DEPLOYMENT, "utf8")) as {
    spec: { template: { spec: { containers: Array<{ name: string; env?: EnvVar[] }> } } };
  };
  const container = deployment.spec.template.spec.containers.find((c) => c.name === "aggregator");
  return container?.env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "";
}
const NODE_OPTIONS = await shippedNodeOptions();

/** One flood against a fresh nats-server and aggregator. */
async function floodRun() {
  const server = await startNatsServer();
  const aggregator = await startAggregatorProcess({
    natsUrls: [server.url],
    extraArgs: ["--checkpoint-interval-ms", "500"],
    env: { NODE_OPTIONS },
  });
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const js = jetstream(nc);
  const record: SessionRecord = {
    schemaVersion: 1,
    id: SESSION,
    mode: "oneshot",
    state: "running",
    createdAt: new Date().toISOString(),
    expectedNodes: ["node-a", "node-b"],
    targets: {},
    profile: { argSyscalls: ["socket"] },
  };
  await (await new Kvm(js).open(BUCKET_SESSIONS)).put(SESSION, JSON.stringify(record));

  async function rss(): Promise<number> {
    const text = await readFile(`/proc/${aggregator.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(text)![1]) * 1024;
  }

  async function status(): Promise<AggregatorStatus> {
    return (await nc.request(AGGREGATOR_STATUS_SUBJECT, "", { timeout: 10_000 })).json<AggregatorStatus>();
  }

  await new Promise((r) => setTimeout(r, 2000));
  const idle = await rss();

  const seqs = new Map<string, number>();
  function batch(session: string, build: (b: SyscallEventBatch) => void): SyscallEventBatch {
    const seq = (seqs.get(session) ?? 0) + 1;
    seqs.set(session, seq);
    const b: SyscallEventBatch = {
      schemaVersion: 1,
      kind: "batch",
      session,
      node: "node-a",
      arch: "x86_64",
      seq,
      sentAt: Date.now(),
      droppedEvents: 0,
      workloads: [],
    };
    build(b);
    return b;
  }
  const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
  function* flood(): Generator<EventMessage> {
    for (const session of ["never-started", SESSION]) {
      for (let i = 0; i < FAKE_NAMES; i += PER_BATCH) {
        yield batch(session, (b) => {
          b.workloads.push({
            workload: web,
            syscalls: Array.from({ length: Math.min(PER_BATCH, FAKE_NAMES - i) }, (_, k) => ({
              name: `fake_${(i + k).toString(36)}`,
              count: 1,
              firstSeen: Date.now(),
            })),
          });
        });
      }
    }
    for (let i = 0; i < TUPLES; i += PER_BATCH) {
      yield batch(SESSION, (b) => {
        b.workloads.push({
          workload: web,
          syscalls: Array.from({ length: PER_BATCH }, (_, k) => ({
            name: "socket",
            count: 1,
            firstSeen: Date.now(),
            args: [String(i + k)],
          })),
        });
      });
    }
    for (let i = 0; i < WORKLOADS; i += 500) {
      yield batch(SESSION, (b) => {
        for (let w = i; w < i + 500; w++) {
          b.workloads.push({
            workload: { namespace: "flood", kind: "Pod", name: `p-${w}`, container: "c" },
            syscalls: [{ name: "read", count: 1, firstSeen: Date.now() }],
          });
        }
      });
    }
  }

  let peak = idle;
  const sampler = setInterval(() => {
    void rss().then((v) => (peak = Math.max(peak, v)));
  }, 50);
  const start = performance.now();
  let sent = 0;
  const inflight = new Set<Promise<PubAck>>();
  for (const m of flood()) {
    const p = js.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
      msgID: batchMessageId(m.session, m.node, m.kind === "batch" ? m.seq : 0),
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= 32) await Promise.race(inflight);
    sent++;
  }
  await Promise.all(inflight);
  const published = performance.now();
  let last: AggregatorStatus;
  for (;;) {
    last = await status();
    const total = (last.badBatches ?? 0) + (last.refused?.unknownSession ?? 0);
    const merged = last.sessions.find((s) => s.session === SESSION)?.batchesMerged ?? 0;
    if (merged + total >= sent) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const consumed = performance.now();
  await new Promise((r) => setTimeout(r, 1500));
  clearInterval(sampler);
  const after = await rss();
  peak = Math.max(peak, after);
  const head = await (await new Kvm(js).open(BUCKET_AGGREGATOR_STATE)).get(checkpointHeadKey(0));
  const checkpointBytes = head === null ? 0 : head.json<{ bytes: number }>().bytes;
  const s = last.sessions.find((x) => x.session === SESSION)!;
  const nodeA = s.nodes.find((n) => n.name === "node-a")!;

  await aggregator.stop();
  await nc.close();
  await server.stop();
  return {
    idle,
    peak,
    after,
    sent,
    published: published - start,
    consumed: consumed - start,
    last,
    s,
    nodeA,
    checkpointBytes,
  };
}

const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await floodRun());
const { sent, published, consumed, last, s, nodeA, checkpointBytes } = runs[runs.length - 1]!;
const idle = spread(runs.map((r) => r.idle / MiB));
const peak = spread(runs.map((r) => r.peak / MiB));
const after = spread(runs.map((r) => r.after / MiB));

console.log(`aggregator RSS while node-a floods (default limits)`);
console.log(`  aggregator NODE_OPTIONS from the shipped Deployment: ${NODE_OPTIONS || "(none)"}`);
console.log(
  `  flood: ${sent} batches: ${FAKE_NAMES.toLocaleString("en")} fake names under a never-started session and ` +
    `${FAKE_NAMES.toLocaleString("en")} under a real one, ${TUPLES.toLocaleString("en")} socket tuples, ${WORKLOADS} workloads`,
);
console.log(
  `  published in ${(published / 1000).toFixed(1)} s, consumed after ${(consumed / 1000).toFixed(1)} s (last of ${RUNS} runs, each with a fresh server and aggregator)`,
);
console.log(
  `  refused: ${last.refused?.unknownSession} messages of unknown sessions, ${s.refused?.unknownSyscall.toLocaleString("en")} unknown names, ` +
    `${s.refused?.overLimit.toLocaleString("en")} events over a limit`,
);
console.log(
  `  kept: ${(s.tuples ?? 0).toLocaleString("en")} count entries, ${nodeA.workloads} workloads from node-a (limited: ${nodeA.limited}); checkpoint ${(checkpointBytes / 1e6).toFixed(1)} MB`,
);
console.log(`  baseline (idle aggregator, same run): ${formatSpread(idle, "MiB")}`);
console.log(
  `  peak RSS during the flood: ${formatSpread(peak, "MiB")}; after: ${formatSpread(after, "MiB")}`,
);
console.log(
  `  peak / idle: ${ratio(peak, idle)}; target peak < ${TARGET_MIB} MiB (median): ${peak.median < TARGET_MIB ? "met" : "NOT met"}`,
);
