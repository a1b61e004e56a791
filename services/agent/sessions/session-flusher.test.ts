import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FinMarker, SyscallEventBatch } from "../../../lib/contracts/types.ts";
import { SeccomposeError } from "../../../lib/errors.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import type { EventPublisher } from "../ports.ts";
import { SessionFlusher } from "./session-flusher.ts";
import { readAllSessionData } from "./session-store.ts";
import { newSession, type Session } from "./session.ts";

const T0 = 1_800_000_000_000;
const WEB = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const META = { pod: "web-0", podUid: "pod-1", containerId: "c".repeat(64) };

/** Publishes into `sent`; `failures` publishes fail first. Each publish also notes the seqs the local record held then. */
class RecordingPublisher implements EventPublisher {
  readonly sent: Array<SyscallEventBatch | FinMarker> = [];
  readonly recordedAtPublish: number[][] = [];
  failures = 0;
  readonly #stateDir: string;
  constructor(stateDir: string) {
    this.#stateDir = stateDir;
  }
  async publish(message: SyscallEventBatch | FinMarker): Promise<void> {
    const { sessions } = await readAllSessionData(this.#stateDir);
    this.recordedAtPublish.push(sessions[0]!.pending.map((b) => b.seq));
    if (this.failures > 0) {
      this.failures--;
      throw new SeccomposeError("SC_SPOOL_FULL", "spool is full");
    }
    this.sent.push(structuredClone(message));
  }
  async drain(): Promise<void> {}
  spoolBytes(): number {
    return 0;
  }
}

let stateDir: string;
let publisher: RecordingPublisher;
let counters: { batchesSent: number; eventsSent: number };

function flusher(maxEventsPerBatch: number, maxBatchesPerFlush: number): SessionFlusher {
  return new SessionFlusher({
    node: "node-a",
    arch: "x86_64",
    stateDir,
    publisher,
    clock: () => T0 + 500,
    maxEventsPerBatch,
    maxBatchesPerFlush,
    counters,
  });
}

function sessionCalling(...names: string[]): Session {
  const session = newSession(sessionRecord("s1"), [], T0, true);
  for (const name of names) session.tracker.record(META.containerId, WEB, META, name, undefined, T0);
  return session;
}

const seqs = (messages: Array<SyscallEventBatch | FinMarker>): Array<number | "fin"> =>
  messages.map((m) => (m.kind === "batch" ? m.seq : "fin"));

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sc-flusher-"));
  publisher = new RecordingPublisher(stateDir);
  counters = { batchesSent: 0, eventsSent: 0 };
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("SessionFlusher", () => {
  it("numbers at most maxBatchesPerFlush batches a flush, each in the local record before it is published", async () => {
    const session = sessionCalling("a", "b", "c", "d", "e");
    const flush = flusher(2, 2);
    await flush.flush(session);
    expect(seqs(publisher.sent)).toEqual([1, 2]);
    expect(publisher.recordedAtPublish).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(publisher.sent[0]).toMatchObject({
      node: "node-a",
      arch: "x86_64",
      session: "s1",
      sentAt: T0 + 500,
    });
    expect(counters).toEqual({ batchesSent: 2, eventsSent: 4 });
    expect(session).toMatchObject({ nextSeq: 3, batchesSent: 2, pending: [] });
    await flush.flush(session);
    expect(seqs(publisher.sent)).toEqual([1, 2, 3]);
  });

  it("keeps a batch whose publish failed, to publish it with the same seq at the next flush", async () => {
    const session = sessionCalling("read");
    const flush = flusher(100, 20);
    publisher.failures = 1;
    await expect(flush.flush(session)).rejects.toMatchObject({ code: "SC_SPOOL_FULL" });
    expect(session.pending.map((b) => b.seq)).toEqual([1]);
    session.tracker.record(META.containerId, WEB, META, "write", undefined, T0);
    await flush.flush(session);
    expect(seqs(publisher.sent)).toEqual([1, 2]);
    expect(counters.batchesSent).toBe(2);
  });

  it("finishes with every change beyond the per-flush bound and exact counts, then the FIN with the batch count and gaps", async () => {
    const session = sessionCalling("a", "a", "a", "a", "a", "b", "c", "d", "e");
    session.droppedEvents = 3;
    session.gaps.push({ from: T0, to: T0 + 1000, drops: 3, reason: "Falco dropped 3 events" });
    const flush = flusher(2, 1);
    await flush.flush(session);
    expect(seqs(publisher.sent)).toEqual([1]);
    // Count 6 is not due until 8 while running (powers of two); the last flush sends it all the same.
    session.tracker.record(META.containerId, WEB, META, "a", undefined, T0);
    await flush.finish(session);
    expect(seqs(publisher.sent)).toEqual([1, 2, 3, "fin"]);
    const counts = publisher.sent
      .filter((m): m is SyscallEventBatch => m.kind === "batch")
      .flatMap((b) => b.workloads.flatMap((w) => w.syscalls))
      .filter((s) => s.name === "a")
      .map((s) => s.count);
    expect(counts).toEqual([5, 6]);
    expect(publisher.sent.at(-1)).toEqual({
      schemaVersion: 1,
      kind: "fin",
      session: "s1",
      node: "node-a",
      batches: 3,
      sentAt: T0 + 500,
      droppedEvents: 3,
      gaps: [{ from: T0, to: T0 + 1000, reason: "Falco dropped 3 events" }],
    });
  });
});
