/**
 * Recording health judged over a recent window, through the real `seccompose start`: a real
 * nats-server, the real aggregator and a real agent whose stand-in Falco emits one line the agent
 * cannot read. That error is shown while it is recent; once it is older than the agent's window it
 * is history, and a clean start exits 0 instead of 7.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gather } from "../../cli/cluster/agents.ts";
import type { AgentHealth } from "../../lib/contracts/types.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, type CliResult } from "./cli.ts";

const WINDOW_SECONDS = 4;

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let aggregator: AggregatorProcess;
let agent: AgentProcess;
let env: NodeJS.ProcessEnv;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env, cwd: dir });
}

async function health(): Promise<AgentHealth | undefined> {
  const [reply] = await gather(nc, "health", {}, { expected: 1 });
  return reply?.health;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-cli-health-"));
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  aggregator = await startAggregatorProcess({ natsUrls: [server.url] });
  env = {
    ...process.env,
    HOME: dir,
    KUBECONFIG: "",
    SECCOMPOSE_CONFIG: join(dir, "config.yaml"),
    SECCOMPOSE_NATS_URL: server.url,
  };
  await writeFile(join(dir, "pods.json"), JSON.stringify({ pods: [] }));
  await writeFile(join(dir, "replay.txt"), "this is no Falco alert\n");
  await writeFile(join(dir, "agent.yaml"), `healthWindowSeconds: ${WINDOW_SECONDS}\n`);
  agent = await startAgentProcess({
    node: "node-h",
    natsUrls: [server.url],
    stateDir: join(dir, "state"),
    podsFile: join(dir, "pods.json"),
    env: { STANDIN_MODE: "replay", STANDIN_REPLAY: join(dir, "replay.txt") },
    extraArgs: ["--config", join(dir, "agent.yaml")],
  });
}, 60_000);

afterAll(async () => {
  await agent?.kill().catch(() => {});
  await aggregator?.kill().catch(() => {});
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("start judges an agent by its recent errors", () => {
  it("exits 0 after an old parse error, which the agent still reports since boot", async () => {
    // The session starts Falco, whose first line the agent cannot read.
    const first = await cli("start", "--id", "h1", "--expect-agents", "node-h");
    expect(first.code, first.stderr).toBe(0);
    const recent = await eventually("the parse error", async () => {
      const h = await health();
      return h !== undefined && h.counters.parseErrors > 0 ? h : undefined;
    });
    expect(recent.lastErrors.at(-1)?.code).toBe("SC_ALERT_MALFORMED");
    expect(recent.recent?.windowSeconds).toBe(WINDOW_SECONDS);

    const old = await eventually(
      "the parse error to leave the window",
      async () => {
        const h = await health();
        return h?.recent?.parseErrors === 0 && h.recent.errors === 0 ? h : undefined;
      },
      30_000,
    );
    expect(old.counters.parseErrors).toBeGreaterThan(0);
    expect(old.lastErrors.some((e) => e.code === "SC_ALERT_MALFORMED")).toBe(true);

    const clean = await cli("start", "--id", "h2", "--expect-agents", "node-h", "--output", "json");
    expect(clean.code, clean.stderr).toBe(0);
    expect((JSON.parse(clean.stdout) as { problems: string[] }).problems).toEqual([]);
    expect(clean.stderr).not.toContain("SC_ALERT_MALFORMED");
    for (const id of ["h1", "h2"]) {
      expect((await cli("stop", id, "--timeout", "20s", "--output-dir", join(dir, id))).code).toBe(0);
    }
  }, 120_000);
});
