import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { makeNamespace, makePod, startFakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";

let fake: FakeApiServer;
let dir: string;

beforeAll(async () => {
  fake = await startFakeApiServer({
    objects: [makeNamespace("shop"), makePod({ name: "web-1", namespace: "shop", node: "node-a" })],
  });
  dir = await mkdtemp(join(tmpdir(), "seccompose-kube-"));
});

afterAll(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfigFor(server: string, token: string, extra = "    insecure-skip-tls-verify: true\n") {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}`);
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ${server}
${extra}users:
- name: u
  user:
    token: ${token}
contexts:
- name: first
  context: { cluster: c, user: u, namespace: shop }
- name: second
  context: { cluster: c, user: u }
current-context: first
`,
  );
  return path;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function failure(promise: Promise<unknown>): Promise<SeccomposeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SeccomposeError);
    return err as SeccomposeError;
  }
  throw new Error("expected the request to fail");
}

describe("loadKube", () => {
  it("uses the kubeconfig's current context, its server and its default namespace", async () => {
    const kube = loadKube({ kubeconfig: fake.kubeconfigPath });
    expect(kube.context).toBe("fake");
    expect(kube.server).toBe(fake.url);
    expect(kube.namespace).toBe("default");
    const pod = await kube.core.readNamespacedPod({ namespace: "shop", name: "web-1" });
    expect(pod.spec?.nodeName).toBe("node-a");
  });

  it("switches to the requested context", async () => {
    const path = await kubeconfigFor(fake.url, fake.token);
    expect(loadKube({ kubeconfig: path }).namespace).toBe("shop");
    const kube = loadKube({ kubeconfig: path, context: "second" });
    expect(kube.context).toBe("second");
    expect(kube.namespace).toBe("default");
  });

  it("names the known contexts when the requested one does not exist", async () => {
    const err = await failure(
      Promise.resolve().then(() => loadKube({ kubeconfig: fake.kubeconfigPath, context: "prod" })),
    );
    expect(err.code).toBe(ErrorCodes.SC_K8S_CONFIG);
    expect(err.message).toContain('Context "prod" is not in the kubeconfig (contexts: fake)');
  });

  it("reports a kubeconfig that cannot be read, naming the file", async () => {
    const missing = join(dir, "missing");
    const err = await failure(Promise.resolve().then(() => loadKube({ kubeconfig: missing })));
    expect(err.code).toBe(ErrorCodes.SC_K8S_CONFIG);
    expect(err.message).toContain(missing);
  });

  it("refuses a plain-HTTP cluster without insecure-skip-tls-verify, naming the cluster", async () => {
    const path = await kubeconfigFor(fake.url, fake.token, "");
    const err = await failure(Promise.resolve().then(() => loadKube({ kubeconfig: path })));
    expect(err.code).toBe(ErrorCodes.SC_K8S_CONFIG);
    expect(err.message).toContain(`Cluster "c" uses plain HTTP (${fake.url})`);
  });
});

describe("Kube.call", () => {
  it("reports an API server that does not answer as SC_K8S_UNREACHABLE with its URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const kube = loadKube({ kubeconfig: await kubeconfigFor(url, "t") });
    const err = await failure(kube.call({ verb: "list", resource: "nodes" }, () => kube.core.listNode()));
    expect(err.code).toBe(ErrorCodes.SC_K8S_UNREACHABLE);
    expect(err.message).toBe(
      `Cannot reach the Kubernetes API server at ${url} to list nodes: ECONNREFUSED (connect ECONNREFUSED ${url.slice(7)})`,
    );
  });

  it("reports a 403 as SC_K8S_FORBIDDEN naming the verb, resource and namespace", async () => {
    fake.forbid({ verb: "list", resource: "pods", namespace: "kube-system" });
    const kube = loadKube({ kubeconfig: fake.kubeconfigPath });
    const err = await failure(
      kube.call({ verb: "list", resource: "pods", namespace: "kube-system" }, () =>
        kube.core.listNamespacedPod({ namespace: "kube-system" }),
      ),
    );
    expect(err.code).toBe(ErrorCodes.SC_K8S_FORBIDDEN);
    expect(err.message).toMatch(
      /^Not allowed to list pods in namespace "kube-system" \(403 Forbidden\): pods is forbidden: User ".*" cannot list resource "pods"/,
    );
    expect(err.details).toMatchObject({
      server: fake.url,
      verb: "list",
      resource: "pods",
      status: 403,
      reason: "Forbidden",
    });
  });

  it("reports rejected credentials as SC_K8S_FORBIDDEN", async () => {
    const kube = loadKube({ kubeconfig: await kubeconfigFor(fake.url, "stolen") });
    const err = await failure(kube.call({ verb: "list", resource: "nodes" }, () => kube.core.listNode()));
    expect(err.code).toBe(ErrorCodes.SC_K8S_FORBIDDEN);
    expect(err.message).toContain("rejected the credentials (401 Unauthorized) when trying to list nodes");
  });

  it("reports a missing object as SC_K8S_NOT_FOUND naming it", async () => {
    const kube = loadKube({ kubeconfig: fake.kubeconfigPath });
    const err = await failure(
      kube.call({ verb: "get", resource: "daemonsets", namespace: "shop", name: "agent" }, () =>
        kube.apps.readNamespacedDaemonSet({ namespace: "shop", name: "agent" }),
      ),
    );
    expect(err.code).toBe(ErrorCodes.SC_K8S_NOT_FOUND);
    expect(err.message).toBe(
      'Cannot get daemonsets "agent" in namespace "shop": not found: daemonsets.apps "agent" not found',
    );
  });
});
