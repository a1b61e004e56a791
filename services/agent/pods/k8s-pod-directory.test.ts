import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKube } from "../../../lib/k8s/client.ts";
import {
  containerIdFor,
  makeNamespace,
  makeNode,
  makePod,
  startFakeApiServer,
} from "../../../test/helpers/fake-apiserver.ts";
import { KubernetesPodDirectory } from "./k8s-pod-directory.ts";

type Fake = Awaited<ReturnType<typeof startFakeApiServer>>;
let api: Fake;

beforeAll(async () => {
  api = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeNode({ name: "node-a" }),
      makeNode({ name: "node-b" }),
      makePod({
        name: "web-1",
        namespace: "shop",
        node: "node-a",
        owner: { kind: "Deployment", name: "web" },
        containers: [{ name: "nginx" }],
      }),
      makePod({
        name: "db-0",
        namespace: "shop",
        node: "node-b",
        owner: { kind: "StatefulSet", name: "db" },
        containers: [{ name: "pg" }],
      }),
    ],
  });
});
afterAll(async () => {
  await api?.stop();
});

describe("KubernetesPodDirectory", () => {
  it("knows the pods of its own node with their workload owner and container ids", async () => {
    const dir = await KubernetesPodDirectory.open(
      loadKube({ kubeconfig: api.kubeconfigPath }),
      "node-a",
      () => {},
    );
    try {
      const web = api.get("Pod", "shop", "web-1") as { metadata: { uid: string } };
      const db = api.get("Pod", "shop", "db-0") as { metadata: { uid: string } };
      const info = dir.byUid(web.metadata.uid);
      expect(info).toMatchObject({
        name: "web-1",
        namespace: "shop",
        owner: { kind: "Deployment", name: "web" },
      });
      expect(Object.values(info!.containers)).toEqual(["nginx"]);
      expect(Object.keys(info!.containers)[0]).toBe(containerIdFor("web-1", "nginx"));
      expect(dir.byUid(db.metadata.uid)).toBeUndefined();
    } finally {
      await dir.stop();
    }
  });

  it("tells its listeners when a pod arrives on the node", async () => {
    const dir = await KubernetesPodDirectory.open(
      loadKube({ kubeconfig: api.kubeconfigPath }),
      "node-a",
      () => {},
    );
    try {
      const changed = new Promise<void>((resolve) => dir.onChange(resolve));
      api.add(
        makePod({
          name: "web-2",
          namespace: "shop",
          node: "node-a",
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx" }],
        }),
      );
      await changed;
      const uid = (api.get("Pod", "shop", "web-2") as { metadata: { uid: string } }).metadata.uid;
      expect(dir.byUid(uid)?.owner).toEqual({ kind: "Deployment", name: "web" });
    } finally {
      await dir.stop();
    }
  });
});
