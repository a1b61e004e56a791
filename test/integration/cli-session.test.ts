/**
 * The cluster workflow through the real `seccompose` binary, outside Kubernetes: a real
 * nats-server, the real aggregator and real agents (each supervising the stand-in Falco, which
 * reports the syscalls strace sees of real commands), `--nats-url` and `--expect-agents`.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { BUCKET_PROFILES, BUCKET_SESSIONS } from "../../lib/subjects.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, spawnCli, type CliResult } from "./cli.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";

const WEB_A = { uid: "0a0a0a0a-1111-4222-8333-444455556666", cid: "a".repeat(64) };
const WEB_B = { uid: "0b0b0b0b-1111-4222-8333-444455556666", cid: "b".repeat(64) };
const DB_B = { uid: "0c0c0c0c-1111-4222-8333-444455556666", cid: "c".repeat(64) };
// Slow loops keep two agents busy without taking both cores.
const LISTER = ["sh", "-c", "ls / >/dev/null; sleep 0.7"];
const READER = ["sh", "-c", "cat /etc/hostname >/dev/null; sleep 0.7"];

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let aggregator: AggregatorProcess;
const agents: AgentProcess[] = [];
let env: NodeJS.ProcessEnv;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env, cwd: dir });
}

async function startAgent(
  node: string,
  pods: Array<{
    pod: typeof WEB_A;
    name: string;
    owner: { kind: string; name: string };
    container: string;
    cmd: string[];
  }>,
) {
  const podsFile = join(dir, `${node}.pods.json`);
  const commandsFile = join(dir, `${node}.commands.json`);
  await writeFile(
    podsFile,
    JSON.stringify({
      pods: pods.map((p) => ({
        uid: p.pod.uid,
        name: p.name,
        namespace: "shop",
        labels: { app: p.owner.name },
        owner: p.owner,
        containers: [{ name: p.container, id: p.pod.cid }],
      })),
    }),
  );
  await writeFile(
    commandsFile,
    JSON.stringify(pods.map((p) => ({ cmd: p.cmd, podUid: p.pod.uid, containerId: p.pod.cid }))),
  );
  const agent = await startAgentProcess({
    node,
    natsUrls: [server.url],
    stateDir: join(dir, `state-${node}`),
    podsFile,
    env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_REPEAT: "1" },
    extraArgs: ["--seccomp-dir", join(dir, `seccomp-${node}`)],
  });
  agents.push(agent);
  return agent;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-cli-session-"));
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  aggregator = await startAggregatorProcess({
    natsUrls: [server.url],
    // Documents over 1 KiB go to the Object Store behind a pointer, so every read here follows one.
    extraArgs: ["--checkpoint-interval-ms", "200", "--kv-value-max-bytes", "1024"],
  });
  env = {
    ...process.env,
    HOME: dir,
    KUBECONFIG: "",
    SECCOMPOSE_CONFIG: join(dir, "config.yaml"),
    SECCOMPOSE_NATS_URL: server.url,
  };
  await startAgent("node-a", [
    {
      pod: WEB_A,
      name: "web-1",
      owner: { kind: "Deployment", name: "web" },
      container: "nginx",
      cmd: LISTER,
    },
  ]);
}, 60_000);

afterAll(async () => {
  for (const a of agents.splice(0)) await a.kill().catch(() => {});
  await aggregator?.kill();
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("seccompose start, outside Kubernetes", () => {
  it("names the agents that do not answer and exits 7, starting the session on the others", async () => {
    const counted = await cli("start", "-n", "shop", "--id", "miss1", "--expect-agents", "2");
    expect(counted.stdout).toBe("miss1\n");
    expect(counted.stderr).toContain("1 of 2 expected agent(s) did not answer (answered: node-a)");
    expect(counted.code).toBe(7);

    const named = await cli(
      "start",
      "-n",
      "shop",
      "--id",
      "miss2",
      "--expect-agents",
      "node-a,node-b",
      "--output",
      "json",
    );
    expect(named.code).toBe(7);
    expect(named.stderr).toContain("agent on node node-b did not answer");
    const result = JSON.parse(named.stdout) as { session: SessionRecord; problems: string[] };
    expect(result.session.expectedNodes).toEqual(["node-a"]);
    expect(result.problems).toEqual(["agent on node node-b did not answer (no answer)"]);

    const kv = await new Kvm(nc).open(BUCKET_SESSIONS);
    const stored = (await kv.get("miss2"))!.json<SessionRecord>();
    expect(stored).toMatchObject({ id: "miss2", state: "running", targets: { namespaces: ["shop"] } });

    for (const id of ["miss1", "miss2"])
      expect((await cli("stop", id, "--timeout", "20s", "--output-dir", join(dir, id))).code).toBe(0);
  }, 90_000);

  it("refuses an id that is taken and a syscall it cannot record arguments of", async () => {
    const taken = await cli("start", "--id", "miss1", "--expect-agents", "1");
    expect(taken.code).toBe(11);
    expect(taken.stderr).toMatch(/SC_SESSION_EXISTS.*miss1/);
    const args = await cli("start", "--args", "openat", "--expect-agents", "1");
    expect(args.code).toBe(2);
    expect(args.stderr).toContain("SC_ARGS_UNSUPPORTED");
  });
});

describe("a session on two nodes", () => {
  beforeAll(async () => {
    await startAgent("node-b", [
      {
        pod: WEB_B,
        name: "web-2",
        owner: { kind: "Deployment", name: "web" },
        container: "nginx",
        cmd: LISTER,
      },
      { pod: DB_B, name: "db-0", owner: { kind: "StatefulSet", name: "db" }, container: "pg", cmd: READER },
    ]);
  }, 60_000);

  it("start, status and stop write one profile per workload container, merged over the nodes", async () => {
    const started = await cli("start", "-n", "shop", "--id", "s1", "--expect-agents", "2");
    expect(started.code).toBe(0);
    expect(started.stdout).toBe("s1\n");
    expect(started.stderr).toContain("session s1 recording namespaces=shop on 2 node(s): node-a, node-b");

    const status = await eventually(
      "both nodes merged",
      async () => {
        const r = await cli("status", "s1", "--output", "json");
        const view = JSON.parse(r.stdout) as {
          sessions: Array<{ aggregator?: { nodesReporting: number; workloads: unknown[] } }>;
        };
        const agg = view.sessions[0]?.aggregator;
        return agg && agg.nodesReporting === 2 && agg.workloads.length === 2 ? r : undefined;
      },
      60_000,
    );
    expect(status.code).toBe(0);
    const text = await cli("status", "s1");
    expect(text.stdout).toMatch(/^SESSION s1 {2}oneshot {2}running/);
    expect(text.stdout).toMatch(/node-a {2}running +1 /);
    expect(text.stdout).toMatch(/node-b {2}running +2 /);
    expect(text.stdout).toContain("shop/Deployment/web/nginx");
    expect(text.stdout).toContain("shop/StatefulSet/db/pg");

    const out = join(dir, "s1");
    const stopped = await cli("stop", "s1", "--timeout", "30s", "--output-dir", out);
    expect(stopped.stderr).toContain("session s1 finalised: complete");
    expect(stopped.code).toBe(0);
    expect(stopped.stdout.trim().split("\n").sort()).toEqual([
      join(out, "shop.deployment.web.nginx.json"),
      join(out, "shop.statefulset.db.pg.json"),
    ]);
    const web = JSON.parse(await readFile(join(out, "shop.deployment.web.nginx.json"), "utf8")) as {
      defaultAction: string;
      syscalls: Array<{ names: string[] }>;
    };
    expect(web.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(web.syscalls[0]!.names).toContain("getdents64");

    const stored = await (await new Kvm(nc).open(BUCKET_PROFILES)).get("s1.shop_Deployment_web_nginx");
    expect(stored!.json<{ kind: string }>().kind).toBe("ProfilePointer");

    const list = await cli("profile", "list", "s1", "--output", "json");
    const rows = JSON.parse(list.stdout) as Array<{ workload: string; status: string; nodes: string[] }>;
    expect(rows.map((r) => [r.workload, r.status, r.nodes])).toEqual([
      ["shop/Deployment/web/nginx", "complete", ["node-a", "node-b"]],
      ["shop/StatefulSet/db/pg", "complete", ["node-b"]],
    ]);

    // The stored document renders to the same bytes as the file stop wrote.
    const get = await cli("profile", "get", "s1", "web/nginx");
    expect(get.stdout).toBe(await readFile(join(out, "shop.deployment.web.nginx.json"), "utf8"));
    const spo = parseYaml((await cli("profile", "get", "s1", "nginx", "--format", "spo")).stdout) as {
      kind: string;
    };
    expect(spo.kind).toBe("SeccompProfile");
    const cm = parseYaml(
      (await cli("profile", "get", "s1", "shop_Deployment_web_nginx", "--format", "configmap")).stdout,
    ) as {
      kind: string;
      metadata: { namespace: string };
      data: Record<string, string>;
    };
    expect(cm.kind).toBe("ConfigMap");
    expect(cm.metadata.namespace).toBe("shop");
    expect(cm.data["shop.deployment.web.nginx.json"]).toBe(get.stdout);

    const diff = await cli("profile", "diff", "s1/web/nginx", "s1/db/pg", "--output", "json");
    const changes = JSON.parse(diff.stdout) as { identical: boolean; added: string[]; removed: string[] };
    const db = JSON.parse(await readFile(join(out, "shop.statefulset.db.pg.json"), "utf8")) as typeof web;
    const webNames = new Set(web.syscalls.flatMap((r) => r.names));
    const dbNames = new Set(db.syscalls.flatMap((r) => r.names));
    expect(changes.identical).toBe(false);
    expect(changes.removed).toEqual([...webNames].filter((n) => !dbNames.has(n)).sort());
    expect(changes.added).toEqual([...dbNames].filter((n) => !webNames.has(n)).sort());
    const same = await cli(
      "profile",
      "diff",
      join(out, "shop.deployment.web.nginx.json"),
      "s1/shop/Deployment/web/nginx@1",
    );
    expect(same.stdout).toContain("(no difference)");

    const missing = await cli("stop", "no-such-session");
    expect(missing.code).toBe(10);
    expect(missing.stderr).toContain("SC_SESSION_NOT_FOUND");
  }, 180_000);

  it("profile get --install has every agent write the profile into its node's seccomp directory", async () => {
    const r = await cli("profile", "get", "s1", "web/nginx", "--install", "--expect-agents", "node-a,node-b");
    expect(r.code).toBe(0);
    for (const node of ["node-a", "node-b"]) {
      expect(r.stderr).toContain(
        `${node}: installed ${join(dir, `seccomp-${node}`, "shop.deployment.web.nginx.json")}`,
      );
      expect(await readFile(join(dir, `seccomp-${node}`, "shop.deployment.web.nginx.json"), "utf8")).toBe(
        r.stdout,
      );
    }
    expect(r.stderr).toContain(
      "type: Localhost\n    localhostProfile: seccompose/shop.deployment.web.nginx.json",
    );
    const again = await cli(
      "profile",
      "get",
      "s1",
      "web/nginx",
      "--install",
      "--expect-agents",
      "node-a,node-b,node-c",
    );
    expect(again.stderr).toContain("node-a: already installed");
    expect(again.stderr).toContain("not installed on node-c");
    expect(again.code).toBe(7);
  }, 60_000);

  it("events --follow prints the session's decoded events as they arrive, and status --watch repeats its view", async () => {
    expect((await cli("start", "-n", "shop", "--id", "s2", "--expect-agents", "2")).code).toBe(0);
    const follow = spawnCli(["events", "s2", "--follow"], env);
    const watch = spawnCli(["status", "s2", "--watch", "--interval", "1s"], env);
    try {
      const line = await follow.waitFor(
        /^(node-[ab]) {2}shop\/(Deployment\/web\/nginx|StatefulSet\/db\/pg) {2}([a-z0-9_]+) {2}(\d+)$/m,
      );
      expect(["node-a", "node-b"]).toContain(line[1]);
      await watch.waitFor(/(--- .*\nSESSION s2[\s\S]*){2}/);
    } finally {
      const followed = await follow.stop();
      const watched = await watch.stop();
      expect(followed.code).toBe(0);
      expect(watched.code).toBe(0);
    }
    const json = spawnCli(["events", "s2", "--from-start", "--output", "json"], env);
    const result = await json.exited;
    const first = JSON.parse(result.stdout.split("\n")[0]!) as {
      node: string;
      workload: string;
      syscall: string;
      count: number;
    };
    expect(first.workload).toMatch(/^shop\//);
    expect(typeof first.count).toBe("number");
    // Without --follow, events prints what is stored from the start and exits.
    const stored = await spawnCli(["events", "s2", "--output", "json"], env).exited;
    expect(stored.code).toBe(0);
    expect(stored.stdout.split("\n")[0]).toBe(result.stdout.split("\n")[0]);
    expect((await cli("stop", "s2", "--timeout", "30s", "--output-dir", join(dir, "s2"))).code).toBe(0);
  }, 90_000);

  it("a continuous session publishes profile revisions, and freeze marks a workload frozen", async () => {
    expect(
      (
        await cli(
          "start",
          "-n",
          "shop",
          "--id",
          "c1",
          "--continuous",
          "--convergence-window",
          "2s",
          "--expect-agents",
          "2",
        )
      ).code,
    ).toBe(0);
    await eventually(
      "a published revision",
      async () => {
        const rows = JSON.parse((await cli("profile", "list", "c1", "--output", "json")).stdout) as Array<{
          workload: string;
          revision: number;
        }>;
        return rows.some((r) => r.workload === "shop/Deployment/web/nginx" && r.revision >= 1)
          ? true
          : undefined;
      },
      60_000,
    );

    const oneShot = await cli("profile", "freeze", "s1", "web/nginx");
    expect(oneShot.code).toBe(2);
    expect(oneShot.stderr).toContain("only continuous sessions can be frozen");

    const frozen = await cli("profile", "freeze", "c1", "web/nginx");
    expect(frozen.code).toBe(0);
    expect(frozen.stderr).toContain("session c1: frozen shop/Deployment/web/nginx");
    const kv = await new Kvm(nc).open(BUCKET_SESSIONS);
    expect((await kv.get("c1"))!.json<SessionRecord>().continuous?.frozen).toEqual([
      "shop_Deployment_web_nginx",
    ]);
    await eventually("the aggregator to freeze the workload", async () => {
      const view = JSON.parse((await cli("status", "c1", "--output", "json")).stdout) as {
        sessions: Array<{ aggregator?: { workloads: Array<{ token: string; frozen: boolean }> } }>;
      };
      return view.sessions[0]?.aggregator?.workloads.find((w) => w.token === "shop_Deployment_web_nginx")
        ?.frozen
        ? true
        : undefined;
    });
    const stopped = await cli("stop", "c1", "--timeout", "30s", "--output-dir", join(dir, "c1"));
    expect(stopped.code).toBe(0);
  }, 120_000);

  it("stop exits 6 when the aggregator does not finalise the session in time", async () => {
    expect((await cli("start", "-n", "shop", "--id", "late1", "--expect-agents", "2")).code).toBe(0);
    await aggregator.kill();
    const r = await cli("stop", "late1", "--timeout", "1s", "--output-dir", join(dir, "late1"));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/SC_WAIT_TIMEOUT.*late1 was not finalised: the aggregator did not answer/);
  }, 60_000);
});
