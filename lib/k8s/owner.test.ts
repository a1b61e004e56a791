import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import {
  makeJob,
  makeNamespace,
  makePod,
  makeReplicaSet,
  startFakeApiServer,
  templateHashFor,
} from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer, FakeObject, PodSpecInput } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";
import { createOwnerResolver, immediateOwner, resolveWorkloadOwner } from "./owner.ts";

let fake: FakeApiServer;
let kube: Kube;

const pod = (spec: Omit<PodSpecInput, "namespace" | "node">): V1Pod =>
  makePod({ ...spec, namespace: "shop", node: "node-a" }) as V1Pod;

beforeAll(async () => {
  const orphanReplicaSet = makeReplicaSet({ deployment: "legacy", namespace: "shop" });
  delete orphanReplicaSet.metadata!.ownerReferences;
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeReplicaSet({ deployment: "web", namespace: "shop" }),
      orphanReplicaSet,
      makeJob({ cronJob: "nightly", namespace: "shop" }),
      makeJob({ name: "migrate", namespace: "shop" }),
    ],
  });
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterAll(async () => {
  await fake.stop();
});

function gets(): string[] {
  return fake.requests.filter((r) => r.method === "GET").map((r) => r.path);
}

describe("createOwnerResolver", () => {
  it("follows a pod's ReplicaSet to its Deployment, looking the ReplicaSet up once", async () => {
    const owners = createOwnerResolver(kube);
    const rs = `web-${templateHashFor("web")}`;
    expect(owners.lookup("ReplicaSet", "shop", rs)).toBeUndefined();
    const before = gets().length;
    expect(await owners.resolve(pod({ name: "web-1", owner: { kind: "Deployment", name: "web" } }))).toEqual({
      kind: "Deployment",
      name: "web",
    });
    expect(await owners.resolve(pod({ name: "web-2", owner: { kind: "Deployment", name: "web" } }))).toEqual({
      kind: "Deployment",
      name: "web",
    });
    expect(gets().slice(before)).toEqual([`/apis/apps/v1/namespaces/shop/replicasets/${rs}`]);
    expect(owners.lookup("ReplicaSet", "shop", rs)).toEqual([
      expect.objectContaining({ kind: "Deployment", name: "web", controller: true }),
    ]);
  });

  it("follows a Job to its CronJob, and stops at a Job nobody owns", async () => {
    const owners = createOwnerResolver(kube);
    expect(
      await owners.resolve(pod({ name: "nightly-x", owner: { kind: "CronJob", name: "nightly" } })),
    ).toEqual({
      kind: "CronJob",
      name: "nightly",
    });
    expect(await owners.resolve(pod({ name: "migrate-x", owner: { kind: "Job", name: "migrate" } }))).toEqual(
      {
        kind: "Job",
        name: "migrate",
      },
    );
    expect(owners.lookup("Job", "shop", "migrate")).toEqual([]);
  });

  it("keeps a ReplicaSet without owner as the workload", async () => {
    const rs = `legacy-${templateHashFor("legacy")}`;
    const legacy: FakeObject = makePod({ name: "legacy-1", namespace: "shop", node: "node-a" });
    legacy.metadata!.ownerReferences = [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: rs, uid: "u", controller: true },
    ];
    expect(await createOwnerResolver(kube).resolve(legacy as V1Pod)).toEqual({
      kind: "ReplicaSet",
      name: rs,
    });
  });

  it("falls back to the pod-template-hash when the ReplicaSet is already gone", async () => {
    const owners = createOwnerResolver(kube);
    const gone = pod({ name: "api-1", owner: { kind: "Deployment", name: "api" } });
    expect(await owners.resolve(gone)).toEqual({ kind: "Deployment", name: "api" });
    expect(owners.lookup("ReplicaSet", "shop", `api-${templateHashFor("api")}`)).toBeUndefined();
  });

  it("needs no lookup for DaemonSet and StatefulSet pods, nor for bare pods", async () => {
    const owners = createOwnerResolver(kube);
    const before = fake.requests.length;
    expect(
      await owners.resolve(pod({ name: "agent-x", owner: { kind: "DaemonSet", name: "agent" } })),
    ).toEqual({
      kind: "DaemonSet",
      name: "agent",
    });
    expect(
      await owners.resolve(pod({ name: "nats-0", owner: { kind: "StatefulSet", name: "nats" } })),
    ).toEqual({
      kind: "StatefulSet",
      name: "nats",
    });
    expect(await owners.resolve(pod({ name: "debug" }))).toEqual({ kind: "Pod", name: "debug" });
    expect(fake.requests.length).toBe(before);
  });

  it("throws SC_K8S_FORBIDDEN when it may not read ReplicaSets, and the direct owner is still known", async () => {
    const restricted = await startFakeApiServer({
      objects: [makeNamespace("shop"), makeReplicaSet({ deployment: "web", namespace: "shop" })],
    });
    try {
      restricted.forbid({ verb: "get", resource: "replicasets" });
      const webPod = pod({ name: "web-1", owner: { kind: "Deployment", name: "web" } });
      await expect(
        resolveWorkloadOwner(loadKube({ kubeconfig: restricted.kubeconfigPath }), webPod),
      ).rejects.toMatchObject({
        code: ErrorCodes.SC_K8S_FORBIDDEN,
      });
      expect(immediateOwner(webPod)).toEqual({ kind: "ReplicaSet", name: `web-${templateHashFor("web")}` });
    } finally {
      await restricted.stop();
    }
  });
});
