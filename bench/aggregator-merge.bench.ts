/**
 * Merge throughput of the aggregator, end to end, beside the stages it is built from, all measured in
 * the same run on the same stream. SC_EVENTS on a real nats-server is filled with realistic batches
 * (3 nodes, 2,000 events per batch over 20 workload containers, cumulative counts, socket argument
 * tuples) and a session record asking for the stop; then, in each of 3 repetitions (a fresh server
 * each):
 * - raw consume: a plain durable pull consumer reads and acks every message, nothing else (NATS alone);
 * - the aggregator starts and is timed until it has decoded, validated and merged every event.
 * Offline, on the same encoded batches: decode + validate alone, and decode + validate + merge.
 * Targets: end-to-end ≥ 0.5× raw consume (the aggregator may cost at most as much again as NATS
 * itself) and the absolute ≥ 1,000,000 events/s; the slowest stage is named.
 *
 *   npx node bench/aggregator-merge.bench.ts [batchesPerNode]
 */
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { PubAck } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { decodeEventMessage, encodeEventMessage } from "../lib/nats/codec.ts";
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
import { sessionRecord } from "../test/helpers/cluster.ts";
import { startNatsServer } from "../test/helpers/nats.ts";
import { cpuSeconds, formatSpread, interleave, ratio, spread, type Spread } from "./stats.ts";

const TARGET_EVENTS_PER_SECOND = 1_000_000;
const RUNS = Number(process.env.MERGE_RUNS ?? 3);
/** What the aggregator asks per pull (services/aggregator/message-intake.ts), so raw consume pulls alike. */
const PULL_MAX_BYTES = 4 * 1024 * 1024;
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
const encoded = [...recordingBatches(spec)].map((b) => encodeEventMessage(b));
const encodedFins = recordingFins(spec).map((f) => encodeEventMessage(f));
const bytes = encoded.reduce((n, d) => n + d.length, 0);

const until = async (done: () => Promise<boolean>) => {
  while (!(await done())) await new Promise((r) => setTimeout(r, 2));
};

interface Run {
  fillSeconds: number;
  rawConsume: number;
  endToEnd: number;
  startMs: number;
  finaliseSeconds: number;
}

async function oneRun(): Promise<Run> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureEventStream(jsm, { maxBytes: -1 });
    const fillStart = performance.now();
    const inflight = new Set<Promise<PubAck>>();
    const batches = recordingBatches(spec);
    for (let i = 0; i < encoded.length; i++) {
      const batch = batches.next().value!;
      const p = js.publish(eventSubject(0, batch.session, batch.node), encoded[i]!, {
        msgID: batchMessageId(batch.session, batch.node, batch.seq),
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 64) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    for (const [i, node] of spec.nodes.entries())
      await js.publish(eventSubject(0, spec.session, node), encodedFins[i]!, {
        msgID: finMessageId(spec.session, node),
      });
    const fillSeconds = (performance.now() - fillStart) / 1000;
    // The session exists and was asked to stop, as `seccompose stop` leaves it.
    const sessions = await ensureKv(js, BUCKET_SESSIONS);
    const now = Date.now();
    await sessions.put(
      spec.session,
      JSON.stringify(
        sessionRecord(spec.session, {
          state: "stopping",
          expectedNodes: [...spec.nodes],
          stopRequestedAt: new Date(now).toISOString(),
          stopDeadline: new Date(now + 600_000).toISOString(),
        }),
      ),
    );

    // NATS alone: a durable pull consumer that reads and acks every message.
    await jsm.consumers.add(STREAM_EVENTS, { durable_name: "bench_raw", ack_policy: AckPolicy.Explicit });
    const rawStart = performance.now();
    const messages = await (
      await js.consumers.get(STREAM_EVENTS, "bench_raw")
    ).consume({
      max_bytes: PULL_MAX_BYTES,
    });
    let read = 0;
    for await (const m of messages) {
      m.ack();
      if (++read === totalBatches + spec.nodes.length) break;
    }
    const rawConsume = totalEvents / ((performance.now() - rawStart) / 1000);
    await messages.close();
    await jsm.consumers.delete(STREAM_EVENTS, "bench_raw");

    const metrics = createMetrics();
    const start = performance.now();
    const aggregator = await startAggregator({
      config: { nats: { servers: [server.url] }, stream: { maxBytes: -1 } },
      logger: pino({ level: "warn" }),
      metrics,
    });
    const started = performance.now();
    await until(async () => ((await metrics.eventsMerged.get()).values[0]?.value ?? 0) >= totalEvents);
    const mergedAt = performance.now();
    await until(
      async () => (await metrics.sessionsFinalised.get()).values.reduce((n, v) => n + v.value, 0) >= 1,
    );
    const finalisedAt = performance.now();
    await aggregator.stop();
    return {
      fillSeconds,
      rawConsume,
      endToEnd: totalEvents / ((mergedAt - start) / 1000),
      startMs: started - start,
      finaliseSeconds: (finalisedAt - start) / 1000,
    };
  } finally {
    await nc.close();
    await server.stop();
  }
}

