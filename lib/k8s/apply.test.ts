import type { V1Deployment } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import {
  makeDaemonSet,
  makeDeployment,
  makeNamespace,
  startFakeApiServer,
} from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer, FakeObject } from "../../test/helpers/fake-apiserver.ts";
import {
  applyManifests,
  applyOrder,
  deleteManifests,
  deploymentProgress,
  statefulSetProgress,
  waitForRollout,
} from "./apply.ts";
import type { ManifestObject, RolloutProgress } from "./apply.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";

const LABELS = { "app.kubernetes.io/name": "seccompose-agent" };

/** A fake's JSON as the client's type; the rollout rules read no timestamps, which the client would turn into Dates. */
const asDeployment = (obj: FakeObject): V1Deployment => obj as unknown as V1Deployment;

function manifests(image = "ghcr.io/seccompose/agent:0.1.0"): ManifestObject[] {
  // Deliberately out of dependency order: the namespace comes last.
  return [
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "seccompose-agent", namespace: "seccompose", labels: LABELS },
      spec: {
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: {
            serviceAccountName: "seccompose-agent",
            hostPID: false,
            containers: [
              {
                name: "agent",
                image,
                args: ["--node-name=$(NODE_NAME)"],
                env: [{ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
                securityContext: { capabilities: { add: ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"] } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "seccompose-agent" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "seccompose-agent" },
      subjects: [{ kind: "ServiceAccount", name: "seccompose-agent", namespace: "seccompose" }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "seccompose-agent" },
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
    },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "seccompose-agent", namespace: "seccompose" },
    },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "seccompose" } },
  ];
}

let fake: FakeApiServer;
let kube: Kube;

beforeEach(async () => {
  fake = await startFakeApiServer();
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterEach(async () => {
  await fake.stop();
});

describe("applyOrder", () => {
  it("puts namespaces, definitions and RBAC before workloads and custom resources last, keeping the given order within a kind", () => {
    const order = applyOrder([
      { kind: "SeccompProfile", n: 1 },
      { kind: "Deployment", n: 2 },
      { kind: "ConfigMap", n: 3 },
      { kind: "CustomResourceDefinition", n: 4 },
      { kind: "ConfigMap", n: 5 },
      { kind: "Namespace", n: 6 },
    ]);
    expect(order.map((o) => o.n)).toEqual([6, 4, 3, 5, 2, 1]);
  });
});

describe("applyManifests", () => {
  it("creates everything in dependency order with server-side apply as field manager seccompose", async () => {
    const seen: string[] = [];
    const applied = await applyManifests(kube, manifests(), {
      onApplied: (a) => seen.push(`${a.kind} ${a.action}`),
    });
    expect(seen).toEqual([
      "Namespace created",
      "ServiceAccount created",
      "ClusterRole created",
      "ClusterRoleBinding created",
      "DaemonSet created",
    ]);
    expect(applied.map((a) => a.namespace)).toEqual([
      undefined,
      "seccompose",
      undefined,
      undefined,
      "seccompose",
    ]);
    const patches = fake.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((r) => r.path)).toEqual([
      "/api/v1/namespaces/seccompose",
      "/api/v1/namespaces/seccompose/serviceaccounts/seccompose-agent",
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/seccompose-agent",
      "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/seccompose-agent",
      "/apis/apps/v1/namespaces/seccompose/daemonsets/seccompose-agent",
    ]);
    for (const p of patches) {
      expect(p.contentType).toBe("application/apply-patch+yaml");
      expect(p.query).toMatchObject({ fieldManager: "seccompose", force: "false" });
    }
    // Nothing of the manifest is lost on the way through the client.
    const ds = fake.get("DaemonSet", "seccompose", "seccompose-agent")!;
    expect(ds.spec).toEqual(manifests()[0]!.spec);
  });

  it("changes nothing when the same manifests are applied again", async () => {
    const first = await applyManifests(kube, manifests());
    const before = fake.requests.length;
    const second = await applyManifests(kube, manifests());
    expect(second.map((a) => a.action)).toEqual([
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
    ]);
    expect(second.map((a) => a.resourceVersion)).toEqual(first.map((a) => a.resourceVersion));
    const requests = fake.requests.slice(before).filter((r) => r.method !== "GET");
    expect(requests.map((r) => `${r.method} ${r.contentType}`)).toEqual(
      Array(5).fill("PATCH application/apply-patch+yaml"),
    );
    expect(fake.get("DaemonSet", "seccompose", "seccompose-agent")!.metadata!.generation).toBe(1);
  });

  it("reports a changed manifest as configured and bumps the workload's generation", async () => {
    await applyManifests(kube, manifests());
    const applied = await applyManifests(kube, manifests("ghcr.io/seccompose/agent:0.2.0"));
    expect(applied.find((a) => a.kind === "DaemonSet")!.action).toBe("configured");
    expect(applied.filter((a) => a.action === "unchanged")).toHaveLength(4);
    expect(fake.get("DaemonSet", "seccompose", "seccompose-agent")!.metadata!.generation).toBe(2);
  });

  it("fails with SC_K8S_CONFLICT when someone else changed a field it manages, and takes the field back when forced", async () => {
    await applyManifests(kube, manifests());
    const edited = fake.get("DaemonSet", "seccompose", "seccompose-agent")!;
    const spec = edited.spec as { template: { spec: { containers: Array<{ image: string }> } } };
    spec.template.spec.containers[0]!.image = "evil:latest";
    fake.update(edited, "kubectl-edit");

    await expect(applyManifests(kube, manifests())).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_CONFLICT,
      message: expect.stringContaining('conflict with "kubectl-edit"'),
    });
    const applied = await applyManifests(kube, manifests(), { forceConflicts: true });
    expect(applied.find((a) => a.kind === "DaemonSet")!.action).toBe("configured");
    const ds = fake.get("DaemonSet", "seccompose", "seccompose-agent")!;
    expect((ds.spec as typeof spec).template.spec.containers[0]!.image).toBe(
      "ghcr.io/seccompose/agent:0.1.0",
    );
    expect(fake.requests.at(-1)!.query.force).toBe("true");
  });

  it("applies a custom resource after its definition and fails with SC_K8S_NOT_FOUND when the kind is not served", async () => {
    const profile: ManifestObject = {
      apiVersion: "security-profiles-operator.x-k8s.io/v1beta1",
      kind: "SeccompProfile",
      metadata: { name: "web-nginx", namespace: "default" },
      spec: {
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ action: "SCMP_ACT_ALLOW", names: ["read", "write"] }],
      },
    };
    await expect(applyManifests(kube, [profile])).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_NOT_FOUND,
      message: expect.stringContaining("does not serve that kind"),
    });
    const crd: ManifestObject = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "seccompprofiles.security-profiles-operator.x-k8s.io" },
      spec: {
        group: "security-profiles-operator.x-k8s.io",
        scope: "Namespaced",
        names: {
          kind: "SeccompProfile",
          plural: "seccompprofiles",
          singular: "seccompprofile",
          listKind: "SeccompProfileList",
        },
        versions: [
          { name: "v1beta1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } },
        ],
      },
    };
    const applied = await applyManifests(kube, [profile, crd]);
    expect(applied.map((a) => `${a.kind} ${a.action}`)).toEqual([
      "CustomResourceDefinition created",
      "SeccompProfile created",
    ]);
    expect(fake.get("SeccompProfile", "default", "web-nginx")!.spec).toEqual(profile.spec);
  });
});

