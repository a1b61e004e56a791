import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SessionRecord, SyscallEventBatch } from "../../../lib/contracts/types.ts";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../../lib/errors.ts";
import type { FalcoAlert } from "../intake/alert.ts";
import type { PodInfo } from "../ports.ts";
import { SessionManager, type SessionManagerDeps } from "./session-manager.ts";
import { sessionDataFile } from "./session-store.ts";
import { syscallAlert } from "../../../test/helpers/falco-alerts.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import { FakeFalco, FakePods, FakePublisher } from "../../../test/helpers/agent-fakes.ts";

const T0 = 1_800_000_000_000;
const HOLD_MS = 5_000;

const WEB_UID = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const WEB_CID = "4f1e2d3c4b5a6978796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const DB_UID = "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b";
const DB_CID = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";

const webPod: PodInfo = {
  uid: WEB_UID,
  name: "web-7d9c5b-x2k4q",
  namespace: "shop",
  labels: { app: "web" },
  owner: { kind: "Deployment", name: "web" },
  containers: { [WEB_CID]: "nginx" },
};
const dbPod: PodInfo = {
  uid: DB_UID,
  name: "db-0",
  namespace: "data",
  labels: { app: "db" },
  owner: { kind: "StatefulSet", name: "db" },
  containers: { [DB_CID]: "postgres" },
};

function session(id: string, targets: SessionRecord["targets"] = {}, argSyscalls?: string[]): SessionRecord {
  return sessionRecord(id, {
    createdAt: "2027-01-15T10:00:00Z",
    targets,
    profile: argSyscalls ? { argSyscalls } : {},
  });
}

const drop = (nDrops: number): FalcoAlert => ({
  kind: "drop",
  timeNs: BigInt(T0) * 1_000_000n,
  hostname: "node-a",
  nDrops,
  nEvts: 1000,
  counters: {},
});

/** name[:args] → cumulative count as last sent, over all batches of a session. */
function sentCounts(batches: SyscallEventBatch[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of batches) {
    for (const w of b.workloads) {
      for (const s of w.syscalls) {
        const key = `${w.workload.name}/${s.name}${s.args ? `:${s.args.join(",")}` : ""}`;
        out[key] = Math.max(out[key] ?? 0, s.count);
      }
    }
  }
  return out;
}

let stateDir: string;
let now: number;
let falco: FakeFalco;
let publisher: FakePublisher;
let pods: FakePods;

function manager(overrides: Partial<SessionManagerDeps> = {}): SessionManager {
  return new SessionManager({
    node: "node-a",
    arch: "x86_64",
    kernel: "6.18.0",
    agentVersion: "0.1.0",
    stateDir,
    falco,
    publisher,
    pods,
    logger: pino({ level: "silent" }),
    clock: () => now,
    flushIntervalMs: 1000,
    maxEventsPerBatch: 100,
    holdUnknownMs: HOLD_MS,
    ...overrides,
  });
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sc-agent-"));
  now = T0;
  falco = new FakeFalco();
  publisher = new FakePublisher();
  pods = new FakePods([webPod, dbPod]);
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("SessionManager recording health", () => {
  it("reports each window in which Falco did not capture as a FIN gap naming the cause", async () => {
    const m = manager();
    await m.restore();
    await m.startSession(session("s1"));
    falco.capture({ capturing: false, at: T0 + 1000, reason: "Falco exited (signal SIGKILL)" });
    falco.capture({ capturing: true, at: T0 + 3000 });
    falco.capture({ capturing: false, at: T0 + 5000, reason: "Falco reloaded its configuration" });
    now = T0 + 6000;
    await m.stopSession("s1");
    expect(publisher.fins("s1")[0]!.gaps).toEqual([
      { from: T0 + 1000, to: T0 + 3000, reason: "Falco exited (signal SIGKILL)" },
      { from: T0 + 5000, to: T0 + 6000, reason: "Falco reloaded its configuration" },
    ]);
  });

  it("makes the whole session one gap when Falco never captured for it", async () => {
    falco.state = "backoff";
    falco.lastExit = "exit code 1: libbpf: prog 'x': BPF program load failed: Permission denied";
    const m = manager();
    await m.restore();
    await m.startSession(session("s1"));
    now = T0 + 9000;
    await m.stopSession("s1");
    expect(publisher.fins("s1")[0]!.gaps).toEqual([
      {
        from: T0,
        to: T0 + 9000,
        reason:
          "Falco never captured on this node during the session (exit code 1: libbpf: prog 'x': BPF program load failed: Permission denied)",
      },
    ]);
  });

  it("books a gap when Falco cannot confirm that the alerts before the stop were read", async () => {
    falco.barrierResult = false;
    const m = manager();
    await m.restore();
    await m.startSession(session("s1"));
    await m.stopSession("s1");
    expect(publisher.fins("s1")[0]!.gaps).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/^Falco did not confirm/) }),
    ]);
  });
});

