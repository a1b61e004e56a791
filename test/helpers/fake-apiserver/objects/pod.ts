/** Pods as the kubelet reports them: owned by their workload, with container statuses and conditions. */
import type { FakeObject, FakeObjectMeta } from "../types.ts";
import { CREATED, CRONJOB_JOB_SUFFIX, containerIdFor, templateHashFor, uidFor } from "./ids.ts";

export interface PodSpecInput {
  name: string;
  namespace?: string;
  /** Node the pod is scheduled on; unscheduled (Pending) without one. */
  node?: string;
  labels?: Record<string, string>;
  /**
   * The workload: a Deployment owns the pod through its ReplicaSet `<name>-<hash>`, a CronJob through
   * its Job `<name>-28950000`; DaemonSet, StatefulSet, ReplicaSet and Job own it directly.
   */
  owner?: { kind: string; name: string };
  containers?: Array<{
    name: string;
    id?: string;
    image?: string;
    ports?: Array<{ name?: string; containerPort: number }>;
  }>;
  initContainers?: Array<{ name: string; id?: string; image?: string }>;
  /** Default: Running when scheduled, Pending otherwise. */
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  /** Default: true when Running. */
  ready?: boolean;
}

export function makePod(spec: PodSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const phase = spec.phase ?? (spec.node ? "Running" : "Pending");
  const ready = spec.ready ?? phase === "Running";
  const containers = spec.containers ?? [{ name: "app" }];
  const labels: Record<string, string> = { ...spec.labels };
  let ownerReferences: FakeObjectMeta["ownerReferences"];
  const ref = (apiVersion: string, kind: string, name: string) => ({
    apiVersion,
    kind,
    name,
    uid: uidFor(kind, namespace, name),
    controller: true,
    blockOwnerDeletion: true,
  });
  const owner = spec.owner ?? { kind: "", name: "" };
  switch (owner.kind) {
    case "":
      break;
    case "Deployment": {
      const hash = templateHashFor(owner.name);
      labels["pod-template-hash"] = hash;
      ownerReferences = [ref("apps/v1", "ReplicaSet", `${owner.name}-${hash}`)];
      break;
    }
    case "CronJob":
      ownerReferences = [ref("batch/v1", "Job", `${owner.name}-${CRONJOB_JOB_SUFFIX}`)];
      labels["batch.kubernetes.io/job-name"] = `${owner.name}-${CRONJOB_JOB_SUFFIX}`;
      break;
    case "Job":
      ownerReferences = [ref("batch/v1", "Job", owner.name)];
      labels["batch.kubernetes.io/job-name"] = owner.name;
      break;
    case "DaemonSet":
    case "StatefulSet":
      labels["controller-revision-hash"] ??= templateHashFor(`${owner.kind}/${owner.name}`);
      ownerReferences = [ref("apps/v1", owner.kind, owner.name)];
      break;
    case "Node":
      // A static pod's mirror is owned by its node.
      ownerReferences = [{ ...ref("v1", "Node", owner.name), uid: uidFor("Node", undefined, owner.name) }];
      break;
    default:
      ownerReferences = [ref("apps/v1", owner.kind, owner.name)];
  }
  const running = phase === "Running";
  const status = (c: { name: string; id?: string; image?: string }, init: boolean) => ({
    name: c.name,
    image: c.image ?? `registry.example.com/${c.name}:1.0`,
    imageID: `registry.example.com/${c.name}@sha256:${containerIdFor("image", c.name)}`,
    ...(phase !== "Pending"
      ? { containerID: `containerd://${c.id ?? containerIdFor(spec.name, c.name)}` }
      : {}),
    ready: init ? false : ready,
    restartCount: 0,
    started: init ? false : running,
    state: init
      ? { terminated: { exitCode: 0, reason: "Completed", startedAt: CREATED, finishedAt: CREATED } }
      : running
        ? { running: { startedAt: CREATED } }
        : { waiting: { reason: "ContainerCreating" } },
  });
  const condition = (type: string, value: boolean) => ({
    type,
    status: value ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: CREATED,
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Pod", namespace, spec.name),
      creationTimestamp: CREATED,
      labels,
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec: {
      ...(spec.initContainers
        ? {
            initContainers: spec.initContainers.map((c) => ({
              name: c.name,
              image: c.image ?? `registry.example.com/${c.name}:1.0`,
            })),
          }
        : {}),
      containers: containers.map((c) => ({
        name: c.name,
        image: c.image ?? `registry.example.com/${c.name}:1.0`,
        ...(c.ports ? { ports: c.ports.map((p) => ({ ...p, protocol: "TCP" })) } : {}),
      })),
      ...(spec.node ? { nodeName: spec.node } : {}),
      restartPolicy: "Always",
      schedulerName: "default-scheduler",
      serviceAccountName: "default",
    },
    status: {
      phase,
      conditions: [
        condition("PodScheduled", spec.node !== undefined),
        ...(spec.node
          ? [condition("Initialized", true), condition("ContainersReady", ready), condition("Ready", ready)]
          : []),
      ],
      ...(spec.node
        ? {
            hostIP: "10.0.0.10",
            podIP: `10.244.1.${(parseInt(uidFor("ip", namespace, spec.name).slice(0, 2), 16) % 250) + 2}`,
            startTime: CREATED,
            ...(spec.initContainers
              ? { initContainerStatuses: spec.initContainers.map((c) => status(c, true)) }
              : {}),
            containerStatuses: containers.map((c) => status(c, false)),
          }
        : {}),
      qosClass: "BestEffort",
    },
  };
}
