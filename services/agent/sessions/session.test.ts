import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import { readAllSessionData } from "./session-store.ts";
import {
  needsPersist,
  newSession,
  nodeProfiles,
  persistSession,
  sessionFromData,
  sessionStatus,
} from "./session.ts";

const T0 = 1_800_000_000_000;
const WEB = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const META = { pod: "web-0", podUid: "pod-1", containerId: "c".repeat(64) };
const NON_RETURNING = ["exit", "exit_group"];

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sc-session-"));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("newSession", () => {
  it("starts running at seq 1, dirty, with the argument specs of the record's argument syscalls only", () => {
    const session = newSession(
      sessionRecord("s1", { profile: { argSyscalls: ["ioctl"] } }),
      NON_RETURNING,
      T0,
      false,
    );
    expect(session).toMatchObject({
      state: "running",
      nextSeq: 1,
      startedAt: T0,
      captured: false,
      dirty: true,
    });
    expect([...session.argSpecs.keys()]).toEqual(["ioctl"]);
    expect(newSession(sessionRecord("s2"), NON_RETURNING, T0, true).argSpecs.size).toBe(0);
  });

  it("refuses an argument syscall it has no spec for", () => {
    expect(() =>
      newSession(sessionRecord("s1", { profile: { argSyscalls: ["read"] } }), NON_RETURNING, T0, true),
    ).toThrow(/read/);
  });
});

describe("the local record of a session", () => {
  it("reads back what was written: counts, batch numbers, gaps, unacknowledged batches and the tracker", async () => {
    const session = newSession(sessionRecord("s1"), NON_RETURNING, T0, true);
    session.tracker.record(META.containerId, WEB, META, "read", undefined, T0);
    session.tracker.record(META.containerId, WEB, META, "read", undefined, T0 + 1);
    Object.assign(session, { nextSeq: 4, batchesSent: 2, droppedEvents: 7, eventsSeenBefore: 10 });
    session.gaps.push({ from: T0, to: T0 + 5, reason: "Falco exited" });
    expect(needsPersist(session)).toBe(true);
    await persistSession(stateDir, session, T0 + 100);
    expect(needsPersist(session)).toBe(false);
    session.tracker.record(META.containerId, WEB, META, "write", undefined, T0 + 2);
    // A call the record does not have yet is enough to write it again.
    expect(needsPersist(session)).toBe(true);

    const {
      sessions: [data],
    } = await readAllSessionData(stateDir);
    expect(data).toMatchObject({ persistedAt: T0 + 100, eventsSeen: 12 });
    const restored = sessionFromData(data!, NON_RETURNING, T0 + 200);
    expect(restored).toMatchObject({
      state: "running",
      nextSeq: 4,
      batchesSent: 2,
      droppedEvents: 7,
      eventsSeenBefore: 12,
      gaps: [{ from: T0, to: T0 + 5, reason: "Falco exited" }],
      dirty: false,
      captured: false,
    });
    expect(sessionStatus(restored)).toEqual({
      sessionId: "s1",
      state: "running",
      containers: 1,
      batchesSent: 2,
      eventsSeen: 12,
      droppedEvents: 7,
    });
  });
});

describe("nodeProfiles", () => {
  it("renders one schema-valid document per workload, complete once the session stopped", () => {
    const session = newSession(sessionRecord("s1"), NON_RETURNING, T0, true);
    session.tracker.record(META.containerId, WEB, META, "read", undefined, T0);
    const [doc] = nodeProfiles(session, "node-a", "x86_64");
    assertValid("profileDocument", doc, "node profile");
    expect(doc).toMatchObject({ session: "s1", status: "recording", workload: WEB });
    expect(doc!.syscalls.map((s) => s.name)).toEqual(["exit", "exit_group", "read"]);
    session.state = "stopped";
    expect(nodeProfiles(session, "node-a", "x86_64").map((d) => d.status)).toEqual(["complete"]);
  });
});