describe("SessionManager sessions", () => {
  it("applies the running sessions to Falco whenever the set changes, and only then", async () => {
    const m = manager();
    await m.restore();
    await m.startSession(session("s1"));
    await m.startSession(session("s1"));
    await m.startSession(session("s2"));
    await m.stopSession("s1");
    await m.stopSession("s1");
    await m.stopSession("s2");
    expect(falco.applied).toEqual([["s1"], ["s1", "s2"], ["s2"], []]);
  });

  it("stops idempotently: a second stop returns the same batch count and sends no second FIN", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    const first = await m.stopSession("s1");
    const second = await m.stopSession("s1");
    expect(first).toEqual({ batches: 1 });
    expect(second).toEqual({ batches: 1 });
    expect(publisher.fins("s1")).toHaveLength(1);
  });

  it("answers a stop of an unknown session with zero batches and publishes nothing", async () => {
    const m = manager();
    await expect(m.stopSession("never")).resolves.toEqual({ batches: 0 });
    expect(publisher.messages).toEqual([]);
  });

  it("treats a start whose desired state is stopping as a stop", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    await m.startSession({ ...session("s1"), state: "stopping" });
    expect(m.sessionStatus("s1")[0]!.state).toBe("stopped");
    expect(publisher.fins("s1")).toHaveLength(1);
  });

  it("rejects a session with an invalid label selector without starting it", async () => {
    const m = manager();
    await expect(m.startSession(session("bad", { labelSelector: "app in web" }))).rejects.toThrow(
      /invalid label selector/,
    );
    expect(m.sessionStatus()).toEqual([]);
    expect(falco.applied).toEqual([]);
  });

  it("records a container only in the sessions whose targets select it", async () => {
    const m = manager();
    await m.startSession(session("shop", { namespaces: ["shop"] }));
    await m.startSession(session("dbs", { labelSelector: "app=db" }));
    await m.startSession(session("all"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    m.handleAlert(syscallAlert("fsync", DB_UID, DB_CID, T0));
    await m.flush();
    expect(
      Object.keys(sentCounts(publisher.batches("shop"))).filter((k) => !/exit|sigreturn/.test(k)),
    ).toEqual(["web/read"]);
    expect(
      Object.keys(sentCounts(publisher.batches("dbs"))).filter((k) => !/exit|sigreturn/.test(k)),
    ).toEqual(["db/fsync"]);
    expect(m.sessionStatus("all")[0]).toMatchObject({ containers: 2, eventsSeen: 2 });
  });

  it("ignores events from outside pod containers and events after a session stopped", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert({ ...syscallAlert("read", WEB_UID, WEB_CID, T0), podUid: null, containerId: null });
    await m.stopSession("s1");
    m.handleAlert(syscallAlert("write", WEB_UID, WEB_CID, T0));
    await m.flush();
    expect(publisher.batches("s1")).toEqual([]);
    expect(m.health().counters.alertsRead).toBe(2);
  });
});

