/**
 * A pod's containers as the node sees them: the ids the runtime gave them (the form cgroup paths
 * carry) and the names of the pod spec. Shared by the agent's attribution and the aggregator's
 * ownership check, so both read a pod the same way.
 */
import type { V1Pod } from "@kubernetes/client-node";

/** `containerd://<id>`, `cri-o://<id>`, `docker://<id>` → `<id>`, the form cgroup paths carry. */
export function stripRuntimePrefix(containerId: string): string {
  const at = containerId.indexOf("://");
  return at === -1 ? containerId : containerId.slice(at + 3);
}

/**
 * Container id → container name, for every container (init, regular, ephemeral) that has an id
 * in the pod's status; with `previous`, also the instance before the last restart
 * (`lastState.terminated`), whose data may still be on its way.
 */
export function podContainerIds(pod: V1Pod, opts: { previous?: boolean } = {}): Map<string, string> {
  const ids = new Map<string, string>();
  const status = pod.status;
  for (const statuses of [
    status?.initContainerStatuses,
    status?.containerStatuses,
    status?.ephemeralContainerStatuses,
  ]) {
    for (const s of statuses ?? []) {
      if (s.containerID) ids.set(stripRuntimePrefix(s.containerID), s.name);
      const before = s.lastState?.terminated?.containerID;
      if (opts.previous === true && before) ids.set(stripRuntimePrefix(before), s.name);
    }
  }
  return ids;
}

/** The names of every container of the pod's spec (init, regular, ephemeral). */
export function podContainerNames(pod: V1Pod): Set<string> {
  const spec = pod.spec;
  return new Set(
    [...(spec?.initContainers ?? []), ...(spec?.containers ?? []), ...(spec?.ephemeralContainers ?? [])].map(
      (c) => c.name,
    ),
  );
}
