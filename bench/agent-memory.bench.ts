/**
 * Agent memory at scale: one session's NoveltyTracker holding 10,000 containers × 100 distinct
 * syscalls (1,000,000 tuples), filled through its record path the way the session manager calls
 * it for each alert. Prints RSS and heap used after a forced GC beside the bare process measured
 * first (targets: ≤ 64 bytes per tuple over the bare process, and the absolute RSS under 150 MiB),
 * the record rate for new and for known tuples beside a naive Map count of the same records, and
 * the size of the first drain and of the local record. Run: npx node --expose-gc bench/agent-memory.bench.ts
 */
import { syscallNames } from "../lib/syscalls/tables.ts";
import { NoveltyTracker, type ContainerMeta } from "../services/agent/edge/novelty-tracker.ts";
import { cpuSeconds, formatSpread, ratio, repeat } from "./stats.ts";

const CONTAINERS = 10_000;
const SYSCALLS = 100;
const MiB = 1024 * 1024;
const RSS_TARGET_MIB = 150;
const BYTES_PER_TUPLE_TARGET = 64;

const gc = (globalThis as { gc?: () => void }).gc;
function memory(label: string): number {
  gc?.();
  gc?.();
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  console.log(
    `${label}: RSS ${(rss / MiB).toFixed(1)} MiB, heap used ${(heapUsed / MiB).toFixed(1)} MiB, array buffers ${(arrayBuffers / MiB).toFixed(1)} MiB`,
  );
  return rss / MiB;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, "0");
// What the session manager hands over per container: its cgroup container id, workload and pod.
const containers = Array.from({ length: CONTAINERS }, (_, c) => {
  const pod = Math.floor(c / 2);
  const meta: ContainerMeta = {
    pod: `app-${pod}-x2k4q`,
    podUid: `${hex(pod, 8)}-0000-4000-8000-${hex(pod, 12)}`,
    containerId: hex(c, 16).repeat(4),
  };
  return {
    key: meta.containerId,
    meta,
    workload: { namespace: `ns-${pod % 50}`, kind: "Deployment", name: `app-${pod}`, container: `c${c % 2}` },
  };
});
const names = syscallNames("SCMP_ARCH_X86_64").slice(0, SYSCALLS);
const timeMs = Date.now();

const baseline = memory("bare process (modules loaded, no tracker)");
const tracker = new NoveltyTracker(["exit", "exit_group", "rt_sigreturn", "sigreturn"]);

function feed(): number {
  let calls = 0;
  for (const name of names) {
    for (const c of containers) {
      tracker.record(c.key, c.workload, c.meta, name, undefined, timeMs);
      calls++;
    }
  }
  return calls;
}

/** The baseline for the record rate: a Map count keyed by container and syscall, nothing else. */
function naiveFeed(): number {
  const counts = new Map<string, number>();
  for (const name of names) {
    for (const c of containers) {
      const key = `${c.key}|${name}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts.size;
}

const calls = names.length * containers.length;
// New tuples can be recorded only once; known ones again and again.
const newRate = calls / cpuSeconds(feed);
const knownRate = await repeat(5, () => calls / cpuSeconds(feed));
const rate = (n: number) => `${Math.round(n).toLocaleString("en")} records/s`;
console.log(
  `new tuples: ${rate(newRate)} (1 run); known tuples: ${formatSpread(knownRate, "records/s")} (CPU time)`,
);
console.log(
  `${tracker.containerCount.toLocaleString("en")} containers, ${tracker.tupleCount.toLocaleString("en")} tuples`,
);
const rss = memory("tracking 10,000 containers × 100 syscalls");

let snapshotChars = 0;
for (const piece of tracker.snapshotJson()) snapshotChars += piece.length;
let batches = 0;
let events = 0;
let batchChars = 0;
for (let workloads = tracker.drain(5000); workloads.length > 0; workloads = tracker.drain(5000)) {
  batches++;
  for (const w of workloads) events += w.syscalls.length;
  batchChars += JSON.stringify(workloads).length;
}
console.log(
  `first drain: ${batches} batches of 5,000 events, ${events.toLocaleString("en")} events, ${(batchChars / MiB).toFixed(1)} MiB as JSON; local record ${(snapshotChars / MiB).toFixed(1)} MiB`,
);
memory("after the drain");
const perTuple = ((rss - baseline) * MiB) / tracker.tupleCount;
console.log(
  `tracker: ${(rss - baseline).toFixed(1)} MiB over the bare process (${perTuple.toFixed(1)} bytes per tuple; target ≤ ${BYTES_PER_TUPLE_TARGET}: ${perTuple <= BYTES_PER_TUPLE_TARGET ? "met" : "NOT met"})`,
);
console.log(
  `  RSS ${rss.toFixed(1)} MiB = ${ratio(rss, baseline)} the bare process; absolute target < ${RSS_TARGET_MIB} MiB: ${rss < RSS_TARGET_MIB ? "met" : "NOT met"}`,
);
// Last, so that its garbage does not count in the memory figures above.
const naiveRate = await repeat(5, () => calls / cpuSeconds(naiveFeed));
console.log(`naive Map count of the same records: ${formatSpread(naiveRate, "records/s")}`);
console.log(
  `  known tuples / naive: ${ratio(knownRate, naiveRate, { atLeast: 1 })}; new tuples / naive: ${ratio(newRate, naiveRate)}`,
);
if (gc === undefined) console.log("(run with node --expose-gc for figures after a forced GC)");