describe("SessionManager batches", () => {
  it("sends schema-valid batches with gap-free seq, cumulative counts and a FIN with the batch count", async () => {
    const m = manager({ maxEventsPerBatch: 3 });
    await m.startSession(session("s1"));
    for (const name of ["read", "write", "openat", "close", "mmap"])
      m.handleAlert(syscallAlert(name, WEB_UID, WEB_CID, T0));
    m.handleAlert(drop(7));
    now += 1000;
    await m.flush();
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0 + 1));
    m.handleAlert(syscallAlert("fsync", DB_UID, DB_CID, T0 + 2));
    m.handleAlert(drop(3));
    now += 1000;
    await m.flush();
    await m.flush();
    const result = await m.stopSession("s1");

    const batches = publisher.batches("s1");
    for (const message of publisher.messages) assertValid("eventMessage", message, "published message");
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => i + 1));
    expect(batches.every((b) => b.workloads.reduce((n, w) => n + w.syscalls.length, 0) <= 3)).toBe(true);
    expect(batches[0]).toMatchObject({
      schemaVersion: 1,
      kind: "batch",
      node: "node-a",
      arch: "x86_64",
      droppedEvents: 7,
    });
    expect(batches.at(-1)!.droppedEvents).toBe(10);
    expect(batches[0]!.workloads[0]).toMatchObject({
      pod: webPod.name,
      podUid: WEB_UID,
      containerId: WEB_CID,
    });
    expect(batches[0]!.workloads[0]!.workload).toEqual({
      namespace: "shop",
      kind: "Deployment",
      name: "web",
      container: "nginx",
    });
    expect(sentCounts(batches)).toMatchObject({
      "web/read": 2,
      "web/write": 1,
      "web/exit_group": 0,
      "db/fsync": 1,
    });

    const [fin] = publisher.fins("s1");
    expect(publisher.messages.at(-1)).toEqual(fin);
    expect(fin).toMatchObject({ kind: "fin", batches: batches.length, droppedEvents: 10 });
    // Drops qualify the result: two drop alerts in adjacent seconds are one named window.
    expect(fin!.gaps).toEqual([
      expect.objectContaining({ reason: "Falco dropped 10 events (all processes of the node)" }),
    ]);
    expect(result).toEqual({ batches: batches.length });
    expect(m.health().counters).toMatchObject({ batchesSent: batches.length, falcoDrops: 10 });
  });

  it("keeps the hot-syscall Falco's drops in their own window, which names the only syscalls they can hide", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    const hot = ["read", "write"];
    m.handleAlert(drop(5), hot);
    m.handleAlert(drop(2));
    now += 1000;
    m.handleAlert(drop(4), hot);
    m.handleAlert(drop(1));
    await m.stopSession("s1");
    const [fin] = publisher.fins("s1");
    expect(fin).toMatchObject({ droppedEvents: 12 });
    expect(fin!.gaps).toEqual([
      expect.objectContaining({
        reason:
          "the hot-syscall Falco dropped 9 events (all processes of the node; only read, write can be missing)",
      }),
      expect.objectContaining({ reason: "Falco dropped 3 events (all processes of the node)" }),
    ]);
  });

  it("spreads a large backlog over several flushes and sends all of it on stop", async () => {
    const m = manager({ maxEventsPerBatch: 2, maxBatchesPerFlush: 2 });
    await m.startSession(session("s1"));
    for (let i = 0; i < 10; i++) m.handleAlert(syscallAlert(`call_${i}`, WEB_UID, WEB_CID, T0));
    await m.flush();
    expect(publisher.batches("s1").map((b) => b.seq)).toEqual([1, 2]);
    const { batches } = await m.stopSession("s1");
    // 10 calls + 4 non-returning syscalls, two per batch.
    expect(batches).toBe(7);
    expect(publisher.batches("s1").map((b) => b.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(Object.keys(sentCounts(publisher.batches("s1")))).toHaveLength(14);
  });

  it("rejects a batch limit that is not a positive integer", () => {
    expect(() => manager({ maxEventsPerBatch: 0 })).toThrow(
      /maxEventsPerBatch must be a positive integer, got 0/,
    );
  });

  it("flushes on its timer once started, and flushes on close", async () => {
    const m = manager({ flushIntervalMs: 10 });
    await m.startSession(session("s1"));
    m.startFlushing();
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await vi.waitFor(() => expect(publisher.batches("s1")).toHaveLength(1));
    m.handleAlert(syscallAlert("write", WEB_UID, WEB_CID, T0));
    await m.close();
    expect(publisher.batches("s1")).toHaveLength(2);
    expect(m.sessionStatus("s1")[0]!.state).toBe("running");
  });

  it("does not resend tuples whose count did not change", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await m.flush();
    await m.flush();
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await m.flush();
    const batches = publisher.batches("s1");
    expect(batches).toHaveLength(2);
    expect(batches[1]!.workloads.flatMap((w) => w.syscalls)).toEqual([
      { name: "read", count: 2, firstSeen: T0 },
    ]);
  });

  it("holds count updates below the next power of two while running and sends the exact counts on stop", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    for (let call = 0; call < 5; call++) m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await m.flush();
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await m.flush(); // count 6: not due until 8
    expect(publisher.batches("s1")).toHaveLength(1);
    await m.stopSession("s1");
    const batches = publisher.batches("s1");
    expect(batches).toHaveLength(2);
    expect(batches[1]!.workloads.flatMap((w) => w.syscalls)).toEqual([
      { name: "read", count: 6, firstSeen: T0 },
    ]);
  });

  it("records argument values only for the session's argument syscalls", async () => {
    const m = manager();
    await m.startSession(session("s1", {}, ["ioctl", "socket"]));
    m.handleAlert(syscallAlert("ioctl", WEB_UID, WEB_CID, T0, { request: 0x5401n }));
    m.handleAlert(syscallAlert("socket", WEB_UID, WEB_CID, T0));
    m.handleAlert(syscallAlert("prctl", WEB_UID, WEB_CID, T0, { option: 38n }));
    await m.flush();
    const events = publisher.batches("s1").flatMap((b) => b.workloads.flatMap((w) => w.syscalls));
    expect(events.find((e) => e.name === "ioctl")).toEqual({
      name: "ioctl",
      count: 1,
      firstSeen: T0,
      args: ["21505"],
    });
    expect(events.find((e) => e.name === "socket")!.args).toBeUndefined();
    expect(events.find((e) => e.name === "prctl")!.args).toBeUndefined();
  });

  it("keeps a batch whose publish failed and publishes it again, with the same seq, at the next flush", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    publisher.failures = 1;
    await m.flush();
    expect(publisher.batches("s1")).toEqual([]);
    expect(m.health().lastErrors.map((e) => e.code)).toEqual(["SC_SPOOL_FULL"]);
    m.handleAlert(syscallAlert("write", WEB_UID, WEB_CID, T0));
    await m.flush();
    const batches = publisher.batches("s1");
    expect(batches.map((b) => b.seq)).toEqual([1, 2]);
    expect(batches[0]!.workloads[0]!.syscalls.map((s) => s.name)).toContain("read");
    expect(batches[1]!.workloads[0]!.syscalls.map((s) => s.name)).toEqual(["write"]);
  });
});

