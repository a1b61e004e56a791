/**
 * Kubernetes Pod objects → PodInfo: what the agent needs to attribute a container's syscalls to a
 * workload. Pure, so the pod watch and the tests share it.
 */
import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { podContainerIds } from "../../../lib/k8s/pod-containers.ts";
import type { PodInfo } from "../ports.ts";

/**
 * The ownerReferences of another object (a ReplicaSet or Job owning a pod), or undefined when
 * the caller does not know that object. An empty array means it is known and has no owner.
 */
export type OwnerLookup = (
  kind: "ReplicaSet" | "Job",
  namespace: string,
  name: string,
) => readonly V1OwnerReference[] | undefined;

/**
 * The PodInfo of a pod, or undefined when the object has no uid or name (not a stored pod).
 * Containers that have no container ID yet (not started) are left out; the pod watch reports
 * the pod again once they have one.
 */
export function podInfoFromK8sPod(pod: V1Pod, ownerLookup: OwnerLookup): PodInfo | undefined {
  const meta = pod.metadata;
  if (meta?.uid === undefined || meta.name === undefined) return undefined;
  const namespace = meta.namespace ?? "default";
  const labels = { ...(meta.labels ?? {}) };
  const containers = Object.fromEntries(podContainerIds(pod));
  return {
    uid: meta.uid,
    name: meta.name,
    namespace,
    labels,
    owner: resolveOwner(meta.name, namespace, labels, meta.ownerReferences, ownerLookup),
    containers,
  };
}

function resolveOwner(
  podName: string,
  namespace: string,
  labels: Record<string, string>,
  references: readonly V1OwnerReference[] | undefined,
  ownerLookup: OwnerLookup,
): PodInfo["owner"] {
  const ref = controllerOf(references);
  if (ref === undefined) return { kind: "Pod", name: podName };
  if (ref.kind === "ReplicaSet") {
    const rsOwners = ownerLookup("ReplicaSet", namespace, ref.name);
    if (rsOwners !== undefined) {
      const controller = controllerOf(rsOwners);
      return controller === undefined
        ? { kind: "ReplicaSet", name: ref.name }
        : { kind: controller.kind, name: controller.name };
    }
    // A Deployment names its ReplicaSets `<deployment>-<pod-template-hash>` and labels their pods
    // with that hash, so the Deployment is known even before the ReplicaSet is.
    const hash = labels["pod-template-hash"];
    if (hash && ref.name.endsWith(`-${hash}`) && ref.name.length > hash.length + 1) {
      return { kind: "Deployment", name: ref.name.slice(0, -(hash.length + 1)) };
    }
    return { kind: "ReplicaSet", name: ref.name };
  }
  if (ref.kind === "Job") {
    // A CronJob's Job names end in the schedule time, which a plain Job's may too, so only the
    // Job's own ownerReferences can tell.
    const controller = controllerOf(ownerLookup("Job", namespace, ref.name));
    if (controller?.kind === "CronJob") return { kind: "CronJob", name: controller.name };
    return { kind: "Job", name: ref.name };
  }
  return { kind: ref.kind, name: ref.name };
}

/** The managing controller; objects created by hand may carry owners without the controller flag. */
function controllerOf(references: readonly V1OwnerReference[] | undefined): V1OwnerReference | undefined {
  if (references === undefined || references.length === 0) return undefined;
  return references.find((r) => r.controller === true) ?? references[0];
}
