/**
 * What the pod ownership check costs the aggregator's merge: the same batches (3 nodes, 20
 * workload containers, 2,000 events per batch, every entry naming its pod and container) merged
 * by the session state without the check and with it (every entry accepted, against a pod history
 * that knows each pod), one thread, CPU time, interleaved. Target: with the check ≥ 0.9× without.
 * Without the check the merge runs the code it ran before the check existed (one branch per batch).
 *
 *   npx node bench/aggregator-ownership.bench.ts
 */
import type { SessionRecord } from "../lib/contracts/types.ts";
import { PodHistory } from "../services/aggregator/pod-ownership.ts";
import { recordingBatches, recordingEvents } from "../services/aggregator/recording-fixture.ts";
import type { RecordingSpec } from "../services/aggregator/recording-fixture.ts";
import { AggregatorState } from "../services/aggregator/session-state.ts";
import { cpuSeconds, formatSpread, interleave, ratio } from "./stats.ts";

const RUNS = 9;
const spec: RecordingSpec = {
  session: "bench-ownership",
  nodes: ["node-a", "node-b", "node-c"],
  batchesPerNode: 100,
  workloads: 20,
  eventsPerWorkload: 100,
  syscallsPerWorkload: 120,
};
const batches = [...recordingBatches(spec)];
const events = recordingEvents(spec);
const history = new PodHistory();
for (const b of batches) {
  for (const e of b.workloads) {
    const uid = `uid-${e.pod}`;
    e.podUid = uid;
    e.containerId = `cid-${e.pod}`;
    if (b.seq !== 1) continue;
    history.observe(
      {
        type: "added",
        owner: { kind: e.workload.kind, name: e.workload.name },
        pod: {
          metadata: { uid, name: e.pod, namespace: e.workload.namespace },
          spec: { nodeName: b.node, containers: [{ name: e.workload.container }] },
          status: {
            containerStatuses: [{ name: e.workload.container, containerID: `containerd://cid-${e.pod}` }],
          },
        } as never,
      },
      0,
    );
  }
}
const record: SessionRecord = {
  schemaVersion: 1,
  id: spec.session,
  mode: "oneshot",
  state: "running",
  createdAt: new Date(0).toISOString(),
  expectedNodes: [...spec.nodes],
  targets: {},
  profile: {},
};

const merge = (check: PodHistory | undefined) => () =>
  (2 * events) /
  cpuSeconds(() => {
    for (let round = 0; round < 2; round++) {
      const state = new AggregatorState(() => 0, {}, check);
      state.setRecord(record);
      for (const b of batches) state.apply(b);
      const merged = state.sessions.get(spec.session)!.events;
      if (merged !== events) throw new Error(`merged ${merged} of ${events} events`);
    }
  });

merge(undefined)();
merge(history)();
const [off, on] = await interleave(RUNS, [merge(undefined), merge(history)]);
console.log(
  `aggregator merge with and without the pod ownership check (${events.toLocaleString("en")} events, CPU time)`,
);
console.log(`  merge without the check   ${formatSpread(off!, "events/s")}`);
console.log(`  merge with the check      ${formatSpread(on!, "events/s")}`);
console.log(`  with / without: ${ratio(on!, off!, { atLeast: 0.9 })}`);
