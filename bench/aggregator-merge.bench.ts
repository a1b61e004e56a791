/**
 * Merge throughput of the aggregator, end to end. SC_EVENTS on a real nats-server is filled first
 * with realistic batches (3 nodes, 2,000 events per batch over 20 workload containers, cumulative
 * counts, socket argument tuples); then the aggregator starts and is timed until it has decoded,
 * validated and merged every event (and finalised the session). Target: >= 1,000,000 events/s.
 *
 *   npx node bench/aggregator-merge.bench.ts [batchesPerNode]
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { PubAck } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { decodeEventMessage, encodeEventMessage } from "../lib/nats/codec.ts";
import type { SessionRecord } from "../lib/contracts/types.ts";
import { ensureEventStream, ensureKv } from "../lib/nats/streams.ts";
import {
  BUCKET_SESSIONS,
  STREAM_EVENTS,
  batchMessageId,
  eventSubject,
  finMessageId,
} from "../lib/subjects.ts";
import { startAggregator } from "../services/aggregator/aggregator.ts";
import { createMetrics } from "../services/aggregator/metrics.ts";
import {
  recordingBatches,
  recordingEvents,
  recordingFins,
} from "../services/aggregator/recording-fixture.ts";
import type { RecordingSpec } from "../services/aggregator/recording-fixture.ts";
import { AggregatorState } from "../services/aggregator/session-state.ts";
import { startNatsServer } from "../test/helpers/nats.ts";

const TARGET_EVENTS_PER_SECOND = 1_000_000;
const spec: RecordingSpec = {
  session: "bench-merge",
  nodes: ["node-a", "node-b", "node-c"],
  batchesPerNode: Number(process.argv[2] ?? 400),
  workloads: 20,
  eventsPerWorkload: 100,
  syscallsPerWorkload: 120,
};
const totalEvents = recordingEvents(spec);
const totalBatches = spec.nodes.length * spec.batchesPerNode;

const server = await startNatsServer();
const nc = await connect({ servers: server.url, noAsyncTraces: true });
const js = jetstream(nc);
await ensureEventStream(await jetstreamManager(nc), { maxBytes: -1 });

// The aggregator merges data only of a session with a record, from its nodes, once asked to stop.
const record: SessionRecord = {
  schemaVersion: 1,
  id: spec.session,
  mode: "oneshot",
  state: "stopping",
  createdAt: new Date().toISOString(),
  stopDeadline: new Date(Date.now() + 3_600_000).toISOString(),
  expectedNodes: [...spec.nodes],
  targets: {},
  profile: { argSyscalls: ["socket"] },
};
await (await ensureKv(js, BUCKET_SESSIONS)).put(spec.session, JSON.stringify(record));

let bytes = 0;
const fillStart = performance.now();
const inflight = new Set<Promise<PubAck>>();
for (const batch of recordingBatches(spec)) {
  const data = encodeEventMessage(batch);
  bytes += data.length;
  const p = js.publish(eventSubject(batch.session, batch.node), data, {
    msgID: batchMessageId(batch.session, batch.node, batch.seq),
  });
  inflight.add(p);
  void p.finally(() => inflight.delete(p));
  if (inflight.size >= 64) await Promise.race(inflight);
}
for (const fin of recordingFins(spec)) {
  await js.publish(eventSubject(fin.session, fin.node), encodeEventMessage(fin), {
    msgID: finMessageId(fin.session, fin.node),
  });
}
await Promise.all(inflight);
const fillSeconds = (performance.now() - fillStart) / 1000;
const stream = await (await jetstreamManager(nc)).streams.info(STREAM_EVENTS);

const metrics = createMetrics();
const start = performance.now();
const aggregator = await startAggregator({
  config: { nats: { servers: [server.url] }, stream: { maxBytes: -1 } },
  logger: pino({ level: "warn" }),
  metrics,
});
const started = performance.now();
const merged = async () => (await metrics.eventsMerged.get()).values[0]?.value ?? 0;
const finalised = async () => (await metrics.sessionsFinalised.get()).values.reduce((n, v) => n + v.value, 0);
while ((await merged()) < totalEvents) await new Promise((r) => setTimeout(r, 2));
const mergedAt = performance.now();
while ((await finalised()) < 1) await new Promise((r) => setTimeout(r, 2));
const finalisedAt = performance.now();
await aggregator.stop();
await nc.close();
await server.stop();

// The same decode + validate + merge without NATS, for comparison.
const encoded = [...recordingBatches(spec)].slice(0, 300).map((b) => encodeEventMessage(b));
const state = new AggregatorState(() => 0);
state.setRecord(record);
const cpuStart = performance.now();
let cpuEvents = 0;
for (let round = 0; round < 3; round++) {
  for (const data of encoded) {
    const m = decodeEventMessage(data, "bench");
    state.apply(m);
    if (m.kind === "batch") for (const w of m.workloads) cpuEvents += w.syscalls.length;
  }
}
const cpuSeconds = (performance.now() - cpuStart) / 1000;

const seconds = (mergedAt - start) / 1000;
const rate = totalEvents / seconds;
console.log(`aggregator merge throughput (${spec.nodes.length} nodes, ${spec.workloads} workloads)`);
console.log(
  `  stream filled: ${totalBatches} batches, ${totalEvents.toLocaleString("en")} events, ` +
    `${(bytes / 1e6).toFixed(1)} MB (${(stream.state.bytes / 1e6).toFixed(1)} MB stored) in ${fillSeconds.toFixed(2)} s`,
);
console.log(
  `  events per batch: ${spec.workloads * spec.eventsPerWorkload}, bytes per batch: ${Math.round(bytes / totalBatches)}`,
);
console.log(`  aggregator start (connect, assets, consumer): ${(started - start).toFixed(0)} ms`);
console.log(`  all events merged after: ${seconds.toFixed(2)} s from start`);
console.log(`  session finalised after: ${((finalisedAt - start) / 1000).toFixed(2)} s from start`);
console.log(
  `  end-to-end merge rate: ${Math.round(rate).toLocaleString("en")} events/s ` +
    `(${(bytes / 1e6 / seconds).toFixed(1)} MB/s); target >= ${TARGET_EVENTS_PER_SECOND.toLocaleString("en")}: ` +
    `${rate >= TARGET_EVENTS_PER_SECOND ? "met" : "NOT met"}`,
);
console.log(
  `  decode + validate + merge alone (no NATS, one thread): ${Math.round(cpuEvents / cpuSeconds).toLocaleString("en")} events/s`,
);
