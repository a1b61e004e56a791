/**
 * The CLI's Kubernetes side through the real binary, against the stand-in API server
 * (test/helpers/fake-apiserver.ts; no real API server runs in CI): target resolution, the agent
 * DaemonSet as the expectation of agents, the port-forward to the in-cluster NATS with the CLI's
 * password from its Secret, and install/uninstall with the rollout wait (node enrollment in
 * detail: install-enrollment.test.ts).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";
import bcrypt from "bcryptjs";
import { loadManifests } from "../../cli/install/manifests.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startEnrollmentKubelet, type EnrollmentKubelet } from "../helpers/enrollment-kubelet.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { prepareBroker } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  makeDaemonSet,
  makeNamespace,
  makeNode,
  makePod,
  makeService,
  startFakeApiServer,
  type FakeApiServer,
  type FakeObject,
} from "../helpers/fake-apiserver.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, spawnCli } from "./cli.ts";

const CLI_PASSWORD = "cli-secret-password";
const AGENT_PASSWORD = "agent-password";
const ADMIN_PASSWORD = "admin-password";
const AGGREGATOR_PASSWORD = "aggregator-password";

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-cli-k8s-"));
  // No NATS URL anywhere: the CLI must find the broker through the kubeconfig.
  env = { ...process.env, HOME: dir, KUBECONFIG: "", SECCOMPOSE_CONFIG: join(dir, "config.yaml") };
  delete env.SECCOMPOSE_NATS_URL;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8");

function secret(name: string, data: Record<string, string>): FakeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "seccompose" },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

describe("session commands in a cluster", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let api: FakeApiServer;
  let agent: AgentProcess;
  let aggregator: AggregatorProcess;

  beforeAll(async () => {
    server = await startNatsServer({
      config: `authorization { users: [
        { user: cli, password: "${CLI_PASSWORD}" }
        { user: agent, password: "${AGENT_PASSWORD}" }
        { user: admin, password: "${ADMIN_PASSWORD}" }
        { user: aggregator, password: "${AGGREGATOR_PASSWORD}" }
      ] }`,
    });
    nc = await connect({ servers: server.url, user: "admin", pass: ADMIN_PASSWORD });
    await prepareBroker(nc);
    const agentLabels = { "app.kubernetes.io/name": "seccompose-agent" };
    const natsLabels = { "app.kubernetes.io/name": "nats" };
    api = await startFakeApiServer({
      objects: [
        makeNamespace("shop"),
        makeNamespace("seccompose"),
        makeNode({ name: "node-a" }),
        makeNode({ name: "node-b" }),
        makePod({
          name: "web-1",
          namespace: "shop",
          node: "node-a",
          labels: { app: "web" },
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx" }],
        }),
        makePod({
          name: "web-2",
          namespace: "shop",
          node: "node-b",
          labels: { app: "web" },
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx" }, { name: "sidecar" }],
        }),
        makePod({
          name: "web-3",
          namespace: "shop",
          labels: { app: "web" },
          owner: { kind: "Deployment", name: "web" },
        }),
        makePod({
          name: "db-0",
          namespace: "shop",
          node: "node-b",
          labels: { app: "db" },
          owner: { kind: "StatefulSet", name: "db" },
        }),
        makeDaemonSet({
          name: "seccompose-agent",
          namespace: "seccompose",
          labels: agentLabels,
          desired: 2,
          ready: 1,
          updated: 2,
        }),
        makePod({
          name: "seccompose-agent-a",
          namespace: "seccompose",
          node: "node-a",
          labels: agentLabels,
          owner: { kind: "DaemonSet", name: "seccompose-agent" },
        }),
        makePod({
          name: "seccompose-agent-b",
          namespace: "seccompose",
          node: "node-b",
          labels: agentLabels,
          owner: { kind: "DaemonSet", name: "seccompose-agent" },
          ready: false,
        }),
        makeService({
          name: "nats",
          namespace: "seccompose",
          selector: natsLabels,
          ports: [{ name: "client", port: 4222 }],
        }),
        makePod({
          name: "nats-0",
          namespace: "seccompose",
          node: "node-a",
          labels: natsLabels,
          owner: { kind: "StatefulSet", name: "nats" },
          containers: [{ name: "nats", ports: [{ name: "client", containerPort: 4222 }] }],
        }),
        secret("seccompose-cli-nats", { password: CLI_PASSWORD }),
      ],
    });
    api.forwardPort("seccompose", "nats-0", 4222, server.port);
    await writeFile(join(dir, "no-pods.json"), JSON.stringify({ pods: [] }));
    agent = await startAgentProcess({
      node: "node-a",
      natsUrls: [server.url],
      stateDir: join(dir, "state-node-a"),
      podsFile: join(dir, "no-pods.json"),
      extraArgs: ["--nats-user", "agent", "--nats-pass", AGENT_PASSWORD],
    });
    // start refuses to start a session no aggregator would finalise.
    aggregator = await startAggregatorProcess({
      natsUrls: [server.url],
      extraArgs: ["--nats-user", "aggregator", "--nats-pass", AGGREGATOR_PASSWORD],
    });
  }, 60_000);

  afterAll(async () => {
    await agent?.kill();
    await aggregator?.kill();
    await nc?.close();
    await api?.stop();
    await server?.stop();
  });

  it("start port-forwards to the nats service, logs in with the CLI's Secret, shows the targets per node and names the agent whose pod is not ready", async () => {
    const before = api.requests.length;
    const r = await runCli(
      ["start", "--kubeconfig", api.kubeconfigPath, "-n", "shop", "-l", "app=web", "--id", "k1"],
      { env },
    );
    expect(r.stdout).toBe("k1\n");
    expect(r.stderr).toContain("targets: namespaces=shop selector=app=web: 3 pod(s) on 2 node(s)");
    expect(r.stderr).toContain(
      "  node-a\n    shop/web-1 [nginx]\n  node-b\n    shop/web-2 [nginx, sidecar]\n",
    );
    expect(r.stderr).toContain("not scheduled yet: shop/web-3");
    expect(r.stderr).toMatch(
      /agent on node node-b did not answer \(its pod seccompose-agent-b is not ready: .+\)/,
    );
    expect(r.code).toBe(7);

    const paths = api.requests.slice(before).map((q) => `${q.method} ${q.path}`);
    expect(paths).toContain("GET /apis/apps/v1/namespaces/seccompose/daemonsets/seccompose-agent");
    expect(paths).toContain("GET /api/v1/namespaces/seccompose/secrets/seccompose-cli-nats");
    expect(paths.some((p) => p.endsWith("/namespaces/seccompose/pods/nats-0/portforward"))).toBe(true);
    const record = (await (await new Kvm(nc).open(BUCKET_SESSIONS)).get("k1"))!.json<SessionRecord>();
    expect(record.expectedNodes).toEqual(["node-a"]);
    expect(record.targets).toEqual({ namespaces: ["shop"], labelSelector: "app=web" });
  }, 60_000);

  it("start warns when no pod matches the targets", async () => {
    const r = await runCli(
      ["start", "--kubeconfig", api.kubeconfigPath, "-n", "shop", "-l", "app=nothing", "--id", "k2"],
      { env },
    );
    expect(r.stderr).toContain("no running pod matches the targets (namespaces=shop selector=app=nothing)");
    expect(r.stdout).toBe("k2\n");
  }, 60_000);

  it("a wrong password in the CLI's Secret is refused by NATS with exit code 9", async () => {
    const good = api.get("Secret", "seccompose", "seccompose-cli-nats")!;
    api.update({ ...good, data: { password: b64("wrong") } });
    try {
      const r = await runCli(["status", "k1", "--kubeconfig", api.kubeconfigPath], { env });
      expect(r.code).toBe(9);
      expect(r.stderr).toContain("SC_NATS_PERMISSION");
    } finally {
      api.update(good);
    }
  }, 60_000);
});

describe("seccompose install and uninstall", () => {
  let api: FakeApiServer;
  let kubelet: EnrollmentKubelet;

  beforeAll(async () => {
    api = await startFakeApiServer({
      objects: [
        makeNode({ name: "node-a", kernelVersion: "6.8.0-1019-aws" }),
        makeNode({ name: "node-b", kernelVersion: "4.19.0-25-amd64" }),
      ],
    });
    kubelet = startEnrollmentKubelet(api, { namespace: "seccompose", root: join(dir, "node-identities") });
  });
  afterAll(async () => {
    await kubelet?.stop();
    await api?.stop();
  });

  it("install --dry-run -o yaml prints the manifests with the generated credentials, enrolls nothing and changes nothing", async () => {
    const before = api.requests.length;
    const r = await runCli(["install", "--kubeconfig", api.kubeconfigPath, "--dry-run", "-o", "yaml"], {
      env,
    });
    expect(r.code).toBe(0);
    expect(api.requests.slice(before).filter((q) => q.method !== "GET")).toEqual([]);
    expect(api.list("Pod", "seccompose")).toEqual([]);
    const objects = parseAllDocuments(r.stdout).map(
      (d) => d.toJS() as FakeObject & { data?: Record<string, string> },
    );
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ["Namespace", "StatefulSet", "DaemonSet", "Deployment", "Secret", "ClusterRole"])
      expect(kinds).toContain(kind);

    const secrets = objects.filter((o) => o.kind === "Secret");
    expect(secrets.map((o) => o.metadata?.name).sort()).toEqual([
      "nats-auth",
      "seccompose-aggregator-nats",
      "seccompose-cli-nats",
    ]);
    const find = (name: string) => secrets.find((o) => o.metadata?.name === name)!;
    const auth = find("nats-auth").data!;
    const users = (
      JSON.parse(unb64(auth["users.json"]!)) as { users: Array<{ user: string; password: string }> }
    ).users;
    // No node is enrolled before the real install: no agent user yet.
    expect(users.map((u) => u.user)).toEqual(["aggregator", "cli"]);
    const hash = (user: string) => users.find((u) => u.user === user)!.password;
    expect(bcrypt.compareSync(unb64(find("seccompose-cli-nats").data!.password!), hash("cli"))).toBe(true);
    expect(bcrypt.compareSync(unb64(find("seccompose-cli-nats").data!.password!), hash("aggregator"))).toBe(
      false,
    );
    expect(unb64(auth["routes.conf"]!).match(/@nats-\d\.nats-headless:6222/g)).toHaveLength(3);
    const nats = objects.find((o) => o.kind === "StatefulSet") as {
      spec: { template: { metadata: { annotations: Record<string, string> } } };
    };
    expect(nats.spec.template.metadata.annotations["seccompose.dev/nats-auth-sha256"]).toMatch(
      /^[0-9a-f]{64}$/,
    );

    expect(r.stderr).toContain("no existing install in namespace seccompose");
    expect(r.stderr).toContain(
      "node(s) to enroll (a one-shot pod on each creates its NATS key): node-a, node-b",
    );
    expect(r.stderr).toContain("Node node-b: kernel 4.19.0-25-amd64 is older than 5.8");
  }, 60_000);

  it("install server-side applies every object and waits for the rollout, with progress, while the workloads become ready", async () => {
    // Every object once, and the three credential Secrets.
    const expected = (await loadManifests("default")).length + 3;
    const before = api.requests.length;
    const install = spawnCli(["install", "--kubeconfig", api.kubeconfigPath, "--timeout", "60s"], env);
    const setStatus = (kind: string, name: string, status: Record<string, unknown>) => {
      const o = api.get(kind, "seccompose", name)!;
      api.update({ ...o, status: { observedGeneration: o.metadata!.generation, ...status } });
    };
    await eventually("the StatefulSet", () => api.get("StatefulSet", "seccompose", "nats"));
    const sts = { replicas: 3, updatedReplicas: 3, currentRevision: "nats-1", updateRevision: "nats-1" };
    setStatus("StatefulSet", "nats", { ...sts, readyReplicas: 1, availableReplicas: 1 });
    await install.waitFor(
      /rollout StatefulSet nats: 1\/3 Waiting for 2 pods of statefulset "nats" to be ready/,
      "stderr",
    );
    setStatus("StatefulSet", "nats", { ...sts, readyReplicas: 3, availableReplicas: 3 });
    await eventually("the Deployment", () => api.get("Deployment", "seccompose", "seccompose-aggregator"));
    // The manifests run 2 aggregator replicas.
    setStatus("Deployment", "seccompose-aggregator", {
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
    });
    await install.waitFor(/rollout DaemonSet seccompose-agent: /, "stderr");
    setStatus("DaemonSet", "seccompose-agent", {
      desiredNumberScheduled: 2,
      currentNumberScheduled: 2,
      updatedNumberScheduled: 2,
      numberReady: 2,
      numberAvailable: 2,
    });
    const r = await install.exited;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("seccompose installed in namespace seccompose of fake (default overlay)\n");
    expect(r.stderr).toContain("created StatefulSet seccompose/nats");
    expect(r.stderr).toContain('statefulset "nats" rolling update complete 3 pods at revision nats-1');
    expect(r.stderr).toContain('daemon set "seccompose-agent" successfully rolled out');
    const applies = api.requests
      .slice(before)
      .filter((q) => q.method === "PATCH" && q.contentType === "application/apply-patch+yaml");
    expect(applies).toHaveLength(expected);
    expect(applies.every((q) => q.query.fieldManager === "seccompose")).toBe(true);

    expect(kubelet.runs.map((run) => run.node).sort()).toEqual(["node-a", "node-b"]);
    // Installing again keeps the keys, passwords and hashes: nothing changes, nobody is enrolled.
    const authBefore = api.get("Secret", "seccompose", "nats-auth")!.data;
    const again = await runCli(["install", "--kubeconfig", api.kubeconfigPath, "--output", "json"], { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("found an existing install in namespace seccompose");
    const result = JSON.parse(again.stdout) as { applied: Array<{ action: string }> };
    expect(result.applied).toHaveLength(expected);
    expect(new Set(result.applied.map((a) => a.action))).toEqual(new Set(["unchanged"]));
    expect(api.get("Secret", "seccompose", "nats-auth")!.data).toEqual(authBefore);
    expect(kubelet.runs).toHaveLength(2);
  }, 120_000);

  it("uninstall deletes what install applied, generated Secrets included", async () => {
    const before = api.requests.length;
    const r = await runCli(["uninstall", "--kubeconfig", api.kubeconfigPath], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("deleted DaemonSet seccompose/seccompose-agent");
    expect(api.requests.slice(before).some((q) => q.method === "DELETE")).toBe(true);
    for (const [kind, name] of [
      ["DaemonSet", "seccompose-agent"],
      ["StatefulSet", "nats"],
      ["Secret", "nats-auth"],
      ["Secret", "seccompose-cli-nats"],
    ] as const) {
      expect(api.get(kind, "seccompose", name)).toBeUndefined();
    }
    expect(api.get("Namespace", undefined, "seccompose")).toBeUndefined();
  }, 60_000);
});