const runs: Run[] = [];
for (let i = 0; i < RUNS; i++) runs.push(await oneRun());
const rawConsume = spread(runs.map((r) => r.rawConsume));
const endToEnd = spread(runs.map((r) => r.endToEnd));

// The same messages without NATS, one thread, CPU time: decode + validate, then also merge.
const sample = encoded.slice(0, 300);
const sampleEvents = sample.reduce((n, data) => {
  const m = decodeEventMessage(data, "bench");
  return n + (m.kind === "batch" ? m.workloads.reduce((k, w) => k + w.syscalls.length, 0) : 0);
}, 0);
const decodeOnly = () =>
  (3 * sampleEvents) /
  cpuSeconds(() => {
    for (let round = 0; round < 3; round++) for (const data of sample) decodeEventMessage(data, "bench");
  });
// Each round merges into a fresh state holding the running session, so every batch is merged
// (not refused as of an unknown session, not skipped as a duplicate).
const runningSession = sessionRecord(spec.session, { expectedNodes: [...spec.nodes] });
const decodeAndMerge = () => {
  let notMerged = 0;
  const rate =
    (3 * sampleEvents) /
    cpuSeconds(() => {
      for (let round = 0; round < 3; round++) {
        const state = new AggregatorState(() => 0);
        state.setRecord(runningSession);
        for (const data of sample) {
          const outcome = state.apply(decodeEventMessage(data, "bench"));
          if (!outcome.fresh || outcome.refused !== undefined) notMerged++;
        }
      }
    });
  if (notMerged > 0) throw new Error(`offline merge: ${notMerged} messages were not merged`);
  return rate;
};
decodeOnly();
decodeAndMerge();
const [decode, merge] = await interleave(5, [decodeOnly, decodeAndMerge]);

const stages: [string, Spread][] = [
  ["NATS (raw consume)", rawConsume],
  ["decode + validate", decode!],
  ["decode + validate + merge", merge!],
];
const slowest = stages.reduce((a, b) => (b[1].median < a[1].median ? b : a));
const med = (xs: number[]) => spread(xs).median;
console.log(
  `aggregator merge throughput (${spec.nodes.length} nodes, ${spec.workloads} workloads, ${RUNS} runs)`,
);
console.log(
  `  stream: ${totalBatches} batches, ${totalEvents.toLocaleString("en")} events, ${(bytes / 1e6).toFixed(1)} MB; ` +
    `${spec.workloads * spec.eventsPerWorkload} events and ${Math.round(bytes / totalBatches)} bytes per batch; filled in ${med(runs.map((r) => r.fillSeconds)).toFixed(2)} s`,
);
console.log(`  end-to-end merge (aggregator)       ${formatSpread(endToEnd, "events/s")}`);
console.log(`  raw consume of the same stream      ${formatSpread(rawConsume, "events/s")}`);
console.log(`  decode + validate alone (CPU time)  ${formatSpread(decode!, "events/s")}`);
console.log(`  decode + validate + merge (CPU)     ${formatSpread(merge!, "events/s")}`);
console.log(`  end-to-end / raw consume: ${ratio(endToEnd, rawConsume, { atLeast: 0.5 })}`);
console.log(`  end-to-end / decode + validate + merge: ${ratio(endToEnd, merge!)}`);
console.log(
  `  absolute target ≥ ${TARGET_EVENTS_PER_SECOND.toLocaleString("en")} events/s: ${endToEnd.median >= TARGET_EVENTS_PER_SECOND ? "met" : "NOT met"}; slowest stage: ${slowest[0]}`,
);
console.log(
  `  aggregator start (connect, assets, consumer): ${med(runs.map((r) => r.startMs)).toFixed(0)} ms; session finalised ${med(runs.map((r) => r.finaliseSeconds)).toFixed(2)} s after start`,
);
