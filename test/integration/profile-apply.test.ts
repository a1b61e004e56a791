/**
 * From a recorded profile to a bound workload, through the real `seccompose` binary: real agents
 * (each supervising the stand-in Falco, with its own seccomp directory), the real aggregator and a
 * real nats-server, and the stand-in API server holding the workload and the agent DaemonSet.
 * `profile apply` installs on every agent first and binds exactly the named container through
 * server-side apply; `unapply`, `installed`, `uninstall`, and an agent started later syncing the
 * profiles that were applied.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  makeDaemonSet,
  makeNamespace,
  makePod,
  startFakeApiServer,
  type FakeApiServer,
  type FakeObject,
} from "../helpers/fake-apiserver.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, spawnCli, type CliResult } from "./cli.ts";

const PODS = {
  "node-a": { uid: "0a0a0a0a-1111-4222-8333-444455556666", cid: "a".repeat(64), name: "web-1" },
  "node-b": { uid: "0b0b0b0b-1111-4222-8333-444455556666", cid: "b".repeat(64), name: "web-2" },
  "node-c": { uid: "0c0c0c0c-1111-4222-8333-444455556666", cid: "c".repeat(64), name: "web-3" },
} as const;
type Node = keyof typeof PODS;
const LISTER = ["sh", "-c", "ls / >/dev/null; sleep 0.7"];
const NAME = "shop.deployment.web.nginx";
const COMPLAIN = `${NAME}_complain`;
const MANAGER = "seccompose-profile/nginx";
const DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/shop/deployments/web";
const AGENT_LABELS = { "app.kubernetes.io/name": "seccompose-agent" };

let dir: string;
let server: NatsServerHandle;
let aggregator: AggregatorProcess;
let api: FakeApiServer;
const agents = new Map<Node, AgentProcess>();
let env: NodeJS.ProcessEnv;

/** The CLI with the stand-in API server as its cluster and the test's NATS. */
function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env: { ...env, KUBECONFIG: api.kubeconfigPath }, cwd: dir });
}

const seccompDir = (node: Node) => join(dir, `seccomp-${node}`);
const installedFile = (node: Node, name: string) => readFile(join(seccompDir(node), `${name}.json`), "utf8");

async function startAgent(node: Node): Promise<void> {
  const pod = PODS[node];
  const podsFile = join(dir, `${node}.pods.json`);
  const commandsFile = join(dir, `${node}.commands.json`);
  await writeFile(
    podsFile,
    JSON.stringify({
      pods: [
        {
          uid: pod.uid,
          name: pod.name,
          namespace: "shop",
          labels: { app: "web" },
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx", id: pod.cid }],
        },
      ],
    }),
  );
  await writeFile(commandsFile, JSON.stringify([{ cmd: LISTER, podUid: pod.uid, containerId: pod.cid }]));
  agents.set(
    node,
    await startAgentProcess({
      node,
      natsUrls: [server.url],
      stateDir: join(dir, `state-${node}`),
      podsFile,
      env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_REPEAT: "1" },
      extraArgs: ["--seccomp-dir", seccompDir(node)],
    }),
  );
}

/** The agent DaemonSet's pods name the nodes that must confirm an install. */
function agentPod(node: Node): FakeObject {
  return makePod({
    name: `seccompose-agent-${node}`,
    namespace: "seccompose",
    node,
    labels: AGENT_LABELS,
    owner: { kind: "DaemonSet", name: "seccompose-agent" },
  });
}

