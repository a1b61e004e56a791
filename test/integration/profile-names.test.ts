/**
 * Profile names end to end (issue 9): workloads whose names used to collide — a Deployment and a
 * StatefulSet both named `web`, `team-a/api` and `team/a-api` — recorded by a real agent and
 * aggregator, then written by `stop -o` and installed by `profile get --install`.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, type CliResult } from "./cli.ts";

// Slow loops keep the agent busy without taking both cores.
const LISTER = ["sh", "-c", "ls / >/dev/null; sleep 0.7"];
const READER = ["sh", "-c", "cat /etc/hostname >/dev/null; sleep 0.7"];

const LONG = "x".repeat(60);

const PODS = [
  { ns: "shop", pod: "web-1", owner: { kind: "Deployment", name: "web" }, container: "nginx", cmd: LISTER },
  { ns: "shop", pod: "web-0", owner: { kind: "StatefulSet", name: "web" }, container: "nginx", cmd: READER },
  { ns: "team-a", pod: "api-1", owner: { kind: "Deployment", name: "api" }, container: "c", cmd: LISTER },
  { ns: "team", pod: "a-api-1", owner: { kind: "Deployment", name: "a-api" }, container: "c", cmd: READER },
  // Two workloads whose hashed names collide (found by a birthday search on the 10 hex characters
  // of the hash, as in lib/profile/workload-key.test.ts): the guard's case.
  {
    ns: "long",
    pod: "x-1",
    owner: { kind: "Deployment", name: `${LONG}13rjw` },
    container: "app",
    cmd: LISTER,
  },
  {
    ns: "long",
    pod: "y-1",
    owner: { kind: "Deployment", name: `${LONG}18zgs` },
    container: "app",
    cmd: READER,
  },
].map((p, i) => ({
  ...p,
  uid: `0${i}0${i}0${i}0${i}-1111-4222-8333-444455556666`,
  cid: String(i).repeat(64),
}));

const EXPECTED_FILES = [
  "shop.deployment.web.nginx.json",
  "shop.statefulset.web.nginx.json",
  "team-a.deployment.api.c.json",
  "team.deployment.a-api.c.json",
];

let dir: string;
let server: NatsServerHandle;
let aggregator: AggregatorProcess;
let agent: AgentProcess;
let env: NodeJS.ProcessEnv;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env, cwd: dir });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-profile-names-"));
  server = await startNatsServer();
  aggregator = await startAggregatorProcess({
    natsUrls: [server.url],
    extraArgs: ["--checkpoint-interval-ms", "200"],
  });
  env = {
    ...process.env,
    HOME: dir,
    KUBECONFIG: "",
    SECCOMPOSE_CONFIG: join(dir, "config.yaml"),
    SECCOMPOSE_NATS_URL: server.url,
  };
  const podsFile = join(dir, "node-a.pods.json");
  const commandsFile = join(dir, "node-a.commands.json");
  await writeFile(
    podsFile,
    JSON.stringify({
      pods: PODS.map((p) => ({
        uid: p.uid,
        name: p.pod,
        namespace: p.ns,
        labels: { app: p.owner.name },
        owner: p.owner,
        containers: [{ name: p.container, id: p.cid }],
      })),
    }),
  );
  await writeFile(
    commandsFile,
    JSON.stringify(PODS.map((p) => ({ cmd: p.cmd, podUid: p.uid, containerId: p.cid }))),
  );
  agent = await startAgentProcess({
    node: "node-a",
    natsUrls: [server.url],
    stateDir: join(dir, "state-node-a"),
    podsFile,
    env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_REPEAT: "1" },
    extraArgs: ["--seccomp-dir", join(dir, "seccomp-node-a")],
  });
}, 60_000);

afterAll(async () => {
  await agent?.kill().catch(() => {});
  await aggregator?.kill();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("profile names of workloads that used to collide", () => {
  it("stop --output-dir writes one file per workload, and profile get --install keeps each workload's own profile", async () => {
    const started = await cli(
      "start",
      "-n",
      "shop",
      "-n",
      "team-a",
      "-n",
      "team",
      "--id",
      "n1",
      "--expect-agents",
      "1",
    );
    expect(started.code).toBe(0);
    await eventually(
      "all four workloads merged",
      async () => {
        const r = await cli("status", "n1", "--output", "json");
        const view = JSON.parse(r.stdout) as { sessions: Array<{ aggregator?: { workloads: unknown[] } }> };
        return view.sessions[0]?.aggregator?.workloads.length === 4 ? r : undefined;
      },
      60_000,
    );

    const out = join(dir, "n1");
    const stopped = await cli("stop", "n1", "--timeout", "30s", "--output-dir", out, "--output", "json");
    expect(stopped.code).toBe(0);
    const result = JSON.parse(stopped.stdout) as { files: Array<{ path: string; workload: string }> };
    expect(result.files.map((f) => f.path).sort()).toEqual(EXPECTED_FILES.map((f) => join(out, f)));
    expect((await readdir(out)).sort()).toEqual(EXPECTED_FILES);
    // The two `web` workloads ran different commands, so their files differ.
    const deployment = await readFile(join(out, "shop.deployment.web.nginx.json"), "utf8");
    const statefulSet = await readFile(join(out, "shop.statefulset.web.nginx.json"), "utf8");
    expect(deployment).not.toBe(statefulSet);
    expect(JSON.parse(deployment).syscalls[0].names).toContain("getdents64");

    // Install both `web` profiles; the second must not overwrite the first.
    const seccompDir = join(dir, "seccomp-node-a");
    for (const [query, file] of [
      ["shop/StatefulSet/web/nginx", "shop.statefulset.web.nginx.json"],
      ["shop/Deployment/web/nginx", "shop.deployment.web.nginx.json"],
    ] as const) {
      const r = await cli("profile", "get", "n1", query, "--install", "--expect-agents", "node-a");
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`localhostProfile: seccompose/${file}`);
      expect(await readFile(join(seccompDir, file), "utf8")).toBe(await readFile(join(out, file), "utf8"));
    }
    expect((await readdir(seccompDir)).sort()).toEqual([
      "shop.deployment.web.nginx.json",
      "shop.statefulset.web.nginx.json",
    ]);

    // SPO and ConfigMap objects carry the same names.
    const spo = await cli("profile", "get", "n1", "team/Deployment/a-api/c", "--format", "spo");
    expect(spo.stdout).toContain("\n  name: team.deployment.a-api.c\n");
    const cm = await cli("profile", "get", "n1", "team-a/Deployment/api/c", "--format", "configmap");
    expect(cm.stdout).toContain("\n  name: seccomp-team-a.deployment.api.c\n");
  }, 120_000);

  it("refuses to write or install anything when two workloads would share a name", async () => {
    expect((await cli("start", "-n", "long", "--id", "n2", "--expect-agents", "1")).code).toBe(0);
    await eventually(
      "both workloads merged",
      async () => {
        const r = await cli("status", "n2", "--output", "json");
        const view = JSON.parse(r.stdout) as { sessions: Array<{ aggregator?: { workloads: unknown[] } }> };
        return view.sessions[0]?.aggregator?.workloads.length === 2 ? r : undefined;
      },
      60_000,
    );
    const out = join(dir, "n2");
    const stopped = await cli("stop", "n2", "--timeout", "30s", "--output-dir", out);
    expect(stopped.code).toBe(11);
    expect(stopped.stderr).toMatch(
      /error \[SC_PROFILE_NAME_COLLISION\]: workloads long\/Deployment\/x+13rjw\/app and long\/Deployment\/x+18zgs\/app would both get profile name "long-deployment-x+\.109d0784ed"; nothing was written/,
    );
    expect(await readdir(out)).toEqual([]);

    const seccompDir = join(dir, "seccomp-node-a");
    const before = (await readdir(seccompDir)).sort();
    const r = await cli("profile", "get", "n2", `${LONG}13rjw/app`, "--install", "--expect-agents", "node-a");
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("SC_PROFILE_NAME_COLLISION");
    expect((await readdir(seccompDir)).sort()).toEqual(before);
  }, 120_000);
});
