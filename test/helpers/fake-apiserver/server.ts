/** Starts the stand-in API server: wires the store, watches, RBAC rules and port-forwards to one HTTP server. */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AccessRules } from "./access.ts";
import { clone } from "./json.ts";
import { PortForwards } from "./port-forward.ts";
import { serveRequest } from "./requests.ts";
import type { ApiContext } from "./requests.ts";
import { NO_SELECTORS } from "./selectors.ts";
import { ObjectStore } from "./store.ts";
import type { FakeApiServer, FakeApiServerOptions, RecordedRequest } from "./types.ts";
import { Watches } from "./watches.ts";

const CLUSTER_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const token = opts.token ?? `fake-${randomUUID()}`;
  const requests: RecordedRequest[] = [];
  const watches = new Watches();
  const store = new ObjectStore((change) => watches.publish(change));
  const ctx: ApiContext = { store, watches, access: new AccessRules(), token, requests };
  const portForwards = new PortForwards(ctx);

  const namespaces = store.types.byKind("Namespace");
  for (const name of CLUSTER_NAMESPACES) {
    store.commit(
      namespaces,
      store.initialize(namespaces, { metadata: { name } }, undefined),
      "ADDED",
      undefined,
    );
  }
  for (const obj of opts.objects ?? []) store.add(obj);

  const server = createServer((req, res) => serveRequest(ctx, req, res));
  server.on("upgrade", (req, socket, head) => portForwards.upgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(join(tmpdir(), "seccompose-fake-apiserver-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  await writeFile(kubeconfigPath, kubeconfigText(url, token));

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    add: (obj) => store.add(obj),
    update: (obj, manager = "fake-controller") => store.replace(obj, manager),
    remove(kind, namespace, name) {
      const type = store.types.byKind(kind);
      const current = store.find(type, namespace, name);
      if (current) store.delete(type, current);
    },
    get(kind, namespace, name) {
      const found = store.find(store.types.byKind(kind), namespace, name);
      return found ? clone(found) : undefined;
    },
    list(kind, namespace) {
      return store.list(store.types.byKind(kind), namespace, NO_SELECTORS).map(clone);
    },
    forbid: (rule) => ctx.access.forbid(rule),
    dropWatches: () => watches.endAll(),
    forwardPort: (namespace, pod, podPort, targetPort) =>
      portForwards.forward(namespace, pod, podPort, targetPort),
    async stop() {
      watches.endAll();
      portForwards.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function kubeconfigText(url: string, token: string): string {
  // The client refuses plain http unless TLS verification is off, as kubectl does not.
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: fake",
    "    cluster:",
    `      server: ${url}`,
    "      insecure-skip-tls-verify: true",
    "users:",
    "  - name: fake",
    "    user:",
    `      token: ${token}`,
    "contexts:",
    "  - name: fake",
    "    context:",
    "      cluster: fake",
    "      user: fake",
    "      namespace: default",
    "current-context: fake",
    "",
  ].join("\n");
}
