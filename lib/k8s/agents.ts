/**
 * How many agents the CLI should hear from and where they run: the agent DaemonSet's status and
 * its pods (found through the DaemonSet's own selector and owner uid), so a node whose agent does
 * not answer a control request can be named.
 */
import type { V1LabelSelector, V1Pod } from "@kubernetes/client-node";
import type { Kube } from "./client.ts";

export interface AgentPod {
  name: string;
  node: string | undefined;
  phase: string;
  ready: boolean;
  /** Why the pod is not ready (a container's waiting/terminated reason, or why it is not scheduled). */
  reason: string | undefined;
}

export interface AgentDaemonSetStatus {
  namespace: string;
  name: string;
  /** Nodes that should run an agent (status.desiredNumberScheduled). */
  desired: number;
  /** Nodes that run an agent pod (status.currentNumberScheduled). */
  current: number;
  ready: number;
  available: number;
  /** Nodes running the current pod template. */
  updated: number;
  /** Agent pods on nodes that should not run one. */
  misscheduled: number;
  generation: number | undefined;
  observedGeneration: number | undefined;
  /** The DaemonSet's pods, by node then name. */
  pods: AgentPod[];
  /** Nodes with an agent pod, sorted. */
  nodes: string[];
  /** Nodes whose agent pod is ready, sorted. */
  readyNodes: string[];
}

export interface MissingAgents {
  /** Nodes with an agent pod whose agent did not answer, sorted. */
  silent: string[];
  /** Agents the DaemonSet wants that have no pod on any node yet. */
  unscheduled: number;
}

/** Reads the agent DaemonSet and its pods; SC_K8S_NOT_FOUND when the DaemonSet does not exist. */
export async function agentDaemonSetStatus(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<AgentDaemonSetStatus> {
  const ds = await kube.call({ verb: "get", resource: "daemonsets", namespace, name }, () =>
    kube.apps.readNamespacedDaemonSet({ namespace, name }),
  );
  const selector = ds.spec?.selector;
  const labelSelector = selector ? selectorString(selector) : undefined;
  const list = await kube.call({ verb: "list", resource: "pods", namespace }, () =>
    kube.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) }),
  );
  const uid = ds.metadata?.uid;
  // Labels can be shared by pods of another controller; the owner uid cannot.
  const owned = list.items.filter(
    (p) => uid === undefined || (p.metadata?.ownerReferences ?? []).some((r) => r.uid === uid),
  );
  const pods = owned
    .map(agentPodOf)
    .sort((a, b) => (a.node ?? "").localeCompare(b.node ?? "") || a.name.localeCompare(b.name));
  const status = ds.status;
  return {
    namespace,
    name,
    desired: status?.desiredNumberScheduled ?? 0,
    current: status?.currentNumberScheduled ?? 0,
    ready: status?.numberReady ?? 0,
    available: status?.numberAvailable ?? 0,
    updated: status?.updatedNumberScheduled ?? 0,
    misscheduled: status?.numberMisscheduled ?? 0,
    generation: ds.metadata?.generation,
    observedGeneration: status?.observedGeneration,
    pods,
    nodes: uniqueSorted(pods.map((p) => p.node)),
    readyNodes: uniqueSorted(pods.filter((p) => p.ready).map((p) => p.node)),
  };
}

/** Compares the nodes whose agents answered with the DaemonSet: which agents are missing. */
export function missingAgents(status: AgentDaemonSetStatus, answered: Iterable<string>): MissingAgents {
  const heard = new Set(answered);
  return {
    silent: status.nodes.filter((n) => !heard.has(n)),
    unscheduled: Math.max(0, status.desired - status.nodes.length),
  };
}

/** A LabelSelector object as the selector string the list API takes. */
export function selectorString(selector: V1LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",");
    switch (e.operator) {
      case "In":
        parts.push(`${e.key} in (${values})`);
        break;
      case "NotIn":
        parts.push(`${e.key} notin (${values})`);
        break;
      case "Exists":
        parts.push(e.key);
        break;
      case "DoesNotExist":
        parts.push(`!${e.key}`);
        break;
    }
  }
  return parts.join(",");
}

function agentPodOf(pod: V1Pod): AgentPod {
  const ready = (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  return {
    name: pod.metadata?.name ?? "",
    node: pod.spec?.nodeName || undefined,
    phase: pod.status?.phase ?? "Unknown",
    ready,
    reason: ready ? undefined : notReadyReason(pod),
  };
}

function notReadyReason(pod: V1Pod): string {
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const waiting = s.state?.waiting;
    if (waiting?.reason) return waiting.message ? `${waiting.reason}: ${waiting.message}` : waiting.reason;
    const terminated = s.state?.terminated;
    if (terminated && terminated.exitCode !== 0) {
      return `${s.name} exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ""}`;
    }
  }
  const notReady = pod.status?.containerStatuses?.find((s) => s.state?.running && !s.ready);
  if (notReady) return `container ${notReady.name} is running but not ready`;
  const unscheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  if (unscheduled) return unscheduled.message ?? unscheduled.reason ?? "not scheduled";
  if (pod.metadata?.deletionTimestamp) return "terminating";
  return pod.status?.phase ?? "Unknown";
}

function uniqueSorted(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))].sort();
}
