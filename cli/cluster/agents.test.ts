import { describe, expect, it } from "vitest";
import type { AgentHealth, ControlReply } from "../../lib/contracts/types.ts";
import { checkAgents, describeAgentCheck, parseExpectAgents, type AgentExpectation } from "./agents.ts";

function health(
  node: string,
  falco: Partial<AgentHealth["falco"]> = {},
  lastErrors: AgentHealth["lastErrors"] = [],
  recent?: AgentHealth["recent"],
): ControlReply {
  return {
    schemaVersion: 1,
    requestId: "r",
    node,
    ok: true,
    health: {
      node,
      arch: "x86_64",
      kernel: "6.8.0",
      agentVersion: "0.1.0",
      falco: { state: "running", restarts: 0, ...falco },
      activeSessions: [],
      counters: {
        alertsRead: 0,
        parseErrors: 0,
        eventsSent: 0,
        batchesSent: 0,
        spoolBytes: 0,
        falcoDrops: 0,
      },
      lastErrors,
      ...(recent !== undefined ? { recent } : {}),
    },
  };
}

describe("agent expectations", () => {
  it("parses --expect-agents as a count or as node names", () => {
    expect(parseExpectAgents("3")).toEqual({ count: 3, nodes: [] });
    expect(parseExpectAgents("node-b, node-a,node-b")).toEqual({ count: 2, nodes: ["node-a", "node-b"] });
    expect(() => parseExpectAgents("0")).toThrow(/at least 1/);
  });

  it("names missing and unhealthy agents, and counts the ones it cannot name", () => {
    const named: AgentExpectation = { source: "flag", nodes: ["node-a", "node-b", "node-c"], count: 3 };
    const replies = [
      health("node-a"),
      health("node-b", { state: "backoff", restarts: 4, lastExit: "exit code 1" }, [
        { code: "SC_FALCO_FAILED", message: "driver failed", at: "2025-01-15T10:00:00.000Z" },
      ]),
    ];
    const check = checkAgents(replies, named);
    expect(check.healthy).toEqual(["node-a"]);
    expect(check.unhealthy).toEqual([
      { node: "node-b", problem: "Falco is restarting after a crash, 4 restart(s) (last exit: exit code 1)" },
    ]);
    expect(check.missing).toEqual([{ node: "node-c", problem: "no answer" }]);
    expect(describeAgentCheck(check, named)).toEqual([
      "agent on node node-c did not answer (no answer)",
      "agent on node node-b is unhealthy: Falco is restarting after a crash, 4 restart(s) (last exit: exit code 1)",
      "agent on node node-b: last error SC_FALCO_FAILED at 2025-01-15T10:00:00.000Z: driver failed",
    ]);

    const counted: AgentExpectation = { source: "flag", nodes: [], count: 3 };
    const byCount = checkAgents([health("node-a")], counted);
    expect(byCount.unnamedMissing).toBe(2);
    expect(describeAgentCheck(byCount, counted)).toEqual([
      "2 of 3 expected agent(s) did not answer (answered: node-a)",
    ]);
  });

  it("judges an agent's errors by its recent window: an old parse error is no problem now", () => {
    const expectation: AgentExpectation = { source: "flag", nodes: ["node-a"], count: 1 };
    const old = [
      { code: "SC_ALERT_MALFORMED", message: "Falco alert is not JSON", at: "2025-01-15T10:00:00.000Z" },
    ];
    const quiet = checkAgents(
      [health("node-a", {}, old, { windowSeconds: 300, alertsRead: 40, parseErrors: 0, errors: 0 })],
      expectation,
    );
    expect(quiet.warnings).toEqual([]);
    expect(describeAgentCheck(quiet, expectation)).toEqual([]);

    const now = checkAgents(
      [health("node-a", {}, old, { windowSeconds: 300, alertsRead: 40, parseErrors: 1, errors: 1 })],
      expectation,
    );
    expect(describeAgentCheck(now, expectation)).toEqual([
      "agent on node node-a: 1 of 40 Falco alert line(s) could not be read in the last 300 s",
      "agent on node node-a: last error SC_ALERT_MALFORMED at 2025-01-15T10:00:00.000Z: Falco alert is not JSON",
    ]);
  });
});
