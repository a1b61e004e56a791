import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import { NodeSessions } from "./node-sessions.ts";
import { sessionDataFile } from "./session-store.ts";
import { newSession, persistSession, type Session } from "./session.ts";

const T0 = 1_800_000_000_000;

let stateDir: string;
let now: number;

function nodeSessions(maxFinished = 2): NodeSessions {
  return new NodeSessions({
    stateDir,
    logger: pino({ level: "silent" }),
    clock: () => now,
    nonReturning: [],
    maxFinished,
  });
}

/** A session in `state`, its local record written at `persistedAt`. */
async function recorded(id: string, state: Session["state"], persistedAt: number): Promise<Session> {
  const session = newSession(sessionRecord(id), [], persistedAt, true);
  session.state = state;
  await persistSession(stateDir, session, persistedAt);
  return session;
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sc-node-sessions-"));
  now = T0;
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("NodeSessions", () => {
  it("lists the running sessions by id and counts the running and stopping ones as active", () => {
    const sessions = nodeSessions();
    for (const [id, state] of [
      ["b", "running"],
      ["c", "stopped"],
      ["a", "running"],
      ["d", "stopping"],
    ] as const) {
      const session = newSession(sessionRecord(id), [], T0, true);
      session.state = state;
      sessions.add(session);
    }
    expect(sessions.running().map((s) => s.record.id)).toEqual(["a", "b"]);
    expect(sessions.activeCount()).toBe(3);
  });

  it("restores a running session with the time the agent was down as a gap that goes on until Falco captures", async () => {
    await recorded("s1", "running", T0);
    now = T0 + 60_000;
    const sessions = nodeSessions();
    await sessions.restore(() => expect.unreachable());
    const session = sessions.get("s1")!;
    expect(session.gaps).toEqual([{ from: T0, to: T0 + 60_000, reason: "the agent was not running" }]);
    expect(session).toMatchObject({
      dirty: true,
      captured: true,
      down: { from: T0 + 60_000, reason: "the agent was not running" },
    });
  });

  it("hands unreadable records to onError and restores the rest", async () => {
    await recorded("good", "running", T0);
    await recorded("bad", "running", T0);
    await writeFile(sessionDataFile(stateDir, "bad"), "{ not json");
    const errors: unknown[] = [];
    const sessions = nodeSessions();
    await sessions.restore((err) => errors.push(err));
    expect([...sessions.values()].map((s) => s.record.id)).toEqual(["good"]);
    expect(errors).toEqual([expect.objectContaining({ code: "SC_FILE_READ" })]);
  });

  it("keeps at most maxFinished stopped sessions, forgetting the oldest stopped (by its record) and removing its record", async () => {
    await recorded("f-new", "stopped", T0 + 2);
    await recorded("f-old", "stopped", T0 + 1);
    const sessions = nodeSessions(1);
    await sessions.restore(() => expect.unreachable());
    await sessions.pruneFinished();
    expect([...sessions.values()].map((s) => s.record.id)).toEqual(["f-new"]);
    await expect(readFile(sessionDataFile(stateDir, "f-old"), "utf8")).rejects.toMatchObject({
      code: "ENOENT",
    });

    const s3 = await recorded("f3", "stopped", T0 + 3);
    sessions.add(s3);
    await sessions.finished("f3");
    expect([...sessions.values()].map((s) => s.record.id)).toEqual(["f3"]);
  });

  it("forgets a session at once, so that it no longer counts among the finished", async () => {
    const sessions = nodeSessions(1);
    sessions.add(await recorded("f1", "stopped", T0));
    await sessions.finished("f1");
    sessions.forget("f1");
    expect(sessions.has("f1")).toBe(false);
    // A session of the same id started again is not the finished one it replaced.
    sessions.add(await recorded("f1", "running", T0 + 1));
    sessions.add(await recorded("f2", "stopped", T0 + 2));
    await sessions.finished("f2");
    expect([...sessions.values()].map((s) => s.record.id)).toEqual(["f1", "f2"]);
  });
});
