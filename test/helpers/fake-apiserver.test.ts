import { KubeConfig, KubernetesObjectApi, PatchStrategy, Watch } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  makeDaemonSet,
  makeNamespace,
  makeNode,
  makePod,
  startFakeApiServer,
  templateHashFor,
  uidFor,
} from "./fake-apiserver.ts";
import type { FakeApiServer, FakeObject } from "./fake-apiserver.ts";

let fake: FakeApiServer;

beforeEach(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeNode({ name: "node-a" }),
      makePod({ name: "web-1", namespace: "shop", node: "node-a", labels: { app: "web", tier: "front" } }),
      makePod({ name: "web-2", namespace: "shop", node: "node-b", labels: { app: "web" } }),
      makePod({ name: "db-0", namespace: "default", node: "node-a", labels: { app: "db" } }),
    ],
  });
});

afterEach(async () => {
  await fake.stop();
});

async function get(
  path: string,
  token = fake.token,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${fake.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function send(
  method: string,
  path: string,
  body: unknown,
  contentType: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${fake.token}`, "content-type": contentType },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function names(list: { body: Record<string, unknown> }): string[] {
  return (list.body.items as FakeObject[]).map((o) => o.metadata!.name!);
}

describe("fake API server", () => {
  it("rejects a request without the kubeconfig's token with a 401 Status and records it", async () => {
    const res = await get("/api/v1/pods", "wrong");
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
    expect(fake.requests.at(-1)).toMatchObject({ method: "GET", path: "/api/v1/pods" });
  });

  it("filters pod lists by label selector and by spec.nodeName, within a namespace and across all", async () => {
    expect(names(await get("/api/v1/pods"))).toEqual(["db-0", "web-1", "web-2"]);
    expect(names(await get("/api/v1/namespaces/shop/pods"))).toEqual(["web-1", "web-2"]);
    expect(names(await get(`/api/v1/pods?labelSelector=${encodeURIComponent("app in (web),tier")}`))).toEqual(
      ["web-1"],
    );
    expect(
      names(await get(`/api/v1/pods?fieldSelector=${encodeURIComponent("spec.nodeName=node-a")}`)),
    ).toEqual(["db-0", "web-1"]);
    const unsupported = await get(`/api/v1/pods?fieldSelector=${encodeURIComponent("spec.hostname=x")}`);
    expect(unsupported.status).toBe(400);
  });

  it("returns typed lists whose items carry no kind, with the current resource version", async () => {
    const list = await get("/api/v1/namespaces/shop/pods");
    expect(list.body.kind).toBe("PodList");
    expect((list.body.items as FakeObject[])[0]!.kind).toBeUndefined();
    expect(Number((list.body.metadata as { resourceVersion: string }).resourceVersion)).toBeGreaterThan(0);
  });

  it("answers a missing object with a NotFound Status naming it", async () => {
    const res = await get("/api/v1/namespaces/shop/pods/nope");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ reason: "NotFound", message: 'pods "nope" not found' });
  });

  it("answers forbidden requests with 403 as RBAC would, other verbs still allowed", async () => {
    fake.forbid({ verb: "list", resource: "pods", namespace: "shop" });
    const denied = await get("/api/v1/namespaces/shop/pods");
    expect(denied.status).toBe(403);
    expect(denied.body.message).toMatch(
      /cannot list resource "pods" in API group "" in the namespace "shop"/,
    );
    expect((await get("/api/v1/namespaces/shop/pods/web-1")).status).toBe(200);
  });

  it("serves discovery so the kind-agnostic client can read any built-in kind", async () => {
    fake.add(makeDaemonSet({ name: "agent", namespace: "shop", desired: 2, ready: 2, updated: 2 }));
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigPath);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const ds = await objects.read({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "agent", namespace: "shop" },
    });
    expect(ds.metadata?.uid).toBe(uidFor("DaemonSet", "shop", "agent"));
  });

  it("streams watch events from a resource version, adding and deleting objects that enter or leave the selection", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigPath);
    const list = await get(`/api/v1/pods?fieldSelector=${encodeURIComponent("spec.nodeName=node-a")}`);
    const rv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
    const seen: string[] = [];
    let notify: () => void = () => {};
    const controller = await new Watch(kc).watch(
      "/api/v1/pods",
      { resourceVersion: rv, fieldSelector: "spec.nodeName=node-a" },
      (type: string, obj: FakeObject) => {
        seen.push(`${type} ${obj.metadata!.name}`);
        notify();
      },
      () => {},
    );
    const until = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => {
          if (seen.length >= n) resolve();
        };
        notify();
      });
    fake.add(makePod({ name: "new", namespace: "shop", node: "node-a" }));
    await until(1);
    const moved = fake.get("Pod", "shop", "web-2")!;
    (moved.spec as { nodeName: string }).nodeName = "node-a";
    fake.update(moved);
    await until(2);
    const labelled = fake.get("Pod", "shop", "new")!;
    labelled.metadata!.labels = { changed: "yes" };
    fake.update(labelled);
    await until(3);
    (moved.spec as { nodeName: string }).nodeName = "node-b";
    fake.update(moved);
    await until(4);
    fake.remove("Pod", "shop", "new");
    await until(5);
    controller.abort();
    expect(seen).toEqual(["ADDED new", "ADDED web-2", "MODIFIED new", "DELETED web-2", "DELETED new"]);
  });

  it("applies server-side: creates, leaves an identical object untouched, and reports conflicts unless forced", async () => {
    const path = "/apis/apps/v1/namespaces/shop/daemonsets/agent";
    const manifest = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "agent", namespace: "shop", labels: { app: "agent" } },
      spec: {
        selector: { matchLabels: { app: "agent" } },
        template: { spec: { containers: [{ name: "a", image: "a:1" }] } },
      },
    };
    const apply = (force: boolean, body: unknown = manifest) =>
      send(
        "PATCH",
        `${path}?fieldManager=seccompose${force ? "&force=true" : ""}`,
        body,
        PatchStrategy.ServerSideApply,
      );
    const created = await apply(false);
    expect(created.status).toBe(201);
    const again = await apply(false);
    expect(again.status).toBe(200);
    expect((again.body.metadata as { resourceVersion: string }).resourceVersion).toBe(
      (created.body.metadata as { resourceVersion: string }).resourceVersion,
    );

    const edited = fake.get("DaemonSet", "shop", "agent")!;
    (
      edited.spec as { template: { spec: { containers: Array<{ image: string }> } } }
    ).template.spec.containers[0]!.image = "a:2";
    fake.update(edited, "kubectl-edit");
    const conflict = await apply(false);
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toMatch(/conflict with "kubectl-edit": \.spec\.template\.spec\.containers/);
    const forced = await apply(true);
    expect(forced.status).toBe(200);
    expect(fake.get("DaemonSet", "shop", "agent")!.metadata!.generation).toBe(3);

    // A field the manager stops applying is removed.
    const withoutLabels = { ...manifest, metadata: { name: "agent", namespace: "shop" } };
    await apply(false, withoutLabels);
    expect(fake.get("DaemonSet", "shop", "agent")!.metadata!.labels).toBeUndefined();
  });

  it("applies server-side into one container of a list keyed by name, and an empty apply takes back only that manager's fields", async () => {
    const path = "/apis/apps/v1/namespaces/shop/deployments/web";
    const owner = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
          spec: {
            containers: [
              { name: "nginx", image: "nginx:1", securityContext: { runAsNonRoot: true } },
              { name: "sidecar", image: "envoy:1" },
            ],
          },
        },
      },
    };
    const apply = (manager: string, body: unknown) =>
      send("PATCH", `${path}?fieldManager=${manager}`, body, PatchStrategy.ServerSideApply);
    expect((await apply("gitops", owner)).status).toBe(201);
    const binding = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        template: {
          spec: {
            containers: [{ name: "nginx", securityContext: { seccompProfile: { type: "Localhost" } } }],
          },
        },
      },
    };
    expect((await apply("binder", binding)).status).toBe(200);
    const bound = fake.get("Deployment", "shop", "web")!;
    const template = (o: FakeObject) =>
      (o.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec;
    expect(template(bound).containers).toEqual([
      {
        name: "nginx",
        image: "nginx:1",
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "Localhost" } },
      },
      { name: "sidecar", image: "envoy:1" },
    ]);
    type ManagedFields = Array<{ manager: string; fieldsV1: unknown }>;
    const managers = (o: FakeObject) => o.metadata!.managedFields as ManagedFields;
    const binder = managers(bound).find((m) => m.manager === "binder")!;
    expect(binder.fieldsV1).toEqual({
      "f:spec": {
        "f:template": {
          "f:spec": {
            "f:containers": {
              'k:{"name":"nginx"}': {
                ".": {},
                "f:name": {},
                "f:securityContext": { "f:seccompProfile": { "f:type": {} } },
              },
            },
          },
        },
      },
    });

    const conflict = await apply("other", {
      ...binding,
      spec: {
        template: {
          spec: {
            containers: [{ name: "nginx", securityContext: { seccompProfile: { type: "Unconfined" } } }],
          },
        },
      },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toContain(
      'conflict with "binder": .spec.template.spec.containers[name="nginx"].securityContext.seccompProfile.type',
    );

    const emptied = await apply("binder", { ...binding, spec: undefined });
    expect(emptied.status).toBe(200);
    const after = fake.get("Deployment", "shop", "web")!;
    expect(template(after).containers).toEqual(owner.spec.template.spec.containers);
    expect(managers(after).map((m) => m.manager)).toEqual(["gitops"]);
  });

  it("merges pod status conditions by type on a strategic merge patch and leaves the spec alone", async () => {
    const res = await send(
      "PATCH",
      "/api/v1/namespaces/shop/pods/web-1/status",
      {
        spec: { nodeName: "elsewhere" },
        status: {
          conditions: [{ type: "seccompose.dev/FalcoHealthy", status: "False", reason: "FalcoExited" }],
        },
      },
      PatchStrategy.StrategicMergePatch,
    );
    expect(res.status).toBe(200);
    const pod = fake.get("Pod", "shop", "web-1")!;
    const types = (pod.status as { conditions: Array<{ type: string }> }).conditions.map((c) => c.type);
    expect(types).toEqual([
      "PodScheduled",
      "Initialized",
      "ContainersReady",
      "Ready",
      "seccompose.dev/FalcoHealthy",
    ]);
    expect((pod.spec as { nodeName: string }).nodeName).toBe("node-a");
  });

  it("serves a custom resource's kind once its definition is stored", async () => {
    const crPath = "/apis/security-profiles-operator.x-k8s.io/v1beta1/namespaces/shop/seccompprofiles";
    expect((await get(crPath)).status).toBe(404);
    fake.add({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "seccompprofiles.security-profiles-operator.x-k8s.io" },
      spec: {
        group: "security-profiles-operator.x-k8s.io",
        scope: "Namespaced",
        names: { kind: "SeccompProfile", plural: "seccompprofiles", singular: "seccompprofile" },
        versions: [{ name: "v1beta1", served: true, storage: true }],
      },
    });
    const discovery = await get("/apis/security-profiles-operator.x-k8s.io/v1beta1");
    expect((discovery.body.resources as Array<{ kind: string }>).map((r) => r.kind)).toEqual([
      "SeccompProfile",
    ]);
    expect((await get(crPath)).status).toBe(200);
  });

  it("makes Deployment pods owned by a ReplicaSet named with the pod-template-hash", () => {
    const pod = makePod({
      name: "web-x",
      namespace: "shop",
      node: "node-a",
      owner: { kind: "Deployment", name: "web" },
    });
    const hash = templateHashFor("web");
    expect(pod.metadata!.labels!["pod-template-hash"]).toBe(hash);
    expect(pod.metadata!.ownerReferences).toEqual([
      expect.objectContaining({
        kind: "ReplicaSet",
        name: `web-${hash}`,
        uid: uidFor("ReplicaSet", "shop", `web-${hash}`),
      }),
    ]);
    const statuses = (pod.status as { containerStatuses: Array<{ containerID: string }> }).containerStatuses;
    expect(statuses[0]!.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
  });
});
