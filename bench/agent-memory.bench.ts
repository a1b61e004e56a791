/**
 * Agent memory at scale: one session's NoveltyTracker holding 10,000 containers × 100 distinct
 * syscalls (1,000,000 tuples), filled through its record path the way the session manager calls
 * it for each alert. Prints RSS and heap used after a forced GC (target: under 150 MiB RSS), the
 * record rate for new and for known tuples, and the size of the first drain and of the local
 * record. Run: npx node --expose-gc bench/agent-memory.bench.ts
 */
import { syscallNames } from "../lib/syscalls/tables.ts";
import { NoveltyTracker, type ContainerMeta } from "../services/agent/edge/novelty-tracker.ts";

const CONTAINERS = 10_000;
const SYSCALLS = 100;
const MiB = 1024 * 1024;
const RSS_TARGET_MIB = 150;

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

const baseline = memory("baseline");
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

let start = process.hrtime.bigint();
const first = feed();
let seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`new tuples: ${Math.round(first / seconds).toLocaleString("en")} records/s`);
start = process.hrtime.bigint();
const again = feed();
seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`known tuples: ${Math.round(again / seconds).toLocaleString("en")} records/s`);
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
console.log(
  `tracker: ${(rss - baseline).toFixed(1)} MiB over baseline; RSS ${rss.toFixed(1)} MiB ${rss < RSS_TARGET_MIB ? "<" : ">="} ${RSS_TARGET_MIB} MiB target`,
);
if (gc === undefined) console.log("(run with node --expose-gc for figures after a forced GC)");
