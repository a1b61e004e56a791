import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { parseLabelSelector, selectorMatches, type LabelSelector } from "../../../lib/label-selector.ts";
import type { PodInfo } from "../ports.ts";

export type SessionTargets = SessionRecord["targets"];

/** A session's targets with the label selector parsed once. */
export type TargetMatcher = (pod: PodInfo, containerName: string) => boolean;

/**
 * Compiles a session's targets: every given criterion must match (AND); no criteria match every
 * container. Throws SeccomposeError SC_USAGE for an invalid label selector.
 */
export function compileTargets(targets: SessionTargets): TargetMatcher {
  const namespaces =
    targets.namespaces && targets.namespaces.length > 0 ? new Set(targets.namespaces) : undefined;
  const pods = targets.pods && targets.pods.length > 0 ? new Set(targets.pods) : undefined;
  const containers =
    targets.containers && targets.containers.length > 0 ? new Set(targets.containers) : undefined;
  const selector: LabelSelector | undefined =
    targets.labelSelector !== undefined && targets.labelSelector.trim() !== ""
      ? parseLabelSelector(targets.labelSelector)
      : undefined;
  return (pod, containerName) =>
    (namespaces === undefined || namespaces.has(pod.namespace)) &&
    (pods === undefined || pods.has(pod.name)) &&
    (containers === undefined || containers.has(containerName)) &&
    (selector === undefined || selectorMatches(selector, pod.labels));
}

/** Whether a session's targets select this container of this pod. */
export function targetMatches(targets: SessionTargets, pod: PodInfo, containerName: string): boolean {
  return compileTargets(targets)(pod, containerName);
}
