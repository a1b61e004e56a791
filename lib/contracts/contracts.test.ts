import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import { generatedTypesPath, renderContractTypes } from "../../scripts/gen-contract-types.ts";
import { assertValid, isValid } from "./validators.ts";

const workload = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const batch = {
  schemaVersion: 1,
  kind: "batch",
  session: "s-1",
  node: "node-a",
  arch: "x86_64",
  seq: 1,
  sentAt: 1_700_000_000_000,
  droppedEvents: 0,
  workloads: [
    { workload, syscalls: [{ name: "read", count: 3, firstSeen: 1_700_000_000_000, args: ["2"] }] },
  ],
};

function rejection(contract: Parameters<typeof assertValid>[0], value: unknown): string {
  try {
    assertValid(contract, value, "unit test");
  } catch (err) {
    if (isSeccomposeError(err, "SC_MESSAGE_INVALID")) return err.message;
    throw err;
  }
  throw new Error("value was accepted");
}

describe("contracts", () => {
  it("keeps the generated TypeScript types identical to what the schemas produce", async () => {
    expect(readFileSync(generatedTypesPath, "utf8")).toBe(await renderContractTypes());
  });

  it("accepts a well-formed syscall event batch and FIN marker", () => {
    expect(isValid("eventMessage", batch)).toBe(true);
    const fin = {
      schemaVersion: 1,
      kind: "fin",
      session: "s-1",
      node: "node-a",
      batches: 4,
      sentAt: 1,
      droppedEvents: 0,
    };
    expect(isValid("eventMessage", fin)).toBe(true);
  });

  it("names the field and the rule an invalid batch breaks", () => {
    const bad = structuredClone(batch);
    bad.workloads[0]!.syscalls[0]!.count = -1;
    expect(rejection("eventMessage", bad)).toBe(
      "invalid eventMessage from unit test: /workloads/0/syscalls/0/count must be >= 0 (rule: minimum)",
    );
  });

  it("rejects a message whose kind is neither batch nor fin", () => {
    expect(rejection("eventMessage", { ...batch, kind: "surprise" })).toMatch(/tag "kind"/);
  });

  it("rejects argument values that are not exact unsigned 64-bit decimals", () => {
    const bad = structuredClone(batch);
    bad.workloads[0]!.syscalls[0]!.args = ["-1"];
    expect(rejection("eventMessage", bad)).toMatch(/\/workloads\/0\/syscalls\/0\/args\/0 must match pattern/);
  });

  it("rejects unknown fields instead of ignoring them", () => {
    expect(rejection("eventMessage", { ...batch, extra: true })).toMatch(/has unknown field "extra"/);
  });

  it("rejects a session id that cannot be a subject token", () => {
    expect(rejection("eventMessage", { ...batch, session: "a.b" })).toMatch(/\/session must match pattern/);
  });

  it("dispatches control requests on op and reports the missing field", () => {
    const replyToken = "0123456789abcdef";
    expect(isValid("controlRequest", { schemaVersion: 1, op: "health", requestId: "r1", replyToken })).toBe(
      true,
    );
    expect(
      rejection("controlRequest", { schemaVersion: 1, op: "stop", requestId: "r1", replyToken }),
    ).toMatch(/missing required field "sessionId"/);
    expect(rejection("controlRequest", { schemaVersion: 1, op: "health", requestId: "r1" })).toMatch(
      /missing required field "replyToken"/,
    );
    expect(rejection("controlRequest", { schemaVersion: 1, op: "reboot", requestId: "r1" })).toMatch(
      /tag "op"/,
    );
  });

  it("validates a session record with targets and profile options", () => {
    const session = {
      schemaVersion: 1,
      id: "s-1",
      mode: "oneshot",
      state: "running",
      createdAt: "2026-11-27T10:00:00Z",
      targets: { namespaces: ["shop"], labelSelector: "app=web" },
      profile: { defaultAction: "SCMP_ACT_ERRNO", baseline: "runc", argSyscalls: ["socket"] },
    };
    expect(isValid("sessionRecord", session)).toBe(true);
    expect(rejection("sessionRecord", { ...session, createdAt: "yesterday" })).toMatch(
      /\/createdAt must match format/,
    );
  });

  it("reports config errors with the config error code", () => {
    try {
      assertValid(
        "agentConfig",
        { nodeName: "n", nats: { servers: ["http://x"] }, stateDir: "/s", falco: { binary: "f" } },
        "agent.yaml",
        "SC_CONFIG_INVALID",
      );
      expect.unreachable();
    } catch (err) {
      expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
      expect((err as Error).message).toMatch(/agent\.yaml: \/nats\/servers\/0 must match pattern/);
    }
  });
});
