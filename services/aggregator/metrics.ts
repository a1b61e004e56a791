/** Prometheus metrics of the aggregator, on their own registry (served at /metrics). */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { createMetricsRegistry } from "../../lib/http/probe-server.ts";

export interface AggregatorMetrics {
  registry: Registry;
  batchesMerged: Counter;
  eventsMerged: Counter;
  badBatches: Counter;
  lateBatches: Counter;
  refusedMessages: Counter<"reason">;
  refusedEntries: Counter<"reason">;
  sessionsFinalised: Counter<"status">;
  revisionsPublished: Counter;
  convergences: Counter;
  driftEvents: Counter;
  checkpoints: Counter;
  lostMessages: Counter;
  consumerLag: Gauge;
  unsettledMessages: Gauge;
  /** Read at every scrape for the consumer lag gauge; set by the running aggregator. */
  lagSource: (() => Promise<number | undefined>) | undefined;
}

export function createMetrics(registry: Registry = createMetricsRegistry()): AggregatorMetrics {
  const registers = [registry];
  const metrics: AggregatorMetrics = {
    registry,
    batchesMerged: new Counter({
      name: "seccompose_aggregator_batches_merged_total",
      help: "Event batches merged for the first time (redeliveries are not counted).",
      registers,
    }),
    eventsMerged: new Counter({
      name: "seccompose_aggregator_events_merged_total",
      help: "Syscall events in the batches merged.",
      registers,
    }),
    badBatches: new Counter({
      name: "seccompose_aggregator_bad_batches_total",
      help: "Messages that could not be decoded or validated; terminated, never merged.",
      registers,
    }),
    lateBatches: new Counter({
      name: "seccompose_aggregator_late_batches_total",
      help: "Batches that arrived after their session was finalised.",
      registers,
    }),
    refusedMessages: new Counter({
      name: "seccompose_aggregator_refused_messages_total",
      help: "Valid messages refused (never merged): unknown session, node outside the session, hold limit, implausible.",
      labelNames: ["reason"],
      registers,
    }),
    refusedEntries: new Counter({
      name: "seccompose_aggregator_refused_entries_total",
      help: "Workload entries refused by the pod ownership check (never merged), by reason.",
      labelNames: ["reason"],
      registers,
    }),
    sessionsFinalised: new Counter({
      name: "seccompose_aggregator_sessions_finalised_total",
      help: "Sessions whose final profiles were published, by status (complete, partial).",
      labelNames: ["status"],
      registers,
    }),
    revisionsPublished: new Counter({
      name: "seccompose_aggregator_revisions_published_total",
      help: "Profile revisions published for continuous sessions.",
      registers,
    }),
    convergences: new Counter({
      name: "seccompose_aggregator_convergences_total",
      help: "Convergence signals published for continuous profiles.",
      registers,
    }),
    driftEvents: new Counter({
      name: "seccompose_aggregator_drift_events_total",
      help: "Drift events published: calls outside a frozen profile.",
      registers,
    }),
    checkpoints: new Counter({
      name: "seccompose_aggregator_checkpoints_total",
      help: "State checkpoints stored in KV.",
      registers,
    }),
    lostMessages: new Counter({
      name: "seccompose_aggregator_lost_messages_total",
      help: "Stream messages discarded (stream limits or a purge) before the aggregator consumed them; an upper bound when partitions share the stream. Every session accepting data then is partial.",
      registers,
    }),
    consumerLag: new Gauge({
      name: "seccompose_aggregator_consumer_lag_messages",
      help: "Messages in SC_EVENTS not yet delivered to the aggregator (num_pending of its durable consumer).",
      registers,
      async collect() {
        const lag = await metrics.lagSource?.().catch(() => undefined);
        if (lag !== undefined) this.set(lag);
      },
    }),
    unsettledMessages: new Gauge({
      name: "seccompose_aggregator_unsettled_messages",
      help: "Messages merged but not yet covered by a checkpoint (and so not yet acked).",
      registers,
    }),
    lagSource: undefined,
  };
  return metrics;
}