describe("SessionManager attribution of containers whose pod is not known yet", () => {
  const newUid = "11111111-2222-4333-8444-555555555555";
  const newCid = "ab".repeat(32);
  const newPod: PodInfo = {
    uid: newUid,
    name: "web-7d9c5b-new",
    namespace: "shop",
    labels: { app: "web" },
    owner: { kind: "Deployment", name: "web" },
    containers: { [newCid]: "nginx" },
  };

  it("holds the events and attributes them once the pod appears", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("execve", newUid, newCid, T0));
    m.handleAlert(syscallAlert("brk", newUid, newCid, T0 + 1));
    await m.flush();
    expect(publisher.batches("s1")).toEqual([]);
    expect(m.health().counters["heldEvents"]).toBe(2);
    now += HOLD_MS - 1;
    pods.add(newPod);
    await m.flush();
    const [batch] = publisher.batches("s1");
    expect(batch!.workloads[0]).toMatchObject({ pod: newPod.name, podUid: newUid, containerId: newCid });
    expect(batch!.workloads[0]!.syscalls.map((s) => s.name)).toEqual(
      expect.arrayContaining(["execve", "brk", "exit", "exit_group"]),
    );
    expect(m.health().counters).toMatchObject({ heldEvents: 0, unattributedEvents: 0 });
  });

  it("keeps holding events while a pod change does not bring their pod", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("execve", newUid, newCid, T0));
    pods.add({ ...dbPod, labels: { app: "db", changed: "yes" } });
    expect(m.health().counters["heldEvents"]).toBe(1);
  });

  it("drops and counts the events still unattributed after the hold time", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("execve", newUid, newCid, T0));
    m.handleAlert(syscallAlert("brk", newUid, newCid, T0));
    now += HOLD_MS;
    await m.flush();
    expect(m.health().counters).toMatchObject({ heldEvents: 0, unattributedEvents: 2 });
    pods.add(newPod);
    await m.flush();
    expect(publisher.batches("s1")).toEqual([]);
  });

  it("bounds the held events, dropping the oldest", async () => {
    const m = manager({ maxHeldEvents: 3 });
    await m.startSession(session("s1"));
    for (const name of ["a1", "a2", "a3", "a4", "a5"]) m.handleAlert(syscallAlert(name, newUid, newCid, T0));
    expect(m.health().counters).toMatchObject({ heldEvents: 3, unattributedEvents: 2 });
    pods.add(newPod);
    await m.flush();
    const names = publisher
      .batches("s1")
      .flatMap((b) => b.workloads.flatMap((w) => w.syscalls.map((s) => s.name)));
    expect(names.filter((n) => n.startsWith("a")).sort()).toEqual(["a3", "a4", "a5"]);
  });
});

