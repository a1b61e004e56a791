/**
 * Profile engine, each figure beside a baseline measured in the same run (median of 5, CPU time):
 * - merge throughput (observations per second on one core) against a naive merge of the same
 *   observations into a Map keyed by workload|node|syscall (max count, min first-seen), which has
 *   none of the engine's structure; target ≥ 1× the naive merge (absolute target: ≥ 2,000,000/s);
 * - the aggregator's batch path (ObservationSet.applyBatch), against the same naive merge;
 * - rendering 1,000 workloads × 300 syscalls to OCI JSON, against serialising the very profiles it
 *   built (the floor: nothing left to decide).
 */
import { cpuSeconds, formatSpread, interleave, ratio } from "./stats.ts";
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
  return (
    total /
    cpuSeconds(() => {
      for (let i = 0; i < total; i++) {
        const wo = workloads[i % WORKLOADS]!;
        const node = NODES[i % 3]!;
        const name = names[(i * 7) % names.length]!;
        wo.observe(node, name, i, 1_700_000_000_000 + (i % 1000));
      }
    })
  );
}

interface NaiveEntry {
  count: number;
  firstSeen: number;
}

/** The baseline: the same observations into one Map keyed by workload|node|syscall. */
function naiveMergeThroughput(total: number): number {
  const map = new Map<string, NaiveEntry>();
  const workloadIds = keys.map((k) => `${k.namespace}/${k.kind}/${k.name}/${k.container}`);
  return (
    total /
    cpuSeconds(() => {
      for (let i = 0; i < total; i++) {
        const key = `${workloadIds[i % WORKLOADS]!}|${NODES[i % 3]!}|${names[(i * 7) % names.length]!}`;
        const firstSeen = 1_700_000_000_000 + (i % 1000);
        const entry = map.get(key);
        if (entry === undefined) map.set(key, { count: i, firstSeen });
        else {
          if (i > entry.count) entry.count = i;
          if (firstSeen < entry.firstSeen) entry.firstSeen = firstSeen;
        }
      }
    })
  );
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
  let events = 0;
  const seconds = cpuSeconds(() => {
    for (let i = 0; i < batches; i++) events += set.applyBatch(prepared[i % prepared.length]!);
  });
  return events / seconds;
}

const renderSet = new ObservationSet();
for (const key of keys) {
  const wo = renderSet.workload(key);
  wo.noteNode("node-a", "x86_64", 0);
  for (const name of names) wo.observe("node-a", name, 1, 1_700_000_000_000);
}
const renderedProfiles = [...renderSet.workloads.values()].map(
  (wo) => renderOciProfile(sourceFromObservations(wo, [])).profile,
);
const renderedBytes = renderedProfiles.reduce((n, p) => n + ociProfileJson(p).length, 0);

function renderMs(): number {
  return (
    1000 *
    cpuSeconds(() => {
      for (const wo of renderSet.workloads.values())
        ociProfileJson(renderOciProfile(sourceFromObservations(wo, [])).profile);
    })
  );
}

/** The floor of rendering: serialising the very profiles the engine built, with nothing to decide. */
function stringifyMs(): number {
  return 1000 * cpuSeconds(() => renderedProfiles.forEach((p) => ociProfileJson(p)));
}

mergeThroughput(2_000_000); // warm-up
naiveMergeThroughput(2_000_000);
const [merge, naiveMerge] = await interleave(5, [
  () => mergeThroughput(5_000_000),
  () => naiveMergeThroughput(5_000_000),
]);
console.log(`profile engine merge:  ${formatSpread(merge!, "observations/s")}, one core`);
console.log(`naive Map merge:       ${formatSpread(naiveMerge!, "observations/s")}`);
console.log(
  `  engine / naive: ${ratio(merge!, naiveMerge!, { atLeast: 1 })}; absolute target ≥ 2,000,000/s: ${merge!.median >= 2_000_000 ? "met" : "NOT met"}`,
);
batchMergeThroughput(2_000); // warm-up
const [batch] = await interleave(5, [() => batchMergeThroughput(5_000)]);
console.log(
  `profile engine batch merge (ObservationSet.applyBatch, 1,000-event batches): ${formatSpread(batch!, "events/s")}`,
);
console.log(`  batch merge / naive Map merge: ${ratio(batch!, naiveMerge!, { atLeast: 1 })}`);
renderMs(); // warm-up
stringifyMs();
const [render, floor] = await interleave(5, [renderMs, stringifyMs]);
console.log(
  `profile engine render: ${WORKLOADS} workloads × ${names.length} syscalls → OCI JSON: ${formatSpread(render!, "ms", 1)} (${(renderedBytes / 1024 / 1024).toFixed(1)} MiB)`,
);
console.log(`serialising the same profiles alone: ${formatSpread(floor!, "ms", 1)}`);
console.log(
  `  render / serialise: ${ratio(render!, floor!)} (no target: rendering runs once per finalised workload)`,
);
