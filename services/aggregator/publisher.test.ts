import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ProfileDocument } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { storedProfile } from "./publisher.ts";
import { profileRevisionKey, statusEventSubject } from "../../lib/subjects.ts";

function documentWith(syscalls: number): ProfileDocument {
  return {
    schemaVersion: 1,
    kind: "ProfileDocument",
    session: "s1",
    workload: { namespace: "ns", kind: "Pod", name: "p", container: "c" },
    revision: 3,
    status: "complete",
    nodes: [{ name: "node-a", arch: "x86_64", droppedEvents: 0 }],
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: Array.from({ length: syscalls }, (_, i) => ({
      name: `sys_${i}`,
      count: i,
      firstSeen: "2026-11-27T10:00:00.000Z",
      nodes: { "node-a": i },
    })),
  };
}

describe("storedProfile", () => {
  it("stores a document that fits the KV value limit as the KV value itself", () => {
    const doc = documentWith(3);
    const stored = storedProfile("s1.ns_Pod_p_c", doc, 4096);
    expect(stored.where).toBe("kv");
    expect(new TextDecoder().decode(stored.value)).toBe(JSON.stringify(doc));
  });

  it("moves a larger document to the Object Store and leaves a pointer with its size and SHA-256", () => {
    const doc = documentWith(200);
    const stored = storedProfile("s1.ns_Pod_p_c.rev.3", doc, 4096);
    if (stored.where !== "object") throw new Error("expected an object");
    const text = JSON.stringify(doc);
    expect(new TextDecoder().decode(stored.object)).toBe(text);
    const pointer = assertValid("profilePointer", JSON.parse(new TextDecoder().decode(stored.value)), "test");
    expect(pointer).toEqual({
      schemaVersion: 1,
      kind: "ProfilePointer",
      session: "s1",
      workload: doc.workload,
      revision: 3,
      status: "complete",
      objectStore: "sc_profiles_big",
      object: "s1.ns_Pod_p_c.rev.3",
      size: Buffer.byteLength(text),
      sha256: createHash("sha256").update(text).digest("hex"),
    });
    expect(stored.value.length).toBeLessThan(4096);
  });

  it("names revision keys and status event subjects after the session", () => {
    expect(profileRevisionKey("s1", "ns_Pod_p_c", 7)).toBe("s1.ns_Pod_p_c.rev.7");
    expect(statusEventSubject("s1")).toBe("sc.agg.status.s1");
  });
});