describe("SessionManager local record", () => {
  it("writes data.json at every flush with the seq, counts and what was sent", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    await m.flush();
    const data = JSON.parse(await readFile(sessionDataFile(stateDir, "s1"), "utf8"));
    expect(data).toMatchObject({ version: 1, state: "running", nextSeq: 2, eventsSeen: 1 });
    expect(data.containers[0].tuples).toContainEqual(["read", null, 1, T0, true]);
  });

  it("resumes after a restart with the same seq and counts, and reports the downtime as a gap in the FIN", async () => {
    const first = manager();
    await first.startSession(session("s1"));
    recordReads(first, 3);
    now = T0 + 1000;
    await first.flush();
    const persistedAt = now;
    const before = publisher.batches("s1");
    expect(before.map((b) => b.seq)).toEqual([1]);

    // The agent dies; it starts again a minute later with the same state directory.
    now = T0 + 61_000;
    falco = new FakeFalco();
    const second = manager();
    await second.restore();
    expect(falco.applied).toEqual([["s1"]]);
    expect(second.sessionStatus("s1")[0]).toMatchObject({ state: "running", eventsSeen: 3 });
    recordReads(second, 1);
    await second.flush();
    const result = await second.stopSession("s1");

    // The record is written before publishing, so the batch published just before the restart is
    // published again, identical, with the same seq (the stream and aggregator de-duplicate it).
    const batches = publisher.batches("s1");
    expect(batches.map((b) => b.seq)).toEqual([1, 1, 2]);
    expect(batches[1]).toEqual(before[0]);
    expect(batches[2]!.workloads[0]!.syscalls).toEqual([{ name: "read", count: 4, firstSeen: T0 }]);
    const [fin] = publisher.fins("s1");
    expect(fin).toMatchObject({ batches: 2, gaps: [{ from: persistedAt, to: T0 + 61_000 }] });
    expect(result).toEqual({ batches: 2 });
  });

  it("publishes batches that were numbered but not acknowledged before a restart, with their seq", async () => {
    const first = manager();
    await first.startSession(session("s1"));
    recordReads(first, 1);
    publisher.failures = 1;
    await first.flush();
    expect(publisher.batches("s1")).toEqual([]);

    const second = manager();
    await second.restore();
    await second.flush();
    const batches = publisher.batches("s1");
    expect(batches.map((b) => b.seq)).toEqual([1]);
    expect(batches[0]!.workloads[0]!.syscalls.map((s) => s.name)).toContain("read");
  });

  it("restores a stopped session so that a repeated stop still answers its batch count", async () => {
    const first = manager();
    await first.startSession(session("s1"));
    recordReads(first, 1);
    await first.stopSession("s1");
    const second = manager();
    await second.restore();
    await expect(second.stopSession("s1")).resolves.toEqual({ batches: 1 });
    expect(publisher.fins("s1")).toHaveLength(1);
    expect(second.health().activeSessions).toEqual([]);
  });

  it("skips an unreadable record, reporting it in health", async () => {
    const first = manager();
    await first.startSession(session("s1"));
    await first.startSession(session("s2"));
    const { writeFile } = await import("node:fs/promises");
    await writeFile(sessionDataFile(stateDir, "s2"), "{ not json");
    const second = manager();
    await second.restore();
    expect(second.sessionStatus().map((s) => s.sessionId)).toEqual(["s1"]);
    expect(second.health().lastErrors[0]).toMatchObject({ code: "SC_FILE_READ" });
    expect(second.health().lastErrors[0]!.message).toContain(join("s2", "data.json"));
  });

  it("renders schema-valid node profiles per workload: recording while running, complete after stop", async () => {
    const m = manager();
    await m.startSession(session("s1", {}, ["ioctl"]));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    m.handleAlert(syscallAlert("ioctl", WEB_UID, WEB_CID, T0, { request: 0x5401n }));
    m.handleAlert(syscallAlert("fsync", DB_UID, DB_CID, T0));
    m.handleAlert(drop(4));
    const running = m.nodeProfiles("s1");
    for (const doc of running) assertValid("profileDocument", doc, "node profile");
    expect(running.map((d) => [d.workload.name, d.status])).toEqual([
      ["db", "recording"],
      ["web", "recording"],
    ]);
    const web = running[1]!;
    expect(web.nodes).toEqual([{ name: "node-a", arch: "x86_64", droppedEvents: 4 }]);
    expect(web.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    expect(web.syscalls.map((s) => s.name)).toEqual([
      "exit",
      "exit_group",
      "ioctl",
      "read",
      "rt_sigreturn",
      "sigreturn",
    ]);
    expect(web.syscalls.find((s) => s.name === "ioctl")!.args).toEqual([["21505"]]);
    await m.stopSession("s1");
    expect(m.nodeProfiles("s1").map((d) => d.status)).toEqual(["complete", "complete"]);
    expect(m.nodeProfiles("unknown")).toEqual([]);
  });
});

