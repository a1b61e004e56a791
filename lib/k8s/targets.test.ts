import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import { makeNamespace, makePod, startFakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";
import { resolveTargets } from "./targets.ts";
import type { TargetResolution } from "./targets.ts";

let fake: FakeApiServer;
let kube: Kube;

beforeAll(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeNamespace("payments"),
      makePod({
        name: "web-1",
        namespace: "shop",
        node: "node-a",
        labels: { app: "web", tier: "front" },
        owner: { kind: "Deployment", name: "web" },
        containers: [{ name: "nginx" }, { name: "envoy" }],
        initContainers: [{ name: "migrate" }],
      }),
      makePod({
        name: "web-2",
        namespace: "shop",
        node: "node-b",
        labels: { app: "web", tier: "front" },
        owner: { kind: "Deployment", name: "web" },
        containers: [{ name: "nginx" }, { name: "envoy" }],
      }),
      makePod({
        name: "cart-0",
        namespace: "shop",
        node: "node-a",
        labels: { app: "cart" },
        owner: { kind: "StatefulSet", name: "cart" },
      }),
      makePod({
        name: "web-pending",
        namespace: "shop",
        labels: { app: "web", tier: "front" },
        containers: [{ name: "nginx" }],
      }),
      makePod({
        name: "report-x",
        namespace: "shop",
        node: "node-b",
        labels: { app: "web" },
        phase: "Succeeded",
      }),
      makePod({
        name: "api-1",
        namespace: "payments",
        node: "node-b",
        labels: { app: "api", tier: "back" },
        containers: [{ name: "api" }, { name: "envoy" }],
      }),
      makePod({
        name: "coredns-1",
        namespace: "kube-system",
        node: "node-c",
        labels: { "k8s-app": "kube-dns" },
      }),
    ],
  });
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterAll(async () => {
  await fake.stop();
});

function layout(r: TargetResolution): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { node, pods } of r.nodes)
    out[node] = pods.map((p) => `${p.namespace}/${p.name}[${p.containers.join(",")}]`);
  if (r.unscheduled.length > 0) out["(unscheduled)"] = r.unscheduled.map((p) => `${p.namespace}/${p.name}`);
  return out;
}

describe("resolveTargets", () => {
  it("selects every running pod, grouped by node, when no criterion is given", async () => {
    const r = await resolveTargets(kube, {});
    expect(layout(r)).toEqual({
      "node-a": ["shop/cart-0[app]", "shop/web-1[migrate,nginx,envoy]"],
      "node-b": ["payments/api-1[api,envoy]", "shop/web-2[nginx,envoy]"],
      "node-c": ["kube-system/coredns-1[app]"],
      "(unscheduled)": ["shop/web-pending"],
    });
    expect(r.pods.find((p) => p.name === "web-1")).toMatchObject({
      uid: expect.any(String),
      node: "node-a",
      phase: "Running",
      controller: { kind: "ReplicaSet", name: expect.stringMatching(/^web-/) },
    });
  });

  it("includes finished pods only when asked", async () => {
    const r = await resolveTargets(kube, { pods: ["report-x"] }, { includeFinished: true });
    expect(r.pods.map((p) => `${p.name} ${p.phase}`)).toEqual(["report-x Succeeded"]);
    expect((await resolveTargets(kube, { pods: ["report-x"] })).pods).toEqual([]);
  });

  it("selects by namespace, listing only those namespaces", async () => {
    const before = fake.requests.length;
    const r = await resolveTargets(kube, { namespaces: ["payments", "kube-system"] });
    expect(layout(r)).toEqual({
      "node-b": ["payments/api-1[api,envoy]"],
      "node-c": ["kube-system/coredns-1[app]"],
    });
    expect(fake.requests.slice(before).map((q) => q.path)).toEqual([
      "/api/v1/namespaces/kube-system/pods",
      "/api/v1/namespaces/payments/pods",
    ]);
  });

  it("passes the label selector to the API server as given", async () => {
    const before = fake.requests.length;
    const r = await resolveTargets(kube, { labelSelector: "app in (web, api),tier!=back" });
    expect(layout(r)).toEqual({
      "node-a": ["shop/web-1[migrate,nginx,envoy]"],
      "node-b": ["shop/web-2[nginx,envoy]"],
      "(unscheduled)": ["shop/web-pending"],
    });
    expect(fake.requests.slice(before)[0]).toMatchObject({
      path: "/api/v1/pods",
      query: { labelSelector: "app in (web, api),tier!=back" },
    });
  });

  it("selects pods by exact name", async () => {
    const r = await resolveTargets(kube, { pods: ["web-2", "api-1", "web"] });
    expect(r.pods.map((p) => p.name)).toEqual(["api-1", "web-2"]);
  });

  it("selects containers by name and lists only the matching ones", async () => {
    const r = await resolveTargets(kube, { containers: ["envoy"] });
    expect(layout(r)).toEqual({
      "node-a": ["shop/web-1[envoy]"],
      "node-b": ["payments/api-1[envoy]", "shop/web-2[envoy]"],
    });
  });

  it("requires every given criterion to match", async () => {
    const r = await resolveTargets(kube, {
      namespaces: ["shop", "payments"],
      labelSelector: "tier",
      pods: ["web-1", "api-1", "cart-0"],
      containers: ["nginx", "api"],
    });
    expect(layout(r)).toEqual({
      "node-a": ["shop/web-1[nginx]"],
      "node-b": ["payments/api-1[api]"],
    });
    const none = await resolveTargets(kube, { namespaces: ["payments"], containers: ["nginx"] });
    expect(none.pods).toEqual([]);
  });

  it("names given namespaces that do not exist", async () => {
    const r = await resolveTargets(kube, { namespaces: ["shop", "shpo"] });
    expect(r.missingNamespaces).toEqual(["shpo"]);
    expect(r.pods.length).toBeGreaterThan(0);
  });

  it("rejects an invalid label selector before asking the API server", async () => {
    const before = fake.requests.length;
    await expect(resolveTargets(kube, { labelSelector: "app in web" })).rejects.toMatchObject({
      code: ErrorCodes.SC_USAGE,
    });
    expect(fake.requests.length).toBe(before);
  });
});
