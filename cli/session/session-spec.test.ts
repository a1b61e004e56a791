import { describe, expect, it } from "vitest";
import { buildSessionRecord, describeTargets, generateSessionId } from "./session-spec.ts";

const NOW = new Date("2025-01-15T10:30:00.000Z");

describe("the session record start writes", () => {
  it("takes flags over the session file, and the file over the user defaults", () => {
    const record = buildSessionRecord(
      { namespace: ["web"], baseline: "crun", args: "socket" },
      {
        id: "from-file",
        targets: { namespaces: ["shop"], labelSelector: "app=web", containers: ["nginx"] },
        baseline: "none",
        defaultAction: "SCMP_ACT_KILL_PROCESS",
        args: ["personality"],
      },
      { baseline: "runc", defaultAction: "SCMP_ACT_LOG" },
      NOW,
    );
    expect(record).toEqual({
      schemaVersion: 1,
      id: "from-file",
      mode: "oneshot",
      state: "running",
      createdAt: "2025-01-15T10:30:00.000Z",
      targets: { namespaces: ["web"], labelSelector: "app=web", containers: ["nginx"] },
      profile: { defaultAction: "SCMP_ACT_KILL_PROCESS", baseline: "crun", argSyscalls: ["socket"] },
    });
  });

  it("falls back to the user defaults and generates a subject-safe id", () => {
    const record = buildSessionRecord({}, {}, { baseline: "none", defaultAction: "SCMP_ACT_LOG" }, NOW);
    expect(record.id).toMatch(/^s-20250115-103000-[0-9a-f]{4}$/);
    expect(record.profile).toEqual({ baseline: "none", defaultAction: "SCMP_ACT_LOG" });
    expect(describeTargets(record.targets)).toBe("every container on every node");
  });

  it("makes --complain the log action, and continuous sessions carry their convergence window", () => {
    const record = buildSessionRecord(
      { complain: true, continuous: true, convergenceWindow: "30m" },
      {},
      {},
      NOW,
    );
    expect(record.mode).toBe("continuous");
    expect(record.profile.defaultAction).toBe("SCMP_ACT_LOG");
    expect(record.continuous).toEqual({ convergenceWindowSeconds: 1800 });
  });

  it("rejects what a session cannot be, naming the flag", () => {
    expect(() => buildSessionRecord({ id: "has.dot" }, {}, {}, NOW)).toThrow(
      /session id "has.dot" may only contain/,
    );
    expect(() => buildSessionRecord({ complain: true, defaultAction: "SCMP_ACT_TRAP" }, {}, {}, NOW)).toThrow(
      /--complain means SCMP_ACT_LOG/,
    );
    expect(() => buildSessionRecord({ convergenceWindow: "5m" }, {}, {}, NOW)).toThrow(
      /continuous sessions only/,
    );
    expect(() => buildSessionRecord({ args: "openat" }, {}, {}, NOW)).toThrow(/not supported for "openat"/);
    expect(generateSessionId(NOW)).not.toBe(generateSessionId(NOW));
  });
});