describe("SessionManager health", () => {
  it("reports a schema-valid health with Falco status, counters and the last errors", async () => {
    const m = manager();
    await m.startSession(session("s1"));
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0));
    m.noteParseError(new SeccomposeError("SC_ALERT_MALFORMED", "Falco alert is not JSON"));
    for (let i = 0; i < 25; i++) m.noteParseError(new Error(`broken ${i}`));
    await m.flush();
    const health = m.health();
    assertValid(
      "controlReply",
      { schemaVersion: 1, requestId: "r1", node: "node-a", ok: true, health },
      "health reply",
    );
    expect(health).toMatchObject({
      node: "node-a",
      arch: "x86_64",
      kernel: "6.18.0",
      agentVersion: "0.1.0",
      falco: { state: "running", version: "0.44.1", pid: 4242, restarts: 1 },
      activeSessions: ["s1"],
    });
    expect(health.counters).toMatchObject({
      alertsRead: 1,
      parseErrors: 26,
      batchesSent: 1,
      spoolBytes: 512,
      falcoDrops: 0,
    });
    expect(health.counters.eventsSent).toBe(publisher.batches("s1")[0]!.workloads[0]!.syscalls.length);
    expect(health.lastErrors).toHaveLength(20);
    expect(health.lastErrors.at(-1)).toMatchObject({ code: "SC_INTERNAL", message: "broken 24" });
    expect(health.recent).toEqual({ windowSeconds: 300, alertsRead: 1, parseErrors: 26, errors: 26 });
  });

  it("counts parse errors over a recent window: an old one is history, not the present", async () => {
    const m = manager({ healthWindowMs: 60_000 });
    await m.startSession(session("s1"));
    m.noteParseError(new SeccomposeError("SC_ALERT_MALFORMED", "Falco alert is not JSON"));
    expect(m.health().recent).toMatchObject({ parseErrors: 1, errors: 1 });
    now += 61_000;
    m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, now));
    const health = m.health();
    expect(health.recent).toEqual({ windowSeconds: 60, alertsRead: 1, parseErrors: 0, errors: 0 });
    // Since boot, it still counts.
    expect(health.counters.parseErrors).toBe(1);
    expect(health.lastErrors).toHaveLength(1);
    await m.close();
  });
});

