import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertValid } from "../../../lib/contracts/index.ts";
import type {
  AgentHealth,
  ControlReply,
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
} from "../../../lib/contracts/index.ts";
import { SeccomposeError } from "../../../lib/errors.ts";
import { toProfileDocument } from "../../../lib/profile/document.ts";
import { ObservationSet } from "../../../lib/profile/observations.ts";
import {
  CONTROL_SUBJECTS,
  nodeControlSubject,
  replySubjectsOf,
  subjectToken,
} from "../../../lib/subjects.ts";
import { startNatsServer } from "../../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../../test/helpers/nats.ts";
import type { AgentController } from "../ports.ts";
import { ControlPlane } from "./control-plane.ts";
import {
  createProfileInstaller,
  createProfileLister,
  createProfileRemover,
} from "../install/profile-installer.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";

const logger = pino({ level: "silent" });

function record(id: string, state: SessionRecord["state"] = "running"): SessionRecord {
  return sessionRecord(id, { state, createdAt: "2026-11-27T10:00:00Z", targets: { namespaces: ["shop"] } });
}

class FakeController implements AgentController {
  readonly node: string;
  readonly sessions = new Map<string, NodeSessionStatus>();
  readonly calls: string[] = [];
  failNextStart: Error | undefined;

  constructor(node: string) {
    this.node = node;
  }

  async startSession(session: SessionRecord): Promise<void> {
    this.calls.push(`start ${session.id}`);
    if (this.failNextStart) {
      const err = this.failNextStart;
      this.failNextStart = undefined;
      throw err;
    }
    this.sessions.set(session.id, {
      sessionId: session.id,
      state: "running",
      containers: 2,
      batchesSent: 0,
      eventsSeen: 0,
    });
  }

  async stopSession(sessionId: string): Promise<{ batches: number }> {
    this.calls.push(`stop ${sessionId}`);
    const status = this.sessions.get(sessionId);
    if (status) status.state = "stopped";
    return { batches: status?.batchesSent ?? 0 };
  }

  async dropSession(sessionId: string): Promise<void> {
    this.calls.push(`drop ${sessionId}`);
    this.sessions.delete(sessionId);
  }

  sessionStatus(sessionId?: string): NodeSessionStatus[] {
    return [...this.sessions.values()].filter((s) => sessionId === undefined || s.sessionId === sessionId);
  }

  health(): AgentHealth {
    return {
      node: this.node,
      arch: "x86_64",
      kernel: "6.1.0-18-amd64",
      agentVersion: "0.1.0",
      falco: { state: "running", version: "0.44.1", pid: 4242, restarts: 1 },
      activeSessions: [...this.sessions.keys()],
      counters: {
        alertsRead: 120,
        parseErrors: 1,
        eventsSent: 80,
        batchesSent: 4,
        spoolBytes: 0,
        falcoDrops: 0,
      },
      lastErrors: [],
    };
  }

  nodeProfiles(sessionId: string): ProfileDocument[] {
    const set = new ObservationSet();
    set.applyBatch({
      schemaVersion: 1,
      kind: "batch",
      session: sessionId,
      node: this.node,
      arch: "x86_64",
      seq: 1,
      sentAt: 1_700_000_000_000,
      droppedEvents: 0,
      workloads: [
        {
          workload: { namespace: "shop", kind: "Deployment", name: "cart", container: "app" },
          syscalls: [
            { name: "read", count: 3, firstSeen: 1_700_000_000_000 },
            { name: "write", count: 1, firstSeen: 1_700_000_000_000 },
          ],
        },
      ],
    });
    return [...set.workloads.values()].map((wo) =>
      toProfileDocument(wo, { session: sessionId, revision: 1, status: "partial", argSyscalls: [] }),
    );
  }
}

