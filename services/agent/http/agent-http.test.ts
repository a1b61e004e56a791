import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { AgentHealth } from "../../../lib/contracts/types.ts";
import type { ProbeServer } from "../../../lib/http/probe-server.ts";
import type { FalcoStatus } from "../ports.ts";
import type { PublisherStats } from "../publish/event-publisher.ts";
import { agentReadiness, startAgentHttpServer } from "./agent-http.ts";

const logger = pino({ level: "silent" });

function health(overrides: Partial<AgentHealth["counters"]> = {}, restarts = 3): AgentHealth {
  return {
    node: "node-a",
    arch: "x86_64",
    kernel: "6.1.0-18-amd64",
    agentVersion: "0.1.0",
    falco: { state: "running", restarts },
    activeSessions: ["s1"],
    counters: {
      alertsRead: 1234,
      parseErrors: 5,
      eventsSent: 987,
      batchesSent: 42,
      spoolBytes: 65536,
      falcoDrops: 7,
      ...overrides,
    },
    lastErrors: [],
  };
}

function publisher(overrides: Partial<PublisherStats> = {}): PublisherStats {
  return {
    batchesSent: 30,
    finsSent: 2,
    eventsSent: 900,
    duplicates: 1,
    spooled: 12,
    replayed: 10,
    rejected: 0,
    inFlight: 0,
    spoolMessages: 2,
    spoolBytes: 65536,
    ...overrides,
  };
}

describe("agent HTTP server", () => {
  let server: ProbeServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function get(path: string): Promise<{ status: number; text: string; type: string | null }> {
    const res = await fetch(`http://127.0.0.1:${server?.port}${path}`);
    return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
  }

  it("exposes the agent's counters as Prometheus metrics read at scrape time", async () => {
    let current = health();
    server = await startAgentHttpServer({
      port: 0,
      host: "127.0.0.1",
      logger,
      health: () => current,
      publisher: () => publisher(),
      control: () => ({ requests: 9, invalid: 2, failed: 1 }),
      readiness: () => ({ ready: true, reasons: [] }),
    });

    const first = await get("/metrics");
    expect(first.status).toBe(200);
    expect(first.type).toContain("text/plain");
    for (const line of [
      "seccompose_agent_alerts_read_total 1234",
      "seccompose_agent_parse_errors_total 5",
      // What JetStream acknowledged, from the publisher: not the 42 batches handed to it.
      "seccompose_agent_events_sent_total 900",
      "seccompose_agent_batches_sent_total 30",
      "seccompose_agent_fins_sent_total 2",
      "seccompose_agent_messages_spooled_total 12",
      "seccompose_agent_messages_replayed_total 10",
      "seccompose_agent_messages_duplicate_total 1",
      "seccompose_agent_messages_rejected_total 0",
      "seccompose_agent_spool_bytes 65536",
      "seccompose_agent_falco_restarts_total 3",
      "seccompose_agent_falco_capturing 1",
      "seccompose_agent_falco_dropped_events_total 7",
      "seccompose_agent_control_invalid_total 2",
      "# TYPE seccompose_agent_alerts_read_total counter",
      "# TYPE seccompose_agent_spool_bytes gauge",
    ]) {
      expect(first.text.split("\n")).toContain(line);
    }
    expect(first.text).toContain("process_cpu_user_seconds_total");

    current = health({ alertsRead: 2000, spoolBytes: 0 }, 4);
    const second = (await get("/metrics")).text.split("\n");
    expect(second).toContain("seccompose_agent_alerts_read_total 2000");
    expect(second).toContain("seccompose_agent_spool_bytes 0");
    expect(second).toContain("seccompose_agent_falco_restarts_total 4");
  });

  it("answers /healthz with 200 and /readyz with 503 and the reasons until the agent is ready", async () => {
    let connected = false;
    let falco: FalcoStatus = { state: "failed", restarts: 5, lastExit: "exit code 1" };
    server = await startAgentHttpServer({
      port: 0,
      host: "127.0.0.1",
      logger,
      health: () => health(),
      publisher: () => publisher(),
      readiness: agentReadiness(
        () => connected,
        () => falco,
      ),
    });

    expect((await get("/healthz")).status).toBe(200);
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(notReady.text).toContain("NATS is not connected");
    expect(notReady.text).toContain("Falco failed (last exit: exit code 1)");

    connected = true;
    falco = { state: "backoff", restarts: 6, lastExit: "exit code 1" };
    expect(await get("/readyz")).toMatchObject({
      status: 503,
      text: expect.stringContaining("Falco is not capturing: restart 7 pending after exit code 1"),
    });
    falco = { state: "running", restarts: 7 };
    expect(await get("/readyz")).toMatchObject({ status: 200, text: "ready\n" });
    expect((await get("/nope")).status).toBe(404);
  });
});
