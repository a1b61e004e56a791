import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SeccomposeError } from "../../../lib/errors.ts";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import { FalcoPlan } from "./falco-plan.ts";
import { LeftOutCoverage } from "./left-out-coverage.ts";
import { NodeSessions } from "./node-sessions.ts";
import { SessionFlusher } from "./session-flusher.ts";
import { SessionLifecycle } from "./session-lifecycle.ts";
import { FakeFalco, FakePods, FakePublisher } from "../../../test/helpers/agent-fakes.ts";

const T0 = 1_800_000_000_000;

const pods = new FakePods();

let stateDir: string;
let falco: FakeFalco;
let publisher: FakePublisher;
let runningSets: string[][];
let errors: unknown[];

function lifecycle(excludeNonTargetPods = false): { lifecycle: SessionLifecycle; plan: FalcoPlan } {
  const logger = pino({ level: "silent" });
  const clock = (): number => T0;
  const records = new SerialQueue();
  const plan = new FalcoPlan({
    falco,
    pods,
    clock,
    logger,
    coverage: new LeftOutCoverage(),
    excludeNonTargetPods,
  });
  const sessions = new NodeSessions({ stateDir, logger, clock, nonReturning: [], maxFinished: 4 });
  const flusher = new SessionFlusher({
    node: "node-a",
    arch: "x86_64",
    stateDir,
    publisher,
    clock,
    maxEventsPerBatch: 100,
    maxBatchesPerFlush: 20,
    counters: { batchesSent: 0, eventsSent: 0 },
  });
  return {
    plan,
    lifecycle: new SessionLifecycle({
      node: "node-a",
      stateDir,
      falco,
      logger,
      clock,
      nonReturning: [],
      maxActiveSessions: 4,
      sessions,
      flusher,
      plan,
      records,
      noteError: (err) => errors.push(err),
      onRunning: (running) => runningSets.push(running.map((s) => s.record.id)),
    }),
  };
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sc-lifecycle-"));
  falco = new FakeFalco();
  publisher = new FakePublisher();
  runningSets = [];
  errors = [];
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("SessionLifecycle", () => {
  it("tells the running sessions, by id, whenever they change", async () => {
    const { lifecycle: sessions } = lifecycle();
    await sessions.start(sessionRecord("b"));
    await sessions.start(sessionRecord("a"));
    await sessions.stop("b");
    await sessions.drop("a");
    expect(runningSets).toEqual([["b"], ["a", "b"], ["a"], []]);
    expect(falco.applied).toEqual([["b"], ["a", "b"], ["a"], []]);
  });

  it("notes, rather than throws, a failure to reconfigure Falco after a stop, whose FIN is out", async () => {
    const { lifecycle: sessions, plan } = lifecycle();
    await sessions.start(sessionRecord("s1"));
    falco.failure = new SeccomposeError("SC_FILE_WRITE", "cannot write the Falco rules");
    await expect(sessions.stop("s1")).resolves.toEqual({ batches: 0 });
    expect(publisher.messages.map((m) => m.kind)).toEqual(["fin"]);
    expect(errors).toEqual([falco.failure]);
    // Applied again at the next flush.
    expect(plan.stale).toBe(true);
    falco.failure = undefined;
    await sessions.reapplyIfStale();
    expect(plan.stale).toBe(false);
    await sessions.reapplyIfStale();
    expect(falco.applied).toEqual([["s1"], [], []]);
  });

  it("makes one re-plan of the re-plans asked for while one waits for the control operations", async () => {
    const { lifecycle: sessions } = lifecycle();
    const start = sessions.start(sessionRecord("s1"));
    sessions.replanSoon();
    sessions.replanSoon();
    await start;
    // A start of a running session changes nothing; it runs after the queued re-plan.
    await sessions.start(sessionRecord("s1"));
    expect(falco.applied).toEqual([["s1"], ["s1"]]);
    sessions.replanSoon();
    await sessions.start(sessionRecord("s1"));
    expect(falco.applied).toEqual([["s1"], ["s1"], ["s1"]]);
  });
});
