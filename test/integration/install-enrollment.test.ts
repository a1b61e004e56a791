/**
 * Node-held NATS credentials end to end: the real `seccompose install` against the stand-in API
 * server enrolls each node with a one-shot pod pinned to it; the test plays the kubelet and runs
 * the real enroll entry point of the agent with a directory per node standing in for the identity
 * hostPath. Install writes users.json with exactly the public keys the nodes reported and no
 * agent password anywhere; installing again reuses the keys and enrolls only new nodes; a failed
 * enrollment names its node. Then a real nats-server runs that users.json: the real agent logs in
 * with its node's seed and records, and node-a's seed cannot speak as node-b.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import bcrypt from "bcryptjs";
import { readNodeIdentity } from "../../lib/nats/node-identity.ts";
import { recordStrace } from "../../lib/strace/record.ts";
import { nonReturningSyscalls } from "../../lib/syscalls/non-returning.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { eventSubject, replySubject, replySubjectsOf } from "../../lib/subjects.ts";
import { permissionsOf } from "../deploy/nats-users.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import {
  control,
  mergeStored,
  prepareBroker,
  readSessionMessages,
  sessionRecord,
} from "../helpers/cluster.ts";
import { startEnrollmentKubelet, type EnrollmentKubelet } from "../helpers/enrollment-kubelet.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  makeNode,
  startFakeApiServer,
  type FakeApiServer,
  type FakeObject,
} from "../helpers/fake-apiserver.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, type CliResult } from "./cli.ts";

const NS = "seccompose";
const SEED_FILE = "nats-user.nk";
const IDENTITY_HOST_PATH = "/var/lib/seccompose-identity";

interface UserEntry {
  nkey?: string;
  user?: string;
  password?: string;
  permissions?: unknown;
}

let dir: string;
let env: NodeJS.ProcessEnv;
let api: FakeApiServer;
let kubelet: EnrollmentKubelet;
const stuck: Record<string, { reason: string; message: string }> = {};
let stopRollouts: () => Promise<void>;

const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8");
const secretData = (name: string): Record<string, string> | undefined => {
  const data = api.get("Secret", NS, name)?.data as Record<string, string> | undefined;
  return data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, unb64(v)]));
};
const installedUsers = (): UserEntry[] =>
  (JSON.parse(secretData("nats-auth")!["users.json"]!) as { users: UserEntry[] }).users;
const agentKeys = (): string[] =>
  installedUsers()
    .flatMap((u) => (u.nkey !== undefined ? [u.nkey] : []))
    .sort();
const seedOf = (node: string) => join(kubelet.identityDir(node), SEED_FILE);

/** Reports every workload rolled out at its current generation, as the controllers would. */
function keepRolledOut(): () => Promise<void> {
  let stopped = false;
  const statusOf: Record<string, (o: FakeObject) => Record<string, unknown>> = {
    StatefulSet: () => ({
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      updatedReplicas: 3,
      currentRevision: "nats-1",
      updateRevision: "nats-1",
    }),
    Deployment: (o) => {
      const n = (o.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      return { replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n };
    },
    DaemonSet: () => {
      const n = api.list("Node").length;
      return {
        desiredNumberScheduled: n,
        currentNumberScheduled: n,
        updatedNumberScheduled: n,
        numberReady: n,
        numberAvailable: n,
      };
    },
  };
  const loop = (async () => {
    while (!stopped) {
      for (const [kind, status] of Object.entries(statusOf)) {
        for (const o of api.list(kind, NS)) {
          const observed = (o.status as { observedGeneration?: number } | undefined)?.observedGeneration;
          if (observed !== o.metadata!.generation)
            api.update({ ...o, status: { observedGeneration: o.metadata!.generation, ...status(o) } });
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

function install(...extra: string[]): Promise<CliResult> {
  return runCli(["install", "--kubeconfig", api.kubeconfigPath, "--timeout", "60s", ...extra], { env });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-enroll-it-"));
  env = { ...process.env, HOME: dir, KUBECONFIG: "", SECCOMPOSE_CONFIG: join(dir, "config.yaml") };
  delete env.SECCOMPOSE_NATS_URL;
  api = await startFakeApiServer({
    objects: [makeNode({ name: "node-a" }), makeNode({ name: "ip-10-0-0-7.ec2.internal" })],
  });
  kubelet = startEnrollmentKubelet(api, { namespace: NS, root: join(dir, "nodes"), stuck });
  stopRollouts = keepRolledOut();
});
afterAll(async () => {
  await stopRollouts?.();
  await kubelet?.stop();
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("seccompose install enrolls each node with a key created on the node", () => {
  it("runs one enrollment pod per node, pinned to it with the identity hostPath, and writes users.json with exactly the keys the nodes reported", async () => {
    const r = await install();
    expect(r.stderr).toContain(
      "node(s) to enroll (a one-shot pod on each creates its NATS key): ip-10-0-0-7.ec2.internal, node-a",
    );
    expect(r.code, r.stderr).toBe(0);

    expect(kubelet.runs.map((run) => run.node).sort()).toEqual(["ip-10-0-0-7.ec2.internal", "node-a"]);
    const ds = api.get("DaemonSet", NS, "seccompose-agent") as {
      spec: {
        template: {
          spec: { containers: Array<{ image: string; env: Array<{ name: string; value?: string }> }> };
        };
      };
    };
    const agent = ds.spec.template.spec.containers[0]!;
    for (const { node, pod, exitCode, message } of kubelet.runs) {
      const spec = pod.spec!;
      expect(spec.nodeName).toBe(node);
      expect(spec.restartPolicy).toBe("Never");
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(spec.volumes).toEqual([
        { name: "node-identity", hostPath: { path: IDENTITY_HOST_PATH, type: "DirectoryOrCreate" } },
      ]);
      const container = spec.containers[0]!;
      expect(container.image).toBe(agent.image);
      expect(container.args).toEqual(["enroll"]);
      expect(container.volumeMounts).toEqual([{ name: "node-identity", mountPath: IDENTITY_HOST_PATH }]);
      expect(container.env).toContainEqual(agent.env.find((e) => e.name === "SECCOMPOSE_NATS_NKEY_FILE"));
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(exitCode).toBe(0);
      // The seed is on the node (0600); only its public key went into the termination message.
      expect((await stat(seedOf(node))).mode & 0o777).toBe(0o600);
      expect(message.trim()).toBe((await readNodeIdentity(seedOf(node))).publicKey);
    }
    // Done pods are deleted.
    expect(api.list("Pod", NS)).toEqual([]);

    const keys = await Promise.all(
      kubelet.runs.map(async (run) => (await readNodeIdentity(seedOf(run.node))).publicKey),
    );
    expect(agentKeys()).toEqual(keys.sort());
    const users = installedUsers();
    for (const run of kubelet.runs) {
      const { publicKey } = await readNodeIdentity(seedOf(run.node));
      // An NKey user with that node's permissions, and no name or password.
      expect(users.find((u) => u.nkey === publicKey)).toEqual({
        nkey: publicKey,
        permissions: permissionsOf("agent", run.node),
      });
    }
    expect(users.filter((u) => u.nkey === undefined).map((u) => u.user)).toEqual(["aggregator", "cli"]);
    expect(
      bcrypt.compareSync(
        secretData("seccompose-cli-nats")!.password!,
        users.find((u) => u.user === "cli")!.password!,
      ),
    ).toBe(true);

    // No Secret holds an agent credential, and no seed ever reached the API server.
    expect(
      api
        .list("Secret", NS)
        .map((s) => s.metadata!.name)
        .sort(),
    ).toEqual(["nats-auth", "seccompose-aggregator-nats", "seccompose-cli-nats"]);
    const everything = JSON.stringify([
      api.requests.map((q) => q.body),
      ...["Secret", "ConfigMap", "Pod"].map((k) => api.list(k, NS)),
    ]);
    for (const run of kubelet.runs) {
      const seed = (await readFile(seedOf(run.node), "utf8")).trim();
      expect(everything).not.toContain(seed);
    }
  }, 120_000);

  it("keeps every node's key when run again, enrolling nobody, and enrolls only a node that joined", async () => {
    const authBefore = api.get("Secret", NS, "nats-auth")!.data;
    const keysBefore = agentKeys();
    const again = await install();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("all 2 node(s) are enrolled already; their keys are kept");
    expect(kubelet.runs).toHaveLength(2);
    expect(api.get("Secret", NS, "nats-auth")!.data).toEqual(authBefore);

    api.add(makeNode({ name: "node-c" }));
    const digestBefore = (
      api.get("StatefulSet", NS, "nats") as {
        spec: { template: { metadata: { annotations: Record<string, string> } } };
      }
    ).spec.template.metadata.annotations["seccompose.dev/nats-auth-sha256"];
    const joined = await install();
    expect(joined.code, joined.stderr).toBe(0);
    expect(joined.stderr).toContain(
      "node(s) to enroll (a one-shot pod on each creates its NATS key): node-c; 2 node(s) keep their keys",
    );
    expect(kubelet.runs.map((run) => run.node).slice(2)).toEqual(["node-c"]);
    const keyC = (await readNodeIdentity(seedOf("node-c"))).publicKey;
    expect(agentKeys()).toEqual([...keysBefore, keyC].sort());
    // The NATS servers restart to load the new user.
    const digestAfter = (
      api.get("StatefulSet", NS, "nats") as {
        spec: { template: { metadata: { annotations: Record<string, string> } } };
      }
    ).spec.template.metadata.annotations["seccompose.dev/nats-auth-sha256"];
    expect(digestAfter).not.toBe(digestBefore);
  }, 180_000);

  it("names each node whose enrollment failed or never finished, with the reason from its pod status, and changes no user", async () => {
    // node-d's identity path is taken by a file, so the real enroll fails there; node-e's image never arrives.
    api.add(makeNode({ name: "node-d" }));
    api.add(makeNode({ name: "node-e" }));
    await writeFile(kubelet.identityDir("node-d"), "not a directory");
    stuck["node-e"] = {
      reason: "ImagePullBackOff",
      message: 'Back-off pulling image "seccompose/agent:0.1.0"',
    };
    const authBefore = api.get("Secret", NS, "nats-auth")!.data;

    const r = await runCli(["install", "--kubeconfig", api.kubeconfigPath, "--timeout", "8s"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /error \[SC_ENROLLMENT_FAILED\]: enrollment did not succeed on 2 of 2 node\(s\)/,
    );
    expect(r.stderr).toMatch(
      /node-d \(pod seccompose-enroll-\w+\): failed: SC_NODE_IDENTITY: cannot prepare the identity directory .*node-d/,
    );
    expect(r.stderr).toMatch(
      /node-e \(pod seccompose-enroll-\w+\): did not finish within \d+ s: ImagePullBackOff: Back-off pulling image/,
    );
    expect(api.get("Secret", NS, "nats-auth")!.data).toEqual(authBefore);
    expect(api.list("Pod", NS)).toEqual([]);
    api.remove("Node", undefined, "node-d");
    api.remove("Node", undefined, "node-e");
  }, 120_000);
});

describe("seccompose install --enroll", () => {
  it("enrolls named nodes again: a seed still on the node is kept, a lost one is replaced", async () => {
    const keys = async () =>
      Object.fromEntries(
        await Promise.all(
          ["node-a", "ip-10-0-0-7.ec2.internal", "node-c"].map(
            async (n) => [n, (await readNodeIdentity(seedOf(n))).publicKey] as const,
          ),
        ),
      );
    const before = await keys();
    const runs = kubelet.runs.length;
    const all = await install("--enroll", "all");
    expect(all.code, all.stderr).toBe(0);
    expect(kubelet.runs.length - runs).toBe(3);
    expect(await keys()).toEqual(before);

    // node-a was reinstalled: its identity directory is gone.
    await rm(kubelet.identityDir("node-a"), { recursive: true });
    const again = await install("--enroll", "node-a");
    expect(again.code, again.stderr).toBe(0);
    const after = await keys();
    expect(after["node-a"]).not.toBe(before["node-a"]);
    expect(after).toEqual({ ...before, "node-a": after["node-a"] });
    expect(agentKeys()).toEqual(Object.values(after).sort());

    const unknown = await install("--enroll", "node-a,nope");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      '--enroll must name nodes of the cluster (comma-separated) or all; not nodes: "nope"',
    );
  }, 180_000);
});

describe("the users.json install wrote, on a real nats-server", () => {
  const ADMIN = { user: "admin", password: "enroll-test-admin" };
  let server: NatsServerHandle;
  let admin: NatsConnection;
  let cli: NatsConnection;
  let attacker: NatsConnection;
  let agent: AgentProcess;
  const NODE_B = "ip-10-0-0-7.ec2.internal";

  beforeAll(async () => {
    // The admin user only observes the stream; everyone else is exactly what install wrote.
    const users = [...installedUsers(), ADMIN];
    server = await startNatsServer({ config: `authorization { users: ${JSON.stringify(users)} }` });
    admin = await connect({ servers: server.url, user: ADMIN.user, pass: ADMIN.password });
    await prepareBroker(admin);
    cli = await connect({
      servers: server.url,
      user: "cli",
      pass: secretData("seccompose-cli-nats")!.password!,
      inboxPrefix: "_INBOX.cli",
    });
    // The attacker holds node-a's seed, as someone who took over node-a's agent container would.
    attacker = await connect({
      servers: server.url,
      authenticator: nkeyAuthenticator((await readNodeIdentity(seedOf("node-a"))).seed),
      inboxPrefix: "_INBOX.agent.node-a",
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.kill().catch(() => {});
    for (const nc of [admin, cli, attacker]) await nc?.close();
    await server?.stop();
  });

  it("lets node-a's real agent log in with its seed and record a session", async () => {
    const commands = join(dir, "commands.json");
    const pod = { uid: "0a0a0a0a-1111-4222-8333-444455556666", cid: "c".repeat(64) };
    await writeFile(
      commands,
      JSON.stringify([{ cmd: ["ls", "-la", "/usr"], podUid: pod.uid, containerId: pod.cid }]),
    );
    const pods = join(dir, "pods.json");
    await writeFile(
      pods,
      JSON.stringify({
        pods: [
          {
            uid: pod.uid,
            name: "lister-1",
            namespace: "shop",
            labels: { app: "lister" },
            owner: { kind: "Deployment", name: "lister" },
            containers: [{ name: "ls", id: pod.cid }],
          },
        ],
      }),
    );
    agent = await startAgentProcess({
      node: "node-a",
      natsUrls: [server.url],
      stateDir: join(dir, "state-node-a"),
      podsFile: pods,
      env: {
        SECCOMPOSE_NATS_NKEY_FILE: seedOf("node-a"),
        STANDIN_MODE: "strace",
        STANDIN_COMMANDS: commands,
      },
    });
    const [started] = await control(cli, "start", {
      session: sessionRecord("enrolled", { targets: { namespaces: ["shop"] } }),
    });
    expect(started).toMatchObject({ ok: true, node: "node-a" });
    // Until the agent has read every alert of the command for a few health polls.
    let last = -1;
    let stable = 0;
    await eventually(
      "the agent to go quiet",
      async () => {
        const [health] = await control(cli, "health", {});
        const seen = health?.health?.counters.alertsRead ?? 0;
        stable = seen === last && seen > 0 ? stable + 1 : 0;
        last = seen;
        return stable >= 4 ? true : undefined;
      },
      60_000,
    );
    const [stopped] = await control(cli, "stop", { sessionId: "enrolled" });
    expect(stopped).toMatchObject({ ok: true, node: "node-a" });

    const stored = await readSessionMessages(admin, "enrolled");
    const batches = stored.filter((s) => s.message.kind === "batch");
    expect(stored.find((s) => s.message.kind === "fin")?.message).toMatchObject({
      node: "node-a",
      batches: batches.length,
    });
    expect(stored.every((s) => s.subject === eventSubject(0, "enrolled", "node-a"))).toBe(true);
    const nonReturning = new Set(nonReturningSyscalls(scmpArchesForNode(process.arch)));
    const expected = new Set(
      (await recordStrace(["ls", "-la", "/usr"], { stdio: "null" })).records.flatMap((r) =>
        r.kind === "syscall" && !nonReturning.has(r.name) ? [r.name] : [],
      ),
    );
    const seen = [
      ...mergeStored(stored)
        .workload({ namespace: "shop", kind: "Deployment", name: "lister", container: "ls" })
        .syscalls.keys(),
    ];
    expect(new Set(seen.filter((n) => !nonReturning.has(n)))).toEqual(expected);
  }, 120_000);

  it("stops an agent on a node that was never enrolled with SC_NODE_IDENTITY, naming its seed file", async () => {
    const missing = join(dir, "nodes", "never-enrolled", SEED_FILE);
    await expect(
      startAgentProcess({
        node: "never-enrolled",
        natsUrls: [server.url],
        stateDir: join(dir, "state-never"),
        podsFile: join(dir, "pods.json"),
        env: { SECCOMPOSE_NATS_NKEY_FILE: missing },
      }),
    ).rejects.toThrow(
      /"code":"SC_NODE_IDENTITY".*never-enrolled\/nats-user\.nk does not exist: this node has not been enrolled/,
    );
  });

  it("keeps node-a's seed from publishing node-b's events or control replies", async () => {
    const forged = eventSubject(0, "enrolled", NODE_B);
    await expect(jetstream(attacker).publish(forged, "forged")).rejects.toThrow(
      `Permissions Violation for Publish to "${forged}"`,
    );
    const token = "e".repeat(32);
    const received: string[] = [];
    cli.subscribe(replySubjectsOf(token), { callback: (_e, m) => void received.push(m.subject) });
    await cli.flush();
    attacker.publish(replySubject(token, NODE_B), "forged");
    attacker.publish(replySubject(token, "node-a"), "own");
    await attacker.flush();
    await eventually("node-a's own reply", () => received.length >= 1);
    await cli.flush();
    expect(received).toEqual([replySubject(token, "node-a")]);
  });
});
