import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { DriftEvent } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { MergeReporter } from "./merge-reporter.ts";
import { createMetrics } from "./metrics.ts";
import type { MergeOutcome } from "./session-state.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

function reporter() {
  const logs: Array<Record<string, unknown>> = [];
  const drift: DriftEvent[] = [];
  const metrics = createMetrics();
  const log = pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  return { r: new MergeReporter(metrics, log, (e) => drift.push(e)), logs, drift, metrics };
}

function outcome(extra: Partial<MergeOutcome>): MergeOutcome {
  return {
    session: "s1",
    node: "node-a",
    kind: "batch",
    fresh: true,
    late: false,
    events: 0,
    drift: [],
    nodeComplete: false,
    ...extra,
  };
}

describe("MergeReporter", () => {
  it("logs the first refusal of a kind per session and node and only counts the rest; a refused message is terminated", async () => {
    const { r, logs, metrics } = reporter();
    for (let i = 0; i < 3; i++) expect(r.report(outcome({ refused: "foreignNode" }))).toBe(false);
    expect(r.report(outcome({ node: "node-b", refused: "foreignNode" }))).toBe(false);
    expect(logs.map((l) => [l.node, l.reason, l.code])).toEqual([
      ["node-a", "foreignNode", "SC_MESSAGE_REFUSED"],
      ["node-b", "foreignNode", "SC_MESSAGE_REFUSED"],
    ]);
    expect(
      await metrics.registry.getSingleMetricAsString("seccompose_aggregator_refused_messages_total"),
    ).toMatch(/reason="foreignNode"} 4/);
  });

  it("publishes a valid Drift event for each call outside a frozen profile and counts merged events", async () => {
    const { r, drift, metrics } = reporter();
    const keep = r.report(
      outcome({
        events: 5,
        drift: [
          {
            session: "s1",
            workload: web,
            token: "shop_Deployment_web_nginx",
            frozenRevision: 2,
            node: "node-a",
            pod: "web-0",
            containerId: "c".repeat(64),
            syscall: "socket",
            args: ["10"],
            count: 3,
            firstSeen: T0,
            lastSeen: T0 + 5,
            detectedAt: T0 + 10,
          },
        ],
      }),
    );
    expect(keep).toBe(true);
    expect(drift).toHaveLength(1);
    expect(assertValid("driftEvent", drift[0], "test")).toMatchObject({
      kind: "Drift",
      session: "s1",
      workloadToken: "shop_Deployment_web_nginx",
      syscall: "socket",
      args: ["10"],
      firstSeen: "2026-12-01T10:00:00.000Z",
      frozenRevision: 2,
    });
    expect(
      await metrics.registry.getSingleMetricAsString("seccompose_aggregator_events_merged_total"),
    ).toMatch(/ 5$/m);
  });
});
