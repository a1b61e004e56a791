/**
 * Profile engine: merge throughput (observations per second on one core; target ≥ 2,000,000)
 * and the time to render 1,000 workloads × 300 syscalls to OCI JSON.
 */
import { performance } from "node:perf_hooks";
import { ObservationSet } from "../lib/profile/observations.ts";
import { sourceFromObservations } from "../lib/profile/profile-source.ts";
import { ociProfileJson, renderOciProfile } from "../lib/profile/render.ts";
import { syscallNames } from "../lib/syscalls/tables.ts";

const names = syscallNames("SCMP_ARCH_X86_64").slice(0, 300);
const WORKLOADS = 1000;
const NODES = ["node-a", "node-b", "node-c"];
const keys = Array.from({ length: WORKLOADS }, (_, i) => ({
  namespace: `ns-${i % 20}`,
  kind: "Deployment",
  name: `app-${i}`,
  container: "main",
}));

function mergeThroughput(total: number): number {
  const set = new ObservationSet();
  const workloads = keys.map((k) => set.workload(k));
  for (const wo of workloads) for (const n of NODES) wo.noteNode(n, "x86_64", 0);
  const start = performance.now();
  let count = 0;
  for (let i = 0; count < total; i++) {
    const wo = workloads[i % WORKLOADS]!;
    const node = NODES[i % 3]!;
    const name = names[(i * 7) % names.length]!;
    wo.observe(node, name, i, 1_700_000_000_000 + (i % 1000));
    count++;
  }
  return count / ((performance.now() - start) / 1000);
}

/** The aggregator's path: whole decoded batches of 1,000 events through ObservationSet.applyBatch. */
function batchMergeThroughput(batches: number): number {
  const prepared = Array.from({ length: 200 }, (_, b) => ({
    schemaVersion: 1 as const,
    kind: "batch" as const,
    session: "bench",
    node: NODES[b % 3]!,
    arch: "x86_64",
    seq: b + 1,
    sentAt: 0,
    droppedEvents: 0,
    workloads: Array.from({ length: 10 }, (_, w) => ({
      workload: keys[(b * 10 + w) % WORKLOADS]!,
      syscalls: Array.from({ length: 100 }, (_, s) => ({
        name: names[(s * 3 + b) % names.length]!,
        count: b + s,
        firstSeen: 1_700_000_000_000 + s,
      })),
    })),
  }));
  const set = new ObservationSet();
  const start = performance.now();
  let events = 0;
  for (let i = 0; i < batches; i++) events += set.applyBatch(prepared[i % prepared.length]!);
  return events / ((performance.now() - start) / 1000);
}

function renderTime(): { ms: number; bytes: number } {
  const set = new ObservationSet();
  for (const key of keys) {
    const wo = set.workload(key);
    wo.noteNode("node-a", "x86_64", 0);
    for (const name of names) wo.observe("node-a", name, 1, 1_700_000_000_000);
  }
  const start = performance.now();
  let bytes = 0;
  for (const wo of set.workloads.values()) {
    bytes += ociProfileJson(renderOciProfile(sourceFromObservations(wo, [])).profile).length;
  }
  return { ms: performance.now() - start, bytes };
}

mergeThroughput(2_000_000); // warm-up
const rates = [mergeThroughput(10_000_000), mergeThroughput(10_000_000), mergeThroughput(10_000_000)].sort(
  (a, b) => a - b,
);
console.log(
  `profile engine merge: ${Math.round(rates[1]!).toLocaleString("en-US")} observations/s on one core (median of 3 × 10M; target ≥ 2,000,000)`,
);
batchMergeThroughput(2_000); // warm-up
console.log(
  `profile engine batch merge: ${Math.round(batchMergeThroughput(10_000)).toLocaleString("en-US")} events/s on one core (ObservationSet.applyBatch, 1,000-event batches)`,
);
renderTime(); // warm-up
const render = renderTime();
console.log(
  `profile engine render: ${WORKLOADS} workloads × ${names.length} syscalls → OCI JSON in ${render.ms.toFixed(0)} ms (${(render.bytes / 1024 / 1024).toFixed(1)} MiB)`,
);