describe("SessionManager deleted sessions", () => {
  it("drops a deleted session without a FIN, removes its local record and reconfigures Falco", async () => {
    const m = manager();
    await m.startSession(session("d1"));
    await m.startSession(session("d2"));
    recordReads(m, 2);
    await m.flush();
    await readFile(sessionDataFile(stateDir, "d1"), "utf8");
    await m.dropSession("d1");
    expect(m.sessionStatus().map((s) => s.sessionId)).toEqual(["d2"]);
    await expect(readFile(sessionDataFile(stateDir, "d1"), "utf8")).rejects.toMatchObject({ code: "ENOENT" });
    expect(publisher.fins("d1")).toEqual([]);
    expect(falco.applied.at(-1)).toEqual(["d2"]);
    // Nothing of it comes back after a restart, and a drop of an unknown session is no error.
    await m.close();
    const restarted = manager();
    await restarted.restore();
    expect(restarted.sessionStatus().map((s) => s.sessionId)).toEqual(["d2"]);
    await restarted.dropSession("nope");
    await restarted.close();
  });
});

describe("SessionManager bounds", () => {
  it("refuses a start beyond maxActiveSessions with SC_SESSION_LIMIT, and accepts one again after a stop", async () => {
    const m = manager({ maxActiveSessions: 2 });
    await m.startSession(session("b1"));
    await m.startSession(session("b2"));
    await expect(m.startSession(session("b3"))).rejects.toMatchObject({ code: "SC_SESSION_LIMIT" });
    // A start of a session it already records is not a new session.
    await m.startSession(session("b2"));
    expect(m.health().activeSessions).toEqual(["b1", "b2"]);

    await m.stopSession("b1");
    await m.startSession(session("b3"));
    expect(m.health().activeSessions).toEqual(["b2", "b3"]);
    await m.close();
  });

  it("keeps at most maxFinishedSessions stopped sessions, removing the oldest from memory and disk", async () => {
    const m = manager({ maxFinishedSessions: 2 });
    for (const id of ["f1", "f2", "f3"]) {
      await m.startSession(session(id));
      await m.stopSession(id);
    }
    expect(m.sessionStatus().map((s) => s.sessionId)).toEqual(["f2", "f3"]);
    await expect(readFile(sessionDataFile(stateDir, "f1"), "utf8")).rejects.toMatchObject({ code: "ENOENT" });
    await readFile(sessionDataFile(stateDir, "f3"), "utf8");
    await m.close();

    // A restart with a lower bound prunes what is over it, oldest first.
    const restarted = manager({ maxFinishedSessions: 1 });
    await restarted.restore();
    expect(restarted.sessionStatus().map((s) => s.sessionId)).toEqual(["f3"]);
    await restarted.close();
  });
});

function recordReads(m: SessionManager, times: number): void {
  for (let i = 0; i < times; i++) m.handleAlert(syscallAlert("read", WEB_UID, WEB_CID, T0 + i));
}
