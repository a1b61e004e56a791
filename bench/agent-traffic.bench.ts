/**
 * Wire traffic of one busy node whose workloads do nothing new: the real NoveltyTracker, flushed
 * every 2 s as the agent does, for 4 simulated hours. 30 target containers make 40 different
 * syscalls each, at skewed rates (syscall k of a container is called about 50/(k+1) times per
 * flush, at least once), so every tuple's count changes at every flush.
 *
 * Baseline in the same run: the same calls through a second tracker that sends every changed count
 * at every flush (the agent's policy before count updates moved to powers of two), emulated by
 * queueing the stale counts before each drain. Target: under 1 event/s per node in steady state
 * (from the second hour on), and the final flush carrying the same exact counts in both.
 *
 *   npx node bench/agent-traffic.bench.ts
 */
import type { WorkloadKey } from "../lib/contracts/types.ts";
import { NoveltyTracker, type ContainerMeta } from "../services/agent/edge/novelty-tracker.ts";
import { ratio } from "./stats.ts";

const FLUSH_SECONDS = 2;
const HOURS = 4;
const CONTAINERS = 30;
const SYSCALLS = 40;
const TARGET_EVENTS_PER_SECOND = 1;

const containers = Array.from({ length: CONTAINERS }, (_, c) => {
  const meta: ContainerMeta = {
    pod: `web-${c}`,
    podUid: `uid-${c}`,
    containerId: c.toString(16).padStart(64, "0"),
  };
  const workload: WorkloadKey = {
    namespace: "shop",
    kind: "Deployment",
    name: `app-${c % 6}`,
    container: "main",
  };
  return { meta, workload };
});
const callsPerFlush = Array.from({ length: SYSCALLS }, (_, k) => Math.max(1, Math.round(50 / (k + 1))));
const names = Array.from({ length: SYSCALLS }, (_, k) => `sys${k}`);

const novelty = new NoveltyTracker([]);
const everyChange = new NoveltyTracker([]);

/** What the aggregator holds from each tracker: the last count received per container and syscall. */
const received = new Map<NoveltyTracker, Map<string, number>>([
  [novelty, new Map()],
  [everyChange, new Map()],
]);

function drainAll(tracker: NoveltyTracker): number {
  const last = received.get(tracker)!;
  let events = 0;
  for (let d = tracker.drain(5000); d.length > 0; d = tracker.drain(5000))
    for (const entry of d) {
      events += entry.syscalls.length;
      for (const s of entry.syscalls) last.set(`${entry.containerId}/${s.name}`, s.count);
    }
  return events;
}

const flushes = (HOURS * 3600) / FLUSH_SECONDS;
const sentNovelty = new Float64Array(flushes);
const sentEveryChange = new Float64Array(flushes);
for (let f = 0; f < flushes; f++) {
  const timeMs = 1_800_000_000_000 + f * FLUSH_SECONDS * 1000;
  for (const { meta, workload } of containers) {
    for (let k = 0; k < SYSCALLS; k++) {
      for (let n = 0; n < callsPerFlush[k]!; n++) {
        novelty.record(meta.containerId, workload, meta, names[k]!, undefined, timeMs);
        everyChange.record(meta.containerId, workload, meta, names[k]!, undefined, timeMs);
      }
    }
  }
  sentNovelty[f] = drainAll(novelty);
  everyChange.queueStaleCounts();
  sentEveryChange[f] = drainAll(everyChange);
}

/** Events per second sent in [fromSeconds, toSeconds) of the simulated run. */
function rate(sent: Float64Array, fromSeconds: number, toSeconds: number): number {
  let events = 0;
  for (let f = fromSeconds / FLUSH_SECONDS; f < toSeconds / FLUSH_SECONDS; f++) events += sent[f]!;
  return events / (toSeconds - fromSeconds);
}

console.log(
  `agent wire traffic, one node: ${CONTAINERS} containers × ${SYSCALLS} syscalls, ${callsPerFlush.reduce((a, b) => a + b, 0) * CONTAINERS} calls per ${FLUSH_SECONDS} s flush, nothing new after the first flush, ${HOURS} simulated hours`,
);
for (const [label, from, to] of [
  ["first 10 minutes", 0, 600],
  ["10 to 60 minutes", 600, 3600],
  [`hours 1 to ${HOURS} (steady state)`, 3600, HOURS * 3600],
] as const) {
  const n = rate(sentNovelty, from, to);
  const b = rate(sentEveryChange, from, to);
  console.log(
    `  ${label.padEnd(30)} ${n.toFixed(2).padStart(8)} events/s; every changed count: ${b.toFixed(1)} events/s; ratio ${ratio(n, b)}`,
  );
}
const steady = rate(sentNovelty, 3600, HOURS * 3600);
console.log(
  `  steady state ${steady.toFixed(2)} events/s per node; target < ${TARGET_EVENTS_PER_SECOND}: ${steady < TARGET_EVENTS_PER_SECOND ? "met" : "NOT met"}`,
);

// The last flush of a session: what the aggregator then holds must be every exact count.
novelty.queueStaleCounts();
drainAll(novelty);
let wrong = 0;
for (const [tracker, last] of received) {
  for (const { meta } of containers)
    for (let k = 0; k < SYSCALLS; k++)
      if (last.get(`${meta.containerId}/${names[k]}`) !== flushes * callsPerFlush[k]!) wrong++;
  if (tracker === novelty)
    console.log(
      `  after the final flush: ${last.size} tuples received, ${wrong} with a count other than the exact one`,
    );
}
if (wrong > 0) throw new Error(`${wrong} counts differ from the calls recorded`);
