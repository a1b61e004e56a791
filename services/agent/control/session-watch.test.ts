import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type {
  AgentHealth,
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
} from "../../../lib/contracts/index.ts";
import { SessionDirectory } from "../../../lib/nats/session-directory.ts";
import { ensureKv } from "../../../lib/nats/streams.ts";
import { BUCKET_SESSIONS } from "../../../lib/subjects.ts";
import { eventually } from "../../../test/helpers/eventually.ts";
import { startNatsServer } from "../../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../../test/helpers/nats.ts";
import type { AgentController } from "../ports.ts";
import { SessionWatch } from "./session-watch.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";

const logger = pino({ level: "silent" });

function record(id: string, state: SessionRecord["state"]): SessionRecord {
  return sessionRecord(id, { state, createdAt: "2026-11-27T10:00:00Z", targets: { namespaces: ["shop"] } });
}

/** Records the calls the watch makes, in order. */
class RecordingController implements AgentController {
  readonly calls: string[] = [];

  async startSession(session: SessionRecord): Promise<void> {
    this.calls.push(`start ${session.id}`);
  }

  async stopSession(sessionId: string): Promise<{ batches: number }> {
    this.calls.push(`stop ${sessionId}`);
    return { batches: 0 };
  }

  async dropSession(sessionId: string): Promise<void> {
    this.calls.push(`drop ${sessionId}`);
  }

  sessionStatus(): NodeSessionStatus[] {
    return [];
  }

  health(): AgentHealth {
    throw new Error("not used by the session watch");
  }

  nodeProfiles(): ProfileDocument[] {
    return [];
  }
}

describe("SessionWatch", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let kv: KV;
  const watches: SessionWatch[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  beforeEach(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${BUCKET_SESSIONS}`).catch(() => false);
    kv = await ensureKv(jetstream(nc), BUCKET_SESSIONS, { history: 5 });
  });

  afterEach(async () => {
    await Promise.all(watches.splice(0).map((w) => w.stop()));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  async function startWatch(controller: AgentController, resyncMs?: number): Promise<SessionWatch> {
    const directory = await SessionDirectory.open(nc);
    const watch = await SessionWatch.start({
      nc,
      directory,
      controller,
      logger,
      ...(resyncMs !== undefined ? { resyncMs } : {}),
    });
    watches.push(watch);
    return watch;
  }

  it("applies the records present before it started, latest value per session, before start() resolves", async () => {
    await kv.put("s-run", JSON.stringify(record("s-run", "running")));
    await kv.put("s-done", JSON.stringify(record("s-done", "running")));
    await kv.put("s-done", JSON.stringify(record("s-done", "stopped")));
    await kv.put("s-halting", JSON.stringify(record("s-halting", "stopping")));
    const controller = new RecordingController();

    await startWatch(controller);

    expect(controller.calls).toEqual(["start s-run", "stop s-done", "stop s-halting"]);
  });

  it("starts and stops sessions as their records change after it started", async () => {
    const controller = new RecordingController();
    const watch = await startWatch(controller);
    expect(controller.calls).toEqual([]);

    await kv.put("s-live", JSON.stringify(record("s-live", "running")));
    await eventually("the start", () => controller.calls.length === 1);
    await kv.put("s-live", JSON.stringify(record("s-live", "stopping")));
    await eventually("the stop", () => controller.calls.length === 2);
    await kv.delete("s-gone");
    await eventually("the drop of a deleted record", () => controller.calls.length === 3);

    expect(controller.calls).toEqual(["start s-live", "stop s-live", "drop s-gone"]);
    expect(watch.stats()).toEqual({ applied: 3, invalid: 0, failed: 0 });
  });

  it("skips and counts records that are not JSON, break the contract or sit under another session's key", async () => {
    await kv.put("s-garbage", "{nope");
    await kv.put("s-bad", JSON.stringify({ ...record("s-bad", "running"), state: "paused" }));
    await kv.put("s-mismatch", JSON.stringify(record("s-other", "running")));
    await kv.put("s-good", JSON.stringify(record("s-good", "running")));
    const controller = new RecordingController();

    const watch = await startWatch(controller);

    expect(controller.calls).toEqual(["start s-good"]);
    expect(watch.stats()).toEqual({ applied: 1, invalid: 3, failed: 0 });
  });

  it("notices changes it was not told of, such as a purged bucket, at its periodic check", async () => {
    await kv.put("s-purged", JSON.stringify(record("s-purged", "running")));
    const controller = new RecordingController();
    await startWatch(controller, 200);
    expect(controller.calls).toEqual(["start s-purged"]);

    // A stream purge republishes nothing: only the check of the stream's sequences finds it.
    await (await jetstreamManager(nc)).streams.purge(`KV_${BUCKET_SESSIONS}`);
    await eventually("the drop of the purged record", () => controller.calls.length === 2);
    expect(controller.calls).toEqual(["start s-purged", "drop s-purged"]);
  });
});
