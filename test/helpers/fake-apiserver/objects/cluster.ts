/** The cluster's own objects: namespaces and nodes, as a kubeadm cluster's look. */
import { createHash } from "node:crypto";
import type { FakeObject } from "../types.ts";
import { CREATED, uidFor } from "./ids.ts";

export function makeNamespace(name: string, labels: Record<string, string> = {}): FakeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      uid: uidFor("Namespace", undefined, name),
      labels: { "kubernetes.io/metadata.name": name, ...labels },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

export interface NodeSpec {
  name: string;
  kernelVersion?: string;
  /** GOARCH, as the kubelet reports it: amd64, arm64. */
  architecture?: string;
  osImage?: string;
  ready?: boolean;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }>;
}

export function makeNode(spec: NodeSpec): FakeObject {
  const architecture = spec.architecture ?? "amd64";
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      uid: uidFor("Node", undefined, spec.name),
      creationTimestamp: CREATED,
      labels: {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": "linux",
        ...spec.labels,
      },
    },
    spec: { podCIDR: "10.244.1.0/24", ...(spec.taints ? { taints: spec.taints } : {}) },
    status: {
      conditions: [
        {
          type: "Ready",
          status: spec.ready === false ? "False" : "True",
          reason: spec.ready === false ? "KubeletNotReady" : "KubeletReady",
          message:
            spec.ready === false ? "container runtime network not ready" : "kubelet is posting ready status",
          lastHeartbeatTime: CREATED,
          lastTransitionTime: CREATED,
        },
      ],
      addresses: [
        { type: "InternalIP", address: "10.0.0.10" },
        { type: "Hostname", address: spec.name },
      ],
      nodeInfo: {
        machineID: createHash("md5").update(spec.name).digest("hex"),
        systemUUID: uidFor("system", undefined, spec.name),
        bootID: uidFor("boot", undefined, spec.name),
        kernelVersion: spec.kernelVersion ?? "6.8.0-1019-aws",
        osImage: spec.osImage ?? "Ubuntu 24.04.1 LTS",
        containerRuntimeVersion: "containerd://1.7.22",
        kubeletVersion: "v1.31.2",
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture,
      },
    },
  };
}
