/**
 * Binding a workload container to an installed seccomp profile: the owner's pod template gets
 * `securityContext.seccompProfile: {type: Localhost, localhostProfile: seccompose/<name>.json}` on
 * exactly that container, through server-side apply. Each container has its own field manager
 * (`seccompose-profile/<container>`), so the apply carries only that container's two fields, never
 * touches what others set (other containers, the rest of the securityContext), and unbinding is an
 * apply of nothing under the same manager: the server removes exactly the fields it owned.
 *
 * A Job's pod template is immutable once created, so a Job cannot be bound (SC_WORKLOAD_IMMUTABLE);
 * a CronJob's job template can, and takes effect from the next Job it creates.
 */
import { PatchStrategy, type KubernetesObject } from "@kubernetes/client-node";
import type { WorkloadKey } from "../contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import type { Kube } from "./client.ts";

/** The kinds whose pod template can carry a binding, and where that template is. */
const OWNER_KINDS = {
  Deployment: { apiVersion: "apps/v1", resource: "deployments", template: ["spec", "template"] },
  StatefulSet: { apiVersion: "apps/v1", resource: "statefulsets", template: ["spec", "template"] },
  DaemonSet: { apiVersion: "apps/v1", resource: "daemonsets", template: ["spec", "template"] },
  Job: { apiVersion: "batch/v1", resource: "jobs", template: ["spec", "template"] },
  CronJob: {
    apiVersion: "batch/v1",
    resource: "cronjobs",
    template: ["spec", "jobTemplate", "spec", "template"],
  },
} as const;

export type OwnerKind = keyof typeof OWNER_KINDS;
export const OWNER_KIND_NAMES = Object.keys(OWNER_KINDS) as OwnerKind[];

export interface BindingTarget {
  kind: OwnerKind;
  apiVersion: string;
  resource: string;
  namespace: string;
  name: string;
  container: string;
}

/** The list of the pod spec that holds the container. */
export type ContainerList = "containers" | "initContainers";

export interface SeccompProfileField {
  type: string;
  localhostProfile?: string;
}

/** `localhostProfile` of an installed profile: relative to the kubelet's seccomp root, where agents put `seccompose/`. */
export function localhostProfilePath(profileName: string): string {
  return `seccompose/${profileName}.json`;
}

export function bindingFieldManager(container: string): string {
  return `seccompose-profile/${container}`;
}

/** The owner to patch for a workload container; SC_WORKLOAD_UNSUPPORTED for a bare Pod, ReplicaSet or other kind. */
export function bindingTarget(workload: WorkloadKey): BindingTarget {
  if (!(OWNER_KIND_NAMES as string[]).includes(workload.kind)) {
    throw new SeccomposeError(
      ErrorCodes.SC_WORKLOAD_UNSUPPORTED,
      `${workload.kind} ${workload.namespace}/${workload.name} has no pod template seccompose can patch: only ${OWNER_KIND_NAMES.join(", ")} are bound; set securityContext.seccompProfile in its manifest instead`,
    );
  }
  const kind = workload.kind as OwnerKind;
  const { apiVersion, resource } = OWNER_KINDS[kind];
  return {
    kind,
    apiVersion,
    resource,
    namespace: workload.namespace,
    name: workload.name,
    container: workload.container,
  };
}

/** Refuses a Job, whose pod template the API server does not let anyone change. */
export function assertTemplateMutable(target: BindingTarget): void {
  if (target.kind === "Job") {
    throw new SeccomposeError(
      ErrorCodes.SC_WORKLOAD_IMMUTABLE,
      `Job ${target.namespace}/${target.name}: a Job's pod template cannot be changed after it is created, so it cannot be bound; add the securityContext to the Job's manifest and create it again (--dry-run prints it), or record and bind its CronJob`,
    );
  }
}

function header(target: BindingTarget) {
  return {
    apiVersion: target.apiVersion,
    kind: target.kind,
    metadata: { name: target.name, namespace: target.namespace },
  };
}

