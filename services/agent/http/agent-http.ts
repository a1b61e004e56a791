/**
 * The agent's probes and Prometheus metrics. Metric values are read at scrape time from their
 * single sources of truth: the health counters, and for what reached JetStream the publisher's own
 * statistics (a batch handed to the publisher may still sit in the spool).
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import type { AgentHealth } from "../../../lib/contracts/types.ts";
import { createMetricsRegistry, startProbeServer } from "../../../lib/http/probe-server.ts";
import type { ProbeServer, Readiness } from "../../../lib/http/probe-server.ts";
import type { ControlPlaneStats } from "../control/control-plane.ts";
import type { PublisherStats } from "../publish/event-publisher.ts";
import type { FalcoStatus } from "../ports.ts";

export interface AgentMetricSources {
  health: () => AgentHealth;
  publisher: () => PublisherStats;
  control?: () => ControlPlaneStats;
}

/** Counters fed from an absolute, ever-growing value (reset, then set by one increment). */
function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export function registerAgentMetrics(registry: Registry, sources: AgentMetricSources): void {
  const counter = (key: "alertsRead" | "parseErrors" | "falcoDrops") => () => sources.health().counters[key];
  const published =
    (key: "eventsSent" | "batchesSent" | "finsSent" | "spooled" | "replayed" | "duplicates" | "rejected") =>
    () =>
      sources.publisher()[key];
  counterFrom(
    registry,
    "seccompose_agent_alerts_read_total",
    "Falco alerts read by the agent.",
    counter("alertsRead"),
  );
  counterFrom(
    registry,
    "seccompose_agent_parse_errors_total",
    "Falco output lines the agent could not parse.",
    counter("parseErrors"),
  );
  counterFrom(
    registry,
    "seccompose_agent_events_sent_total",
    "Syscall events in batches acknowledged by JetStream.",
    published("eventsSent"),
  );
  counterFrom(
    registry,
    "seccompose_agent_batches_sent_total",
    "Event batches acknowledged by JetStream, directly or after a replay from the spool; duplicates included.",
    published("batchesSent"),
  );
  counterFrom(
    registry,
    "seccompose_agent_fins_sent_total",
    "End-of-session markers acknowledged by JetStream.",
    published("finsSent"),
  );
  counterFrom(
    registry,
    "seccompose_agent_messages_spooled_total",
    "Event messages written to the disk spool because JetStream did not acknowledge them.",
    published("spooled"),
  );
  counterFrom(
    registry,
    "seccompose_agent_messages_replayed_total",
    "Spooled event messages acknowledged by JetStream after a replay.",
    published("replayed"),
  );
  counterFrom(
    registry,
    "seccompose_agent_messages_duplicate_total",
    "Acknowledgements saying JetStream already stored the message (a resend after a lost ack).",
    published("duplicates"),
  );
  counterFrom(
    registry,
    "seccompose_agent_messages_rejected_total",
    "Event messages JetStream refused for good (not retried).",
    published("rejected"),
  );
  counterFrom(
    registry,
    "seccompose_agent_falco_restarts_total",
    "Times the agent restarted Falco.",
    () => sources.health().falco.restarts,
  );
  counterFrom(
    registry,
    "seccompose_agent_falco_dropped_events_total",
    "Syscall events Falco reported dropped.",
    counter("falcoDrops"),
  );
  new Gauge({
    name: "seccompose_agent_falco_capturing",
    help: "1 while Falco's capture is proven by the agent's probe, else 0.",
    registers: [registry],
    collect() {
      this.set(sources.health().falco.state === "running" ? 1 : 0);
    },
  });
  new Gauge({
    name: "seccompose_agent_spool_bytes",
    help: "Bytes of event messages spooled on disk while JetStream is unreachable.",
    registers: [registry],
    collect() {
      this.set(sources.health().counters.spoolBytes);
    },
  });
  const control = sources.control;
  if (control) {
    counterFrom(
      registry,
      "seccompose_agent_control_requests_total",
      "Control requests received.",
      () => control().requests,
    );
    counterFrom(
      registry,
      "seccompose_agent_control_invalid_total",
      "Control requests that were not JSON or broke the control contract.",
      () => control().invalid,
    );
    counterFrom(
      registry,
      "seccompose_agent_control_failed_total",
      "Valid control requests the agent could not carry out.",
      () => control().failed,
    );
  }
}

/** Ready when NATS is connected and Falco has not given up (state "failed"). */
export function agentReadiness(natsConnected: () => boolean, falco: () => FalcoStatus): () => Readiness {
  return () => {
    const reasons: string[] = [];
    if (!natsConnected()) reasons.push("NATS is not connected");
    const status = falco();
    if (status.state === "failed") {
      reasons.push(`Falco failed${status.lastExit ? ` (last exit: ${status.lastExit})` : ""}`);
    } else if (status.state === "backoff") {
      // Falco died while sessions run: nothing is recorded until it captures again.
      reasons.push(
        `Falco is not capturing: restart ${status.restarts + 1} pending${status.lastExit ? ` after ${status.lastExit}` : ""}`,
      );
    }
    return { ready: reasons.length === 0, reasons };
  };
}

export interface AgentHttpOptions extends AgentMetricSources {
  port: number;
  host?: string;
  readiness: () => Readiness;
  logger: Logger;
}

export async function startAgentHttpServer(opts: AgentHttpOptions): Promise<ProbeServer> {
  const registry = createMetricsRegistry();
  registerAgentMetrics(registry, opts);
  return startProbeServer({
    port: opts.port,
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    readiness: opts.readiness,
    registry,
    logger: opts.logger,
  });
}
