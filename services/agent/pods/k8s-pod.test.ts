import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { podInfoFromK8sPod, type OwnerLookup } from "./k8s-pod.ts";

const ID_A = "4f1e2d3c4b5a6978796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const ID_B = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
const ID_C = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const ref = (kind: string, name: string, controller = true): V1OwnerReference => ({
  apiVersion: "apps/v1",
  kind,
  name,
  uid: `${name}-uid`,
  controller,
});

function pod(owners?: V1OwnerReference[], labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: {
      uid: "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f",
      name: "web-7d9c5b-x2k4q",
      namespace: "shop",
      labels,
      ownerReferences: owners,
    },
    status: {
      containerStatuses: [
        {
          name: "nginx",
          containerID: `containerd://${ID_A}`,
          image: "",
          imageID: "",
          ready: true,
          restartCount: 0,
        },
        {
          name: "sidecar",
          containerID: `cri-o://${ID_B}`,
          image: "",
          imageID: "",
          ready: true,
          restartCount: 0,
        },
        { name: "pending", image: "", imageID: "", ready: false, restartCount: 0 },
      ],
      initContainerStatuses: [
        {
          name: "init",
          containerID: `docker://${ID_C}`,
          image: "",
          imageID: "",
          ready: false,
          restartCount: 0,
        },
      ],
    },
  };
}

const unknown: OwnerLookup = () => undefined;

describe("podInfoFromK8sPod", () => {
  it("maps container ids without their runtime prefix to container names, skipping containers not started", () => {
    const info = podInfoFromK8sPod(pod(), unknown)!;
    expect(info.containers).toEqual({ [ID_A]: "nginx", [ID_B]: "sidecar", [ID_C]: "init" });
    expect(info).toMatchObject({
      uid: "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f",
      name: "web-7d9c5b-x2k4q",
      namespace: "shop",
    });
  });

  it("makes a bare pod its own owner", () => {
    expect(podInfoFromK8sPod(pod(), unknown)!.owner).toEqual({ kind: "Pod", name: "web-7d9c5b-x2k4q" });
  });

  it("follows a ReplicaSet to its Deployment through the ReplicaSet's owner references", () => {
    const lookups: string[] = [];
    const lookup: OwnerLookup = (kind, namespace, name) => {
      lookups.push(`${kind} ${namespace}/${name}`);
      return [ref("Deployment", "frontend")];
    };
    const info = podInfoFromK8sPod(pod([ref("ReplicaSet", "web-7d9c5b")]), lookup)!;
    expect(info.owner).toEqual({ kind: "Deployment", name: "frontend" });
    expect(lookups).toEqual(["ReplicaSet shop/web-7d9c5b"]);
  });

  it("keeps a ReplicaSet that is known to have no owner", () => {
    const info = podInfoFromK8sPod(
      pod([ref("ReplicaSet", "web-7d9c5b")], { "pod-template-hash": "7d9c5b" }),
      () => [],
    );
    expect(info!.owner).toEqual({ kind: "ReplicaSet", name: "web-7d9c5b" });
  });

  it("derives the Deployment from the pod-template-hash when the ReplicaSet is not known", () => {
    const info = podInfoFromK8sPod(
      pod([ref("ReplicaSet", "web-7d9c5b")], { "pod-template-hash": "7d9c5b" }),
      unknown,
    );
    expect(info!.owner).toEqual({ kind: "Deployment", name: "web" });
  });

  it("keeps an unknown ReplicaSet whose name does not end in the pod-template-hash", () => {
    const info = podInfoFromK8sPod(
      pod([ref("ReplicaSet", "handmade")], { "pod-template-hash": "7d9c5b" }),
      unknown,
    );
    expect(info!.owner).toEqual({ kind: "ReplicaSet", name: "handmade" });
  });

  it("follows a Job to its CronJob", () => {
    const lookup: OwnerLookup = (kind, _ns, name) =>
      kind === "Job" && name === "backup-29001234" ? [ref("CronJob", "backup")] : undefined;
    expect(podInfoFromK8sPod(pod([ref("Job", "backup-29001234")]), lookup)!.owner).toEqual({
      kind: "CronJob",
      name: "backup",
    });
    expect(podInfoFromK8sPod(pod([ref("Job", "migrate-1")]), lookup)!.owner).toEqual({
      kind: "Job",
      name: "migrate-1",
    });
  });

  it("uses the controller reference when a pod has several owners", () => {
    const info = podInfoFromK8sPod(pod([ref("Node", "n1", false), ref("StatefulSet", "db")]), unknown);
    expect(info!.owner).toEqual({ kind: "StatefulSet", name: "db" });
  });

  it("returns undefined for an object without uid", () => {
    expect(podInfoFromK8sPod({ metadata: { name: "x" } }, unknown)).toBeUndefined();
  });
});
