import { describe, expect, it } from "vitest";
import type { AggregatorStatus, ControlReply, SessionRecord } from "../lib/contracts/types.ts";
import { jsonText, table, terminalSafe } from "./output.ts";
import { formatEventLine, eventLines } from "./session/events-command.ts";
import { renderSessionView, sessionView } from "./session/status-view.ts";

// What a compromised agent could put in a container or workload name: clear the screen, set the
// window title, forge a line, reverse the text that follows, and an 8-bit CSI.
const EVIL = "web\u001b[2J\u001b]0;pwned\u0007\nnode-z  ok\u202egnp.exe\u009b31m\u007f";
const ESCAPED = "web\\x1b[2J\\x1b]0;pwned\\x07\\x0anode-z  ok\\u202egnp.exe\\x9b31m\\x7f";

/** No character a terminal would act on. */
function assertInert(text: string): void {
  for (const ch of text.replaceAll("\n", "")) {
    const cp = ch.codePointAt(0)!;
    expect(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e), text).toBe(false);
  }
}

describe("terminalSafe", () => {
  it("turns every control, DEL, C1 and bidirectional override into a visible escape", () => {
    expect(terminalSafe(EVIL)).toBe(ESCAPED);
    assertInert(terminalSafe(EVIL));
  });

  it("leaves ordinary and non-ASCII names alone, and is idempotent", () => {
    expect(terminalSafe("shop/Deployment/web-ü/nginx 日本")).toBe("shop/Deployment/web-ü/nginx 日本");
    expect(terminalSafe(terminalSafe(EVIL))).toBe(terminalSafe(EVIL));
  });
});

describe("printing agent-supplied names", () => {
  it("tables escape every cell, so columns stay aligned and no line is forged", () => {
    const lines = table(
      ["WORKLOAD", "NODES"],
      [
        [EVIL, "node-a"],
        ["ok", "node-b"],
      ],
    );
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe(`${ESCAPED}  node-a`);
    for (const line of lines) assertInert(line);
  });

  it("JSON output escapes C1 controls and overrides too, and still parses to the same value", () => {
    const text = jsonText({ workload: EVIL }, 2);
    assertInert(text);
    expect(JSON.parse(text)).toEqual({ workload: EVIL });
  });

  it("status escapes workload names and agents' error messages", () => {
    const session: SessionRecord = {
      schemaVersion: 1,
      id: "s1",
      mode: "oneshot",
      state: "running",
      createdAt: new Date(0).toISOString(),
      expectedNodes: ["node-a"],
      targets: { namespaces: ["shop"] },
      profile: {},
    };
    const reply: ControlReply = {
      schemaVersion: 1,
      requestId: "r",
      node: "node-a",
      ok: false,
      error: { code: "SC_CONTROL_FAILED", message: EVIL },
    };
    const aggregator: AggregatorStatus = {
      schemaVersion: 1,
      sessions: [
        {
          session: "s1",
          mode: "oneshot",
          state: "recording",
          nodesReporting: 1,
          batchesMerged: 1,
          eventsMerged: 1,
          lateBatches: 0,
          nodes: [{ name: "node-a", batchesMerged: 1, eventsMerged: 1, complete: false, droppedEvents: 0 }],
          workloads: [
            {
              workload: { namespace: "shop", kind: "Deployment", name: "web", container: EVIL },
              token: "t",
              profileKey: "k",
              syscalls: 3,
              revision: 0,
              converged: false,
              frozen: false,
              driftEvents: 0,
            },
          ],
        },
      ],
    } as AggregatorStatus;
    const lines = renderSessionView(sessionView(session, [reply], aggregator), true, 0);
    const text = lines.join("\n");
    expect(text).toContain(`shop/Deployment/web/${ESCAPED}`);
    expect(text).toContain(`node-a: SC_CONTROL_FAILED: ${ESCAPED}`);
    for (const line of lines) assertInert(line);
  });

  it("events lines escape the workload an agent reported", () => {
    const [line] = eventLines(
      {
        schemaVersion: 1,
        kind: "batch",
        session: "s1",
        node: "node-a",
        seq: 1,
        workloads: [
          {
            workload: { namespace: "shop", kind: "Pod", name: EVIL, container: "c" },
            syscalls: [{ name: "read", count: 2, firstSeen: 0 }],
          },
        ],
      } as Parameters<typeof eventLines>[0],
      7,
    );
    const text = formatEventLine(line!);
    expect(text).toBe(`node-a  shop/Pod/${ESCAPED}/c  read  2`);
    assertInert(text);
  });
});