describe("ControlPlane", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let client: NatsConnection;
  const planes: ControlPlane[] = [];
  /** The session records the agents find in "KV sc_sessions". */
  const records = new Map<string, SessionRecord>();

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
    client = await connect({ servers: server.url });
  });

  afterEach(async () => {
    await Promise.all(planes.splice(0).map((p) => p.stop()));
    records.clear();
  });

  afterAll(async () => {
    await client?.close();
    await nc?.close();
    await server?.stop();
  });

  async function startPlane(node: string): Promise<{ plane: ControlPlane; controller: FakeController }> {
    const controller = new FakeController(node);
    const plane = await ControlPlane.start({
      nc,
      node,
      controller,
      sessionRecord: async (id) => records.get(id),
      logger,
    });
    planes.push(plane);
    return { plane, controller };
  }

  let tokens = 0;

  /**
   * Scatter-gather as the CLI does it: the request carries a reply token and the agents publish on
   * sc.reply.<token>.<node>; collects until `count` replies arrived (or 2 s passed). Each reply's
   * subject must name the node its body names.
   */
  async function gather(subject: string, body: object | string, count: number): Promise<unknown[]> {
    const replyToken = `test-reply-token-${String(++tokens).padStart(4, "0")}`;
    const text = typeof body === "string" ? body : JSON.stringify({ ...body, replyToken });
    const replies: unknown[] = [];
    const sub = client.subscribe(replySubjectsOf(replyToken), { max: count, timeout: 2_000 });
    await client.flush();
    client.publish(subject, text);
    try {
      for await (const m of sub) {
        const value = m.json<unknown>();
        const node = (value as { node?: string }).node;
        if (node !== undefined) expect(m.subject.endsWith(`.${subjectToken(node)}`)).toBe(true);
        replies.push(value);
      }
    } catch {
      // The timeout: fewer replies than `count`.
    }
    return replies;
  }

  it("lists its seccomp directory on sc.ctl.installed and removes one file on its own uninstall subject only", async () => {
    const seccompDir = await mkdtemp(join(tmpdir(), "seccompose-control-"));
    try {
      const install = createProfileInstaller("node-a", seccompDir);
      const installed = await install({ name: "p", profile: '{"defaultAction":"SCMP_ACT_ERRNO"}' });
      await writeFile(join(tmpdir(), "outside-control.json"), "{}");
      const plane = await ControlPlane.start({
        nc,
        node: "node-a",
        controller: new FakeController("node-a"),
        sessionRecord: async () => undefined,
        installer: install,
        lister: createProfileLister("node-a", seccompDir),
        remover: createProfileRemover("node-a", seccompDir),
        logger,
      });
      planes.push(plane);
      const [listed] = await gather(
        CONTROL_SUBJECTS.installed,
        { schemaVersion: 1, op: "installed", requestId: "l1" },
        1,
      );
      expect(assertValid("controlReply", listed, "test").profiles).toEqual([
        { name: "p", path: installed.path, bytes: installed.bytes, sha256: installed.sha256 },
      ]);

      const uninstall = (name: string) => ({ schemaVersion: 1, op: "uninstall", requestId: "u1", name });
      const [refused] = await gather(
        nodeControlSubject("node-a", "uninstall"),
        uninstall("../outside-control"),
        1,
      );
      expect(refused).toMatchObject({ ok: false, error: { code: "SC_MESSAGE_INVALID" } });
      expect(await readFile(join(tmpdir(), "outside-control.json"), "utf8")).toBe("{}");
      expect(await gather(nodeControlSubject("node-b", "uninstall"), uninstall("p"), 1)).toEqual([]);
      const [removed] = await gather(nodeControlSubject("node-a", "uninstall"), uninstall("p"), 1);
      expect(assertValid("controlReply", removed, "test").uninstalled).toEqual({
        name: "p",
        path: installed.path,
        removed: true,
      });
      expect(await readdir(seccompDir)).toEqual([]);
    } finally {
      await rm(seccompDir, { recursive: true, force: true });
      await rm(join(tmpdir(), "outside-control.json"), { force: true });
    }
  });

  it("answers a health request with a schema-valid reply carrying the agent's health", async () => {
    const { controller } = await startPlane("node-a");
    const [reply] = await gather(
      CONTROL_SUBJECTS.health,
      { schemaVersion: 1, op: "health", requestId: "req-1" },
      1,
    );
    const valid = assertValid("controlReply", reply, "test");
    expect(valid).toMatchObject({ requestId: "req-1", node: "node-a", ok: true });
    expect(valid.health).toEqual(controller.health());
  });

  it("gets one reply from every agent, because agents subscribe without a queue group", async () => {
    await startPlane("node-a");
    await startPlane("node-b");
    const replies = await gather(
      CONTROL_SUBJECTS.health,
      { schemaVersion: 1, op: "health", requestId: "req-all" },
      2,
    );
    expect(replies.map((r) => (r as ControlReply).node).sort()).toEqual(["node-a", "node-b"]);
  });

  it("starts a session on a start request and replies with the session's status", async () => {
    const { controller } = await startPlane("node-a");
    records.set("s-start", record("s-start"));
    const [reply] = await gather(
      CONTROL_SUBJECTS.start,
      { schemaVersion: 1, op: "start", requestId: "req-2", sessionId: "s-start" },
      1,
    );
    expect(controller.calls).toEqual(["start s-start"]);
    const valid = assertValid("controlReply", reply, "test");
    expect(valid.ok).toBe(true);
    expect(valid.sessions).toEqual([
      { sessionId: "s-start", state: "running", containers: 2, batchesSent: 0, eventsSeen: 0 },
    ]);
  });

  it("stops a session on a stop request and reports status for one session on a status request", async () => {
    const { controller } = await startPlane("node-a");
    await controller.startSession(record("s-stop"));
    await controller.startSession(record("s-other"));
    await gather(
      CONTROL_SUBJECTS.stop,
      { schemaVersion: 1, op: "stop", requestId: "req-3", sessionId: "s-stop" },
      1,
    );
    const [status] = await gather(
      CONTROL_SUBJECTS.status,
      { schemaVersion: 1, op: "status", requestId: "req-4", sessionId: "s-stop" },
      1,
    );
    expect(controller.calls).toContain("stop s-stop");
    expect(assertValid("controlReply", status, "test").sessions).toEqual([
      { sessionId: "s-stop", state: "stopped", containers: 2, batchesSent: 0, eventsSeen: 0 },
    ]);
  });

  it("counts a request that is not JSON, which has no reply token to answer to, and keeps answering", async () => {
    const { plane } = await startPlane("node-a");
    expect(await gather(CONTROL_SUBJECTS.health, "{not json", 1)).toEqual([]);

    const [good] = await gather(
      CONTROL_SUBJECTS.health,
      { schemaVersion: 1, op: "health", requestId: "req-5" },
      1,
    );
    expect((good as ControlReply).ok).toBe(true);
    expect(plane.stats()).toEqual({ requests: 2, invalid: 1, failed: 0 });
  });

  it("replies with the offending field to a request that breaks the contract, echoing its request id", async () => {
    await startPlane("node-a");
    const [bad] = await gather(
      CONTROL_SUBJECTS.stop,
      { schemaVersion: 1, op: "stop", requestId: "req-6", sessionId: "not a valid id!" },
      1,
    );
    const reply = assertValid("controlReply", bad, "test");
    expect(reply).toMatchObject({ ok: false, requestId: "req-6" });
    expect(reply.error?.code).toBe("SC_MESSAGE_INVALID");
    expect(reply.error?.message).toContain("sessionId");
  });

  it("refuses a valid request sent on the subject of another operation", async () => {
    const { controller } = await startPlane("node-a");
    const [bad] = await gather(
      CONTROL_SUBJECTS.start,
      { schemaVersion: 1, op: "stop", requestId: "req-7", sessionId: "s1" },
      1,
    );
    expect(bad).toMatchObject({ ok: false, error: { code: "SC_MESSAGE_INVALID" } });
    expect(controller.calls).toEqual([]);
  });

  it("reports the controller's failure with its error code and counts it", async () => {
    const { plane, controller } = await startPlane("node-a");
    records.set("s-fail", record("s-fail"));
    controller.failNextStart = new SeccomposeError(
      "SC_CONFIG_INVALID",
      "label selector app in (x is malformed",
    );
    const [reply] = await gather(
      CONTROL_SUBJECTS.start,
      { schemaVersion: 1, op: "start", requestId: "req-8", sessionId: "s-fail" },
      1,
    );
    expect(assertValid("controlReply", reply, "test")).toMatchObject({
      ok: false,
      requestId: "req-8",
      error: { code: "SC_CONFIG_INVALID", message: "label selector app in (x is malformed" },
    });
    expect(plane.stats().failed).toBe(1);
  });

  it("answers a profile request on its node's subject with that node's schema-valid profile documents", async () => {
    await startPlane("node-a.example");
    await startPlane("node-b");
    const [documents] = (await gather(
      nodeControlSubject("node-a.example", "profile"),
      { schemaVersion: 1, op: "status", requestId: "req-9", sessionId: "s-prof" },
      1,
    )) as [unknown[]];
    expect(documents).toHaveLength(1);
    const doc = assertValid("profileDocument", documents[0], "test");
    expect(doc.session).toBe("s-prof");
    expect(doc.syscalls.map((s) => s.name)).toEqual(["read", "write"]);
  });

  it("replies with an error to a profile request that names no session", async () => {
    await startPlane("node-a");
    const [reply] = await gather(
      nodeControlSubject("node-a", "profile"),
      { schemaVersion: 1, op: "status", requestId: "req-10" },
      1,
    );
    expect(reply).toMatchObject({
      ok: false,
      requestId: "req-10",
      error: { code: "SC_MESSAGE_INVALID" },
    });
  });

  it("refuses to start a session that has no record in KV sc_sessions, and never creates it", async () => {
    const { plane, controller } = await startPlane("node-a");
    const [reply] = await gather(
      CONTROL_SUBJECTS.start,
      { schemaVersion: 1, op: "start", requestId: "req-11", sessionId: "s-forged" },
      1,
    );
    expect(assertValid("controlReply", reply, "test")).toMatchObject({
      ok: false,
      node: "node-a",
      error: { code: "SC_SESSION_NOT_FOUND" },
    });
    expect(controller.calls).toEqual([]);
    expect(controller.sessionStatus()).toEqual([]);
    expect(plane.stats().failed).toBe(1);
  });

  it("starts the session as its record says, whatever else the request holds", async () => {
    const { controller } = await startPlane("node-a");
    records.set("s-stored", record("s-stored", "stopping"));
    const started: SessionRecord[] = [];
    controller.startSession = async (session) => void started.push(session);
    await gather(
      CONTROL_SUBJECTS.start,
      { schemaVersion: 1, op: "start", requestId: "req-12", sessionId: "s-stored" },
      1,
    );
    expect(started).toEqual([record("s-stored", "stopping")]);
  });
});