describe("deleteManifests", () => {
  it("deletes in reverse dependency order and counts what is already gone as absent", async () => {
    await applyManifests(kube, manifests());
    fake.remove("ClusterRole", undefined, "seccompose-agent");
    const before = fake.requests.length;
    const deleted = await deleteManifests(kube, manifests());
    expect(deleted.map((d) => `${d.kind} ${d.action}`)).toEqual([
      "DaemonSet deleted",
      "ClusterRoleBinding deleted",
      "ClusterRole absent",
      "ServiceAccount deleted",
      "Namespace deleted",
    ]);
    const deletes = fake.requests.slice(before).filter((r) => r.method === "DELETE");
    expect(deletes[0]).toMatchObject({
      path: "/apis/apps/v1/namespaces/seccompose/daemonsets/seccompose-agent",
      query: { propagationPolicy: "Background" },
    });
    expect(fake.list("DaemonSet")).toEqual([]);
    expect((await deleteManifests(kube, manifests())).every((d) => d.action === "absent")).toBe(true);
  });
});

describe("waitForRollout", () => {
  it("reports progress as the DaemonSet's status advances and returns once every node runs the new template", async () => {
    fake.add(makeNamespace("seccompose"));
    const base = makeDaemonSet({
      name: "seccompose-agent",
      namespace: "seccompose",
      labels: LABELS,
      desired: 3,
      ready: 3,
      updated: 3,
      generation: 2,
      observedGeneration: 1,
    });
    fake.add(base);
    // The test plays the DaemonSet controller: each time progress is reported, it moves one step.
    const steps: Array<Record<string, number>> = [
      { observedGeneration: 2, updatedNumberScheduled: 0, numberAvailable: 3, numberReady: 3 },
      { observedGeneration: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2 },
      { observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 2, numberReady: 3 },
      { observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3 },
    ];
    const seen: RolloutProgress[] = [];
    const done = await waitForRollout(
      kube,
      { kind: "DaemonSet", namespace: "seccompose", name: "seccompose-agent" },
      {
        timeoutMs: 30_000,
        intervalMs: 5,
        onProgress: (p) => {
          seen.push(p);
          const step = steps.shift();
          if (step) {
            const ds = fake.get("DaemonSet", "seccompose", "seccompose-agent")!;
            fake.update({ ...ds, status: { ...(ds.status as object), ...step } });
          }
        },
      },
    );
    expect(seen.map((p) => p.message)).toEqual([
      'Waiting for daemon set "seccompose-agent" spec update to be observed...',
      'Waiting for daemon set "seccompose-agent" rollout to finish: 0 out of 3 new pods have been updated...',
      'Waiting for daemon set "seccompose-agent" rollout to finish: 2 out of 3 new pods have been updated...',
      'Waiting for daemon set "seccompose-agent" rollout to finish: 2 of 3 updated pods are available...',
      'daemon set "seccompose-agent" successfully rolled out',
    ]);
    expect(done).toMatchObject({
      done: true,
      desired: 3,
      updated: 3,
      ready: 3,
      available: 3,
      observedGeneration: 2,
    });
  });

  it("fails with SC_K8S_TIMEOUT naming what it still waited for", async () => {
    fake.add(
      makeDeployment({
        name: "seccompose-aggregator",
        namespace: "default",
        replicas: 2,
        updated: 1,
        ready: 1,
      }),
    );
    await expect(
      waitForRollout(
        kube,
        { kind: "Deployment", namespace: "default", name: "seccompose-aggregator" },
        { timeoutMs: 30, intervalMs: 5 },
      ),
    ).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_TIMEOUT,
      message: expect.stringContaining("1 out of 2 new replicas have been updated"),
    });
  });

  it("fails at once when a Deployment has exceeded its progress deadline", () => {
    const deploy = makeDeployment({ name: "agg", replicas: 1, updated: 1, available: 0 }) as FakeObject & {
      status: { conditions: Array<Record<string, string>> };
    };
    deploy.status.conditions[0] = {
      type: "Progressing",
      status: "False",
      reason: "ProgressDeadlineExceeded",
      message: 'ReplicaSet "agg-5d8f" has timed out progressing.',
    };
    expect(() => deploymentProgress(asDeployment(deploy))).toThrow(
      /exceeded its progress deadline: ReplicaSet "agg-5d8f" has timed out/,
    );
  });
});

