/**
 * Finalisation latency of the aggregator: for each of 20 one-shot sessions (3 nodes, 8 workload
 * containers), every batch and all but the last FIN are merged first; then the clock runs from
 * publishing the last FIN until every final profile is in KV sc_profiles (seen by a KV watch) and
 * until the session's finalised event arrives. Target: p50 < 200 ms. Baseline in the same run: the
 * floor of any finalisation, a FIN published to the stream plus the same number of documents of the
 * same size put into a KV bucket and seen by a KV watch, with nothing merged or rendered.
 *
 *   npx node bench/aggregator-finalise.bench.ts [sessions]
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import type { EventMessage, SessionRecord } from "../lib/contracts/types.ts";
import { encodeEventMessage } from "../lib/nats/codec.ts";
import { workloadToken } from "../lib/profile/workload-key.ts";
import {
  AGGREGATOR_STATUS_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  batchMessageId,
  eventSubject,
  finMessageId,
  profileKey,
} from "../lib/subjects.ts";
import { startAggregator } from "../services/aggregator/aggregator.ts";
import { createMetrics } from "../services/aggregator/metrics.ts";
import { statusEventSubject } from "../lib/subjects.ts";
import { fixtureWorkload, syntheticRecording } from "../services/aggregator/recording-fixture.ts";
import { startNatsServer } from "../test/helpers/nats.ts";
import { percentile, ratio } from "./stats.ts";

const TARGET_P50_MS = 200;
const SESSIONS = Number(process.argv[2] ?? 20);
const NODES = ["node-a", "node-b", "node-c"];
const WORKLOADS = 8;

const server = await startNatsServer();
const aggregator = await startAggregator({
  config: { nats: { servers: [server.url] } },
  logger: pino({ level: "warn" }),
  metrics: createMetrics(),
});
const nc = await connect({ servers: server.url, noAsyncTraces: true });
const js = jetstream(nc);
const sessions = await new Kvm(js).open(BUCKET_SESSIONS);
const profiles = await new Kvm(js).open(BUCKET_PROFILES);

async function publish(client: JetStreamClient, m: EventMessage): Promise<void> {
  await client.publish(eventSubject(0, m.session, m.node), encodeEventMessage(m), {
    msgID: m.kind === "batch" ? batchMessageId(m.session, m.node, m.seq) : finMessageId(m.session, m.node),
  });
}

async function mergedBatches(session: string): Promise<number> {
  const reply = await nc.request(AGGREGATOR_STATUS_SUBJECT, JSON.stringify({ session }), { timeout: 5000 });
  return reply.json<{ sessions: { batchesMerged: number }[] }>().sessions[0]?.batchesMerged ?? 0;
}

const toProfiles: number[] = [];
const toEvent: number[] = [];
for (let i = 0; i < SESSIONS; i++) {
  const session = `bench-fin-${i}`;
  const record: SessionRecord = {
    schemaVersion: 1,
    id: session,
    mode: "oneshot",
    state: "stopping",
    createdAt: new Date().toISOString(),
    expectedNodes: NODES,
    targets: {},
    profile: { argSyscalls: ["socket"] },
  };
  await sessions.put(session, JSON.stringify(record));
  const rec = syntheticRecording({
    session,
    nodes: NODES,
    batchesPerNode: 10,
    workloads: WORKLOADS,
    eventsPerWorkload: 100,
    syscallsPerWorkload: 150,
    seed: i + 1,
  });
  for (const m of [...rec.batches, ...rec.fins.slice(0, -1)]) await publish(js, m);
  while ((await mergedBatches(session)) < rec.batches.length) await new Promise((r) => setTimeout(r, 5));

  const keys = new Set(
    Array.from({ length: WORKLOADS }, (_, w) => profileKey(session, workloadToken(fixtureWorkload(w)))),
  );
  const watch = await profiles.watch({ key: `${session}.>`, include: "updates" });
  const finalised = nc.subscribe(statusEventSubject(session), { max: 1 });
  const start = performance.now();
  const profilesStored = (async () => {
    for await (const e of watch) {
      keys.delete(e.key);
      if (keys.size === 0) break;
    }
    return performance.now() - start;
  })();
  const eventSeen = (async () => {
    for await (const _ of finalised) break;
    return performance.now() - start;
  })();
  await publish(js, rec.fins[rec.fins.length - 1]!);
  toProfiles.push(await profilesStored);
  toEvent.push(await eventSeen);
  watch.stop();
}

// The floor: one stream publish, then WORKLOADS KV puts of documents as large as the real ones, seen by a watch.
const documentBytes = await (async () => {
  let total = 0;
  let n = 0;
  for await (const key of await profiles.keys("bench-fin-0.>")) {
    total += (await profiles.get(key))!.value.length;
    n++;
  }
  return Math.round(total / n);
})();
const floorBucket = await new Kvm(js).create("bench_floor");
// A stream of its own: the aggregator would (rightly) reject these bytes on SC_EVENTS.
await (await jetstreamManager(nc)).streams.add({ name: "BENCH_FLOOR", subjects: ["bench.floor.>"] });
const document = "x".repeat(documentBytes);
const floor: number[] = [];
for (let i = 0; i < SESSIONS; i++) {
  const watch = await floorBucket.watch({ key: `s${i}.>`, include: "updates" });
  const start = performance.now();
  const seen = (async () => {
    let left = WORKLOADS;
    for await (const _ of watch) if (--left === 0) break;
    return performance.now() - start;
  })();
  await js.publish(`bench.floor.${i}`, new Uint8Array(64));
  await Promise.all(Array.from({ length: WORKLOADS }, (_, w) => floorBucket.put(`s${i}.w${w}`, document)));
  floor.push(await seen);
  watch.stop();
}

await aggregator.stop();
await nc.close();
await server.stop();

const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const fmt = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
};
console.log(
  `aggregator finalisation latency over ${SESSIONS} sessions (${NODES.length} nodes, ${WORKLOADS} workloads each)`,
);
console.log(`  last FIN published -> all final profiles in KV: ${fmt(toProfiles)}`);
console.log(`  last FIN published -> finalised event received: ${fmt(toEvent)}`);
console.log(
  `  floor: stream publish + ${WORKLOADS} KV puts of ${documentBytes} B seen by a watch: ${fmt(floor)}`,
);
console.log(
  `  profiles p50 / floor p50: ${ratio(p50(toProfiles), p50(floor), { atMost: 10 })}; absolute target p50 < ${TARGET_P50_MS} ms: ${p50(toProfiles) < TARGET_P50_MS ? "met" : "NOT met"}`,
);
