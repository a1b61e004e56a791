/**
 * A Falco that never captures (its probe does not load, so it crash-loops) must not give a
 * `complete` recording: seen with the real Falco, which cannot be made to fail that way on
 * purpose, so the stand-in Falco crash-loops here exactly as the agent launches Falco.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FinMarker } from "../../lib/contracts/types.ts";
import { waitCapturing } from "../../cli/session/wait-capturing.ts";
import { agentHttp, startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { control, prepareBroker, readSessionMessages, sessionRecord } from "../helpers/cluster.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";

describe("a node whose Falco never captured", () => {
  let dir: string;
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "seccompose-never-captured-"));
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await prepareBroker(nc);
  });
  afterAll(async () => {
    await agent?.stop();
    await nc?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps start from reporting success, is not ready, and its FIN names the whole session as a gap with the cause", async () => {
    const podsFile = join(dir, "pods.json");
    await writeFile(podsFile, JSON.stringify({ pods: [] }));
    agent = await startAgentProcess({
      node: "node-broken",
      natsUrls: [server.url],
      stateDir: join(dir, "state"),
      podsFile,
      env: { STANDIN_MODE: "crash" },
    });
    const startedAt = Date.now();
    const [started] = await control(nc, "start", { session: sessionRecord("broken1") });
    expect(started?.ok).toBe(true);

    const problems = await waitCapturing(nc, ["node-broken"], 3_000);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^agent on node node-broken is not capturing after 3 s: Falco is (backoff|starting)( \(exit code 1: Error: Initialization issues during scap_init\))?; its recording will be partial$/,
    );
    const ready = await agentHttp(agent, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.text).toContain("Falco is not capturing");

    const [stopped] = await control(nc, "stop", { sessionId: "broken1" }, 1, 30_000);
    expect(stopped?.ok).toBe(true);
    const fin = (await readSessionMessages(nc, "broken1")).find((m) => m.message.kind === "fin")!
      .message as FinMarker;
    expect(fin.gaps).toHaveLength(1);
    expect(fin.gaps![0]!.reason).toBe(
      "Falco never captured on this node during the session (exit code 1: Error: Initialization issues during scap_init)",
    );
    expect(fin.gaps![0]!.from).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(fin.gaps![0]!.to).toBeGreaterThan(fin.gaps![0]!.from + 2_000);
  });
});