describe("rollout rules", () => {
  it("waits for old Deployment replicas to go and updated ones to become available", () => {
    const messages = [
      makeDeployment({ name: "agg", replicas: 2, updated: 2, total: 3 }),
      makeDeployment({ name: "agg", replicas: 2, updated: 2, available: 1 }),
      makeDeployment({ name: "agg", replicas: 2 }),
    ].map((d) => deploymentProgress(asDeployment(d)).message);
    expect(messages).toEqual([
      'Waiting for deployment "agg" rollout to finish: 1 old replicas are pending termination...',
      'Waiting for deployment "agg" rollout to finish: 1 of 2 updated replicas are available...',
      'deployment "agg" successfully rolled out',
    ]);
  });

  it("follows a StatefulSet's revisions, and its partition when it has one", () => {
    const sts = (status: Record<string, unknown>, partition?: number) => ({
      metadata: { name: "nats", namespace: "nats", generation: 1 },
      spec: {
        replicas: 3,
        selector: {},
        serviceName: "nats",
        template: {},
        updateStrategy: {
          type: "RollingUpdate",
          ...(partition !== undefined ? { rollingUpdate: { partition } } : {}),
        },
      },
      status: { observedGeneration: 1, replicas: 3, ...status },
    });
    expect(statefulSetProgress(sts({ readyReplicas: 2 })).message).toBe(
      'Waiting for 1 pods of statefulset "nats" to be ready...',
    );
    expect(
      statefulSetProgress(
        sts({ readyReplicas: 3, updatedReplicas: 1, currentRevision: "nats-a", updateRevision: "nats-b" }),
      ).message,
    ).toBe('Waiting for statefulset "nats" rolling update to complete 1 pods at revision nats-b...');
    expect(
      statefulSetProgress(
        sts({ readyReplicas: 3, updatedReplicas: 3, currentRevision: "nats-b", updateRevision: "nats-b" }),
      ).done,
    ).toBe(true);
    expect(statefulSetProgress(sts({ readyReplicas: 3, updatedReplicas: 0 }, 2)).done).toBe(false);
    expect(statefulSetProgress(sts({ readyReplicas: 3, updatedReplicas: 1 }, 2)).done).toBe(true);
  });
});