/** Nests `leaf` under the kind's template path. */
function underTemplate(target: BindingTarget, leaf: Record<string, unknown>): Record<string, unknown> {
  let value: Record<string, unknown> = leaf;
  for (const key of [...OWNER_KINDS[target.kind].template].reverse()) value = { [key]: value };
  return value;
}

/** The server-side apply configuration that binds the container to `localhostProfile`. */
export function bindingPatch(
  target: BindingTarget,
  list: ContainerList,
  localhostProfile: string,
): KubernetesObject & Record<string, unknown> {
  return {
    ...header(target),
    ...underTemplate(target, {
      spec: {
        [list]: [
          {
            name: target.container,
            securityContext: { seccompProfile: { type: "Localhost", localhostProfile } },
          },
        ],
      },
    }),
  };
}

/** The configuration that unbinds: nothing, so the server drops every field the manager owned. */
export function unbindingPatch(target: BindingTarget): KubernetesObject & Record<string, unknown> {
  return header(target);
}

interface PodSpecLike {
  containers?: Array<{ name?: string; securityContext?: { seccompProfile?: SeccompProfileField } }>;
  initContainers?: Array<{ name?: string; securityContext?: { seccompProfile?: SeccompProfileField } }>;
}

function podSpecOf(target: BindingTarget, owner: KubernetesObject): PodSpecLike | undefined {
  let value: unknown = owner;
  for (const key of [...OWNER_KINDS[target.kind].template, "spec"]) {
    value = (value as Record<string, unknown> | undefined)?.[key];
  }
  return value as PodSpecLike | undefined;
}

export interface ContainerState {
  list: ContainerList;
  /** The container's seccompProfile now, from whoever set it. */
  seccompProfile?: SeccompProfileField;
}

/** Where the container is in the owner's pod template; SC_K8S_NOT_FOUND naming the containers there otherwise. */
export function findContainer(target: BindingTarget, owner: KubernetesObject): ContainerState {
  const spec = podSpecOf(target, owner);
  for (const list of ["containers", "initContainers"] as const) {
    const found = spec?.[list]?.find((c) => c.name === target.container);
    if (found !== undefined) {
      const profile = found.securityContext?.seccompProfile;
      return { list, ...(profile !== undefined ? { seccompProfile: profile } : {}) };
    }
  }
  const names = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((c) => c.name);
  throw new SeccomposeError(
    ErrorCodes.SC_K8S_NOT_FOUND,
    `${target.kind} ${target.namespace}/${target.name} has no container "${target.container}" in its pod template (containers: ${names.join(", ") || "none"})`,
  );
}

/** Reads the owner object. */
export async function readOwner(kube: Kube, target: BindingTarget): Promise<KubernetesObject> {
  return kube.call(
    { verb: "get", resource: target.resource, namespace: target.namespace, name: target.name },
    () => kube.objects.read(header(target)),
  );
}

/** Server-side applies `patch` as the container's field manager and returns the stored object. */
export async function applyBinding(
  kube: Kube,
  target: BindingTarget,
  patch: KubernetesObject,
  opts: { forceConflicts?: boolean } = {},
): Promise<KubernetesObject> {
  return kube.call(
    { verb: "patch", resource: target.resource, namespace: target.namespace, name: target.name },
    () =>
      kube.objects.patch<KubernetesObject>(
        structuredClone(patch),
        undefined,
        undefined,
        bindingFieldManager(target.container),
        opts.forceConflicts ?? false,
        PatchStrategy.ServerSideApply,
      ),
  );
}

/** Whether the container's field manager owns any field of the object (from managedFields). */
export function bindingManaged(target: BindingTarget, owner: KubernetesObject): boolean {
  const manager = bindingFieldManager(target.container);
  return (owner.metadata?.managedFields ?? []).some((m) => m.manager === manager);
}