type Container = { name: string; image?: string; securityContext?: Record<string, unknown> };
const containersOf = (o: FakeObject) =>
  (o.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers;
const managersOf = (o: FakeObject) =>
  (o.metadata!.managedFields as Array<{ manager: string; fieldsV1: unknown }> | undefined) ?? [];
const deployment = () => api.get("Deployment", "shop", "web")!;
const patchesOfDeployment = () =>
  api.requests.filter((r) => r.method === "PATCH" && r.path === DEPLOYMENT_PATH).length;

/** The workload as its owner applied it: nginx already has a securityContext field of its own, the sidecar none. */
const GITOPS_DEPLOYMENT = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        containers: [
          { name: "nginx", image: "nginx:1.27", securityContext: { runAsNonRoot: true } },
          { name: "sidecar", image: "envoy:1.31" },
        ],
      },
    },
  },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-profile-apply-"));
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
  await Promise.all([startAgent("node-a"), startAgent("node-b")]);
  api = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeNamespace("seccompose"),
      makeDaemonSet({
        name: "seccompose-agent",
        namespace: "seccompose",
        labels: AGENT_LABELS,
        desired: 2,
        ready: 2,
        updated: 2,
      }),
      agentPod("node-a"),
      agentPod("node-b"),
    ],
  });
  // Created the way a GitOps tool would, so its fields have a manager of their own.
  const created = await fetch(`${api.url}${DEPLOYMENT_PATH}?fieldManager=gitops`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${api.token}`, "content-type": "application/apply-patch+yaml" },
    body: JSON.stringify(GITOPS_DEPLOYMENT),
  });
  expect(created.status).toBe(201);

  // Record the workload on both nodes, outside Kubernetes (the agents read pods files).
  const outside = (...args: string[]) => runCli(args, { env, cwd: dir });
  expect((await outside("start", "-n", "shop", "--id", "s1", "--expect-agents", "node-a,node-b")).code).toBe(
    0,
  );
  await eventually(
    "both nodes merged",
    async () => {
      const view = JSON.parse((await outside("status", "s1", "--output", "json")).stdout) as {
        sessions: Array<{ aggregator?: { nodesReporting: number } }>;
      };
      return view.sessions[0]?.aggregator?.nodesReporting === 2 ? true : undefined;
    },
    60_000,
  );
  const stopped = await outside("stop", "s1", "--timeout", "30s", "--output-dir", join(dir, "out"));
  expect(stopped.stderr).toContain("session s1 finalised: complete");
}, 180_000);

afterAll(async () => {
  for (const a of agents.values()) await a.kill().catch(() => {});
  await aggregator?.kill();
  await api?.stop();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("seccompose profile apply", () => {
  it("--dry-run prints the profile it would install and the server-side apply patch, and changes nothing", async () => {
    const before = deployment().metadata!.resourceVersion;
    const r = await cli("profile", "apply", "s1", "web/nginx", "--dry-run", "-o", "yaml");
    expect(r.code).toBe(0);
    const plan = parseYaml(r.stdout) as {
      profile: { name: string; mode: string; localhostProfile: string };
      fieldManager: string;
      patch: unknown;
    };
    expect(plan.profile).toMatchObject({
      name: NAME,
      mode: "enforce",
      localhostProfile: `seccompose/${NAME}.json`,
    });
    expect(plan.fieldManager).toBe(MANAGER);
    expect(plan.patch).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "nginx",
                securityContext: {
                  seccompProfile: { type: "Localhost", localhostProfile: `seccompose/${NAME}.json` },
                },
              },
            ],
          },
        },
      },
    });
    expect(deployment().metadata!.resourceVersion).toBe(before);
    for (const node of ["node-a", "node-b"] as const)
      await expect(readdir(seccompDir(node))).rejects.toThrow(/ENOENT/);
  }, 60_000);

  it("--complain installs the SCMP_ACT_LOG variant on every node under its own name and binds the container to it", async () => {
    const r = await cli("profile", "apply", "s1", "web/nginx", "--complain", "--no-wait");
    expect(r.stderr).toContain(`node-a: installed ${join(seccompDir("node-a"), `${COMPLAIN}.json`)}`);
    expect(r.code).toBe(0);
    for (const node of ["node-a", "node-b"] as const) {
      const profile = JSON.parse(await installedFile(node, COMPLAIN)) as Record<string, unknown>;
      expect(profile.defaultAction).toBe("SCMP_ACT_LOG");
      expect(profile).not.toHaveProperty("defaultErrnoRet");
    }
    const nginx = containersOf(deployment())[0]!;
    expect(nginx.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: "Localhost", localhostProfile: `seccompose/${COMPLAIN}.json` },
    });
  }, 60_000);

  it("installs the profile on every agent first, then binds exactly the named container and follows the rollout", async () => {
    const get = await cli("profile", "get", "s1", "web/nginx");
    const apply = spawnCli(["profile", "apply", "s1", "web/nginx", "--timeout", "60s"], {
      ...env,
      KUBECONFIG: api.kubeconfigPath,
    });
    const generation = deployment().metadata!.generation!;
    const patched = await eventually(
      "the Deployment patched",
      () => {
        const d = deployment();
        return d.metadata!.generation! > generation ? d : undefined;
      },
      60_000,
      50,
    );
    // By the time the template changed, every agent had the profile.
    for (const node of ["node-a", "node-b"] as const)
      expect(await installedFile(node, NAME)).toBe(get.stdout);

    const [nginx, sidecar] = containersOf(patched);
    expect(nginx).toEqual({
      name: "nginx",
      image: "nginx:1.27",
      securityContext: {
        runAsNonRoot: true,
        seccompProfile: { type: "Localhost", localhostProfile: `seccompose/${NAME}.json` },
      },
    });
    expect(sidecar).toEqual({ name: "sidecar", image: "envoy:1.31" });
    const ours = managersOf(patched).find((m) => m.manager === MANAGER);
    expect(ours?.fieldsV1).toEqual({
      "f:spec": {
        "f:template": {
          "f:spec": {
            "f:containers": {
              'k:{"name":"nginx"}': {
                ".": {},
                "f:name": {},
                "f:securityContext": {
                  "f:seccompProfile": { "f:type": {}, "f:localhostProfile": {} },
                },
              },
            },
          },
        },
      },
    });
    expect(managersOf(patched).map((m) => m.manager)).toContain("gitops");

    // The Deployment controller's part: the new template is rolled out.
    await apply.waitFor(/Waiting for deployment "web"/, "stderr");
    api.update({
      ...patched,
      status: {
        observedGeneration: patched.metadata!.generation,
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
      },
    });
    const done = await apply.exited;
    expect(done.stderr).toContain(
      `container nginx now uses seccompose/${NAME}.json (field manager ${MANAGER})`,
    );
    expect(done.stdout).toContain('deployment "web" successfully rolled out');
    expect(done.code).toBe(0);
  }, 90_000);

  it("fails naming an agent that does not confirm, without patching the workload", async () => {
    api.add(agentPod("node-c"));
    const before = patchesOfDeployment();
    const r = await cli("profile", "apply", "s1", "web/nginx", "--complain", "--no-wait");
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/SC_INSTALL_INCOMPLETE.*is not confirmed on node-c \(no answer\)/);
    expect(r.stderr).toContain("Deployment shop/web was not patched");
    expect(patchesOfDeployment()).toBe(before);
    expect(containersOf(deployment())[0]!.securityContext).toMatchObject({
      seccompProfile: { localhostProfile: `seccompose/${NAME}.json` },
    });
  }, 60_000);

  it("an agent started later installs every applied profile, and profile installed lists them per node", async () => {
    await startAgent("node-c");
    const expected = {
      [NAME]: await installedFile("node-a", NAME),
      [COMPLAIN]: await installedFile("node-a", COMPLAIN),
    };
    await eventually(
      "node-c synced",
      async () => {
        const files = await readdir(seccompDir("node-c")).catch(() => []);
        return files.length === 2 ? true : undefined;
      },
      30_000,
    );
    for (const [name, text] of Object.entries(expected))
      expect(await installedFile("node-c", name)).toBe(text);

    const listed = await cli("profile", "installed", "-o", "json");
    expect(listed.code).toBe(0);
    const view = JSON.parse(listed.stdout) as {
      rows: Array<{ node: string; name: string; state: string }>;
      nodes: Array<{ node: string; sync?: { installed: string[] } }>;
    };
    expect(view.rows.map((r) => `${r.node} ${r.name} ${r.state}`)).toEqual(
      (["node-a", "node-b", "node-c"] as const).flatMap((n) => [
        `${n} ${NAME} applied`,
        `${n} ${COMPLAIN} applied`,
      ]),
    );
    expect(view.nodes.find((n) => n.node === "node-c")?.sync?.installed.sort()).toEqual(
      [NAME, COMPLAIN].sort(),
    );
    const text = await cli("profile", "installed");
    expect(text.stdout).toMatch(
      new RegExp(`^node-b +${NAME.replaceAll(".", "\\.")} +applied +[0-9a-f]{12} +\\d+$`, "m"),
    );
  }, 60_000);

  it("uninstall refuses while bound; unapply removes only its fields; uninstall then removes the profiles from every node", async () => {
    const refused = await cli("profile", "uninstall", "s1", "web/nginx");
    expect(refused.code).toBe(11);
    expect(refused.stderr).toContain("SC_PROFILE_IN_USE");
    expect(await installedFile("node-a", NAME)).toBeTruthy();

    const unapplied = await cli("profile", "unapply", "s1", "web/nginx", "--no-wait");
    expect(unapplied.code).toBe(0);
    const after = deployment();
    expect(containersOf(after)).toEqual(GITOPS_DEPLOYMENT.spec.template.spec.containers);
    expect(managersOf(after).map((m) => m.manager)).not.toContain(MANAGER);
    expect(managersOf(after).map((m) => m.manager)).toContain("gitops");

    const removed = await cli("profile", "uninstall", "s1", "web/nginx");
    expect(removed.code).toBe(0);
    for (const node of ["node-a", "node-b", "node-c"] as const) {
      expect(removed.stdout).toMatch(new RegExp(`^${node} +${NAME.replaceAll(".", "\\.")} +removed$`, "m"));
      expect(await readdir(seccompDir(node))).toEqual([]);
    }
    const listed = JSON.parse((await cli("profile", "installed", "-o", "json")).stdout) as {
      rows: unknown[];
    };
    expect(listed.rows).toEqual([]);
  }, 60_000);
});
