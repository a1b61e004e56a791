/**
 * A pod's workload: the controller a profile is named after. Pods of a Deployment are owned by a
 * ReplicaSet and pods of a CronJob by a Job, so those owners are looked up (and cached) to reach
 * the Deployment or CronJob. Every other controller (DaemonSet, StatefulSet, a bare ReplicaSet or
 * Job) is the workload itself; a pod without one is its own workload.
 */
import type { V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { ErrorCodes, isSeccomposeError } from "../errors.ts";
import type { Kube } from "./client.ts";

export interface WorkloadOwner {
  kind: string;
  name: string;
}

export type IntermediateKind = "ReplicaSet" | "Job";

export interface OwnerResolver {
  /** The pod's workload, looking up its ReplicaSet or Job when needed (at most once per owner). */
  resolve(pod: V1Pod): Promise<WorkloadOwner>;
  /**
   * The cached ownerReferences of a ReplicaSet or Job: undefined when not looked up (or not found),
   * an empty array when it has no owner. The synchronous shape the agent's PodInfo mapping takes.
   */
  lookup(kind: IntermediateKind, namespace: string, name: string): readonly V1OwnerReference[] | undefined;
}

export interface OwnerResolverOptions {
  /** Owners kept in the cache; the oldest are dropped beyond it. Default 4096. */
  maxEntries?: number;
}

/**
 * A resolver with a cache shared by all pods. A ReplicaSet or Job that no longer exists falls back
 * to what the pod itself says (a Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`);
 * other API failures (SC_K8S_FORBIDDEN, SC_K8S_UNREACHABLE) are thrown and not cached.
 */
export function createOwnerResolver(kube: Kube, opts: OwnerResolverOptions = {}): OwnerResolver {
  const maxEntries = opts.maxEntries ?? 4096;
  const cache = new Map<string, readonly V1OwnerReference[] | null>();
  const inflight = new Map<string, Promise<readonly V1OwnerReference[] | null>>();
  const keyOf = (kind: IntermediateKind, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

  const fetchOwners = async (
    kind: IntermediateKind,
    namespace: string,
    name: string,
  ): Promise<readonly V1OwnerReference[] | null> => {
    const key = keyOf(kind, namespace, name);
    if (cache.has(key)) return cache.get(key)!;
    const pending = inflight.get(key);
    if (pending) return pending;
    const request = (async () => {
      try {
        const obj =
          kind === "ReplicaSet"
            ? await kube.call({ verb: "get", resource: "replicasets", namespace, name }, () =>
                kube.apps.readNamespacedReplicaSet({ namespace, name }),
              )
            : await kube.call({ verb: "get", resource: "jobs", namespace, name }, () =>
                kube.batch.readNamespacedJob({ namespace, name }),
              );
        return obj.metadata?.ownerReferences ?? [];
      } catch (err) {
        // Gone already (a finished rollout's old ReplicaSet, a cleaned-up Job): remembered as unknown.
        if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) return null;
        throw err;
      }
    })();
    inflight.set(key, request);
    try {
      const owners = await request;
      cache.set(key, owners);
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      return owners;
    } finally {
      inflight.delete(key);
    }
  };

  return {
    async resolve(pod) {
      const meta = pod.metadata;
      const namespace = meta?.namespace ?? "default";
      const ref = controllerOf(meta?.ownerReferences);
      if (!ref || (ref.kind !== "ReplicaSet" && ref.kind !== "Job")) return immediateOwner(pod);
      const owners = await fetchOwners(ref.kind, namespace, ref.name);
      const parent = owners ? controllerOf(owners) : undefined;
      if (ref.kind === "ReplicaSet") {
        if (parent) return { kind: parent.kind, name: parent.name };
        if (owners === null) {
          const hash = meta?.labels?.["pod-template-hash"];
          if (hash && ref.name.endsWith(`-${hash}`) && ref.name.length > hash.length + 1) {
            return { kind: "Deployment", name: ref.name.slice(0, -(hash.length + 1)) };
          }
        }
        return { kind: "ReplicaSet", name: ref.name };
      }
      return parent?.kind === "CronJob"
        ? { kind: "CronJob", name: parent.name }
        : { kind: "Job", name: ref.name };
    },
    lookup(kind, namespace, name) {
      return cache.get(keyOf(kind, namespace, name)) ?? undefined;
    },
  };
}

/** The pod's workload with one API lookup, for a single pod; use a resolver for many. */
export function resolveWorkloadOwner(kube: Kube, pod: V1Pod): Promise<WorkloadOwner> {
  return createOwnerResolver(kube).resolve(pod);
}

/** The pod's direct controller, or the pod itself: what is known without any lookup. */
export function immediateOwner(pod: V1Pod): WorkloadOwner {
  const ref = controllerOf(pod.metadata?.ownerReferences);
  return ref ? { kind: ref.kind, name: ref.name } : { kind: "Pod", name: pod.metadata?.name ?? "" };
}

/** The managing controller; objects created by hand may carry owners without the controller flag. */
function controllerOf(references: readonly V1OwnerReference[] | undefined): V1OwnerReference | undefined {
  if (!references || references.length === 0) return undefined;
  return references.find((r) => r.controller === true) ?? references[0];
}
