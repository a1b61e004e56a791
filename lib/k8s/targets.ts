/**
 * Which pods, on which nodes, a session's targets select right now — what `seccompose start`
 * shows before recording. The criteria are the agent's (services/agent/pods/targets.ts): every
 * given criterion must hold (AND); an empty or absent criterion selects everything.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { SessionRecord } from "../contracts/types.ts";
import { ErrorCodes, isSeccomposeError } from "../errors.ts";
import { parseLabelSelector } from "../label-selector.ts";
import type { Kube } from "./client.ts";

export type SessionTargets = SessionRecord["targets"];

export interface TargetPod {
  namespace: string;
  name: string;
  uid: string;
  /** Node the pod is scheduled on; undefined while it is not scheduled. */
  node: string | undefined;
  phase: string;
  labels: Record<string, string>;
  /** The pod's direct controller (a ReplicaSet, Job, DaemonSet, ...), not resolved further. */
  controller: { kind: string; name: string } | undefined;
  /** Names of the pod's containers that the targets select: init, regular, then ephemeral ones, in spec order. */
  containers: string[];
}

export interface NodeTargets {
  node: string;
  pods: TargetPod[];
}

export interface TargetResolution {
  /** Every selected pod, by namespace then name. */
  pods: TargetPod[];
  /** Selected scheduled pods grouped by node, nodes by name. */
  nodes: NodeTargets[];
  /** Selected pods not scheduled on any node yet. */
  unscheduled: TargetPod[];
  /** Namespaces given in the targets that do not exist. */
  missingNamespaces: string[];
}

export interface ResolveTargetsOptions {
  /** Also select pods that have finished (Succeeded or Failed); they make no more syscalls. */
  includeFinished?: boolean;
}

/**
 * Lists the pods the targets select. The label selector goes to the API server as given (after
 * checking it parses the way the agent will parse it: SC_USAGE otherwise); pod and container
 * names are matched exactly.
 */
export async function resolveTargets(
  kube: Kube,
  targets: SessionTargets,
  opts: ResolveTargetsOptions = {},
): Promise<TargetResolution> {
  const labelSelector = targets.labelSelector?.trim() ? targets.labelSelector : undefined;
  if (labelSelector !== undefined) parseLabelSelector(labelSelector);
  const namespaces = nonEmpty(targets.namespaces);
  const podNames = nonEmpty(targets.pods);
  const containerNames = nonEmpty(targets.containers);

  const listed: V1Pod[] = [];
  if (namespaces === undefined) {
    const list = await kube.call({ verb: "list", resource: "pods" }, () =>
      kube.core.listPodForAllNamespaces(labelSelector !== undefined ? { labelSelector } : {}),
    );
    listed.push(...list.items);
  } else {
    for (const namespace of [...namespaces].sort()) {
      const list = await kube.call({ verb: "list", resource: "pods", namespace }, () =>
        kube.core.listNamespacedPod({ namespace, ...(labelSelector !== undefined ? { labelSelector } : {}) }),
      );
      listed.push(...list.items);
    }
  }

  const pods: TargetPod[] = [];
  for (const pod of listed) {
    const meta = pod.metadata;
    if (!meta?.name || !meta.uid) continue;
    const namespace = meta.namespace ?? "default";
    if (namespaces !== undefined && !namespaces.has(namespace)) continue;
    if (podNames !== undefined && !podNames.has(meta.name)) continue;
    const phase = pod.status?.phase ?? "Unknown";
    if (!opts.includeFinished && (phase === "Succeeded" || phase === "Failed")) continue;
    const containers = containerNamesOf(pod).filter(
      (c) => containerNames === undefined || containerNames.has(c),
    );
    if (containers.length === 0) continue;
    const ref = meta.ownerReferences?.find((r) => r.controller === true) ?? meta.ownerReferences?.[0];
    pods.push({
      namespace,
      name: meta.name,
      uid: meta.uid,
      node: pod.spec?.nodeName || undefined,
      phase,
      labels: { ...(meta.labels ?? {}) },
      controller: ref ? { kind: ref.kind, name: ref.name } : undefined,
      containers,
    });
  }
  pods.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));

  const byNode = new Map<string, TargetPod[]>();
  const unscheduled: TargetPod[] = [];
  for (const pod of pods) {
    if (pod.node === undefined) unscheduled.push(pod);
    else byNode.set(pod.node, [...(byNode.get(pod.node) ?? []), pod]);
  }
  const nodes = [...byNode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, nodePods]) => ({ node, pods: nodePods }));

  const missingNamespaces: string[] = [];
  for (const namespace of namespaces ?? []) {
    // Only an empty result raises the question; and a namespace-scoped user may not read namespaces.
    if (listed.some((p) => p.metadata?.namespace === namespace)) continue;
    try {
      await kube.call({ verb: "get", resource: "namespaces", name: namespace }, () =>
        kube.core.readNamespace({ name: namespace }),
      );
    } catch (err) {
      if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) missingNamespaces.push(namespace);
      else if (!isSeccomposeError(err, ErrorCodes.SC_K8S_FORBIDDEN)) throw err;
    }
  }
  missingNamespaces.sort();

  return { pods, nodes, unscheduled, missingNamespaces };
}

function nonEmpty(values: readonly string[] | undefined): Set<string> | undefined {
  return values !== undefined && values.length > 0 ? new Set(values) : undefined;
}

function containerNamesOf(pod: V1Pod): string[] {
  const spec = pod.spec;
  return [
    ...(spec?.initContainers ?? []).map((c) => c.name),
    ...(spec?.containers ?? []).map((c) => c.name),
    ...(spec?.ephemeralContainers ?? []).map((c) => c.name),
  ];
}
