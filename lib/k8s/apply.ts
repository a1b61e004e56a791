/**
 * Installing and uninstalling seccompose's manifests: server-side apply under one field manager
 * (so applying the same manifests again changes nothing), deletion in reverse order, and waiting
 * for the workloads to roll out, with the same completion rules as `kubectl rollout status`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { PatchStrategy } from "@kubernetes/client-node";
import type { KubernetesObject, V1DaemonSet, V1Deployment, V1StatefulSet } from "@kubernetes/client-node";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../errors.ts";
import { isUnknownKind } from "./client.ts";
import type { Kube } from "./client.ts";

export const FIELD_MANAGER = "seccompose";

/** A manifest as parsed from YAML: apiVersion, kind and metadata.name are required. */
export interface ManifestObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

export type ApplyAction = "created" | "configured" | "unchanged";

export interface AppliedObject {
  apiVersion: string;
  kind: string;
  /** The object's namespace as stored (the context's default namespace filled in); undefined for cluster-scoped kinds. */
  namespace: string | undefined;
  name: string;
  action: ApplyAction;
  resourceVersion: string | undefined;
}

export interface ApplyOptions {
  /** Default "seccompose". */
  fieldManager?: string;
  /** Take over fields another manager owns instead of failing with SC_K8S_CONFLICT. */
  forceConflicts?: boolean;
  /** Called after each object, for progress output. */
  onApplied?: (applied: AppliedObject) => void;
}

export type DeleteAction = "deleted" | "absent";

export interface DeletedObject {
  apiVersion: string;
  kind: string;
  namespace: string | undefined;
  name: string;
  action: DeleteAction;
}

export interface DeleteOptions {
  /** Default "Background": dependents (pods of a DaemonSet) are removed by the garbage collector afterwards. */
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  onDeleted?: (deleted: DeletedObject) => void;
}

// Kinds that others depend on come first: namespaces before what lives in them, definitions
// before their custom resources, identities and configuration before the workloads using them.
const KIND_ORDER = [
  "Namespace",
  "CustomResourceDefinition",
  "PriorityClass",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "Service",
  "PodDisruptionBudget",
  "StatefulSet",
  "DaemonSet",
  "Deployment",
  "Job",
  "CronJob",
];

/** The objects in the order to apply them (stable within a kind; unknown kinds, such as custom resources, last). */
export function applyOrder<T extends { kind: string }>(objects: readonly T[]): T[] {
  const rank = (kind: string): number => {
    const i = KIND_ORDER.indexOf(kind);
    return i === -1 ? KIND_ORDER.length : i;
  };
  return objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.index - b.index)
    .map((e) => e.object);
}

/**
 * Server-side applies every object (in applyOrder) and reports whether each was created, changed
 * or already as given. Stops at the first failure: SC_K8S_CONFLICT when another manager owns a
 * field and forceConflicts is off, SC_K8S_NOT_FOUND for a kind the server does not serve.
 */
export async function applyManifests(
  kube: Kube,
  objects: readonly ManifestObject[],
  opts: ApplyOptions = {},
): Promise<AppliedObject[]> {
  const fieldManager = opts.fieldManager ?? FIELD_MANAGER;
  const results: AppliedObject[] = [];
  for (const object of applyOrder(objects)) {
    checkManifest(object);
    const action = actionOf(object, "patch");
    let before: KubernetesObject | undefined;
    try {
      before = await kube.call({ ...action, verb: "get" }, () => kube.objects.read(header(object)));
    } catch (err) {
      if (!isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND) || isUnknownKind(err)) throw err;
    }
    const after: KubernetesObject = await kube.call(action, () =>
      kube.objects.patch<KubernetesObject>(
        structuredClone(object),
        undefined,
        undefined,
        fieldManager,
        opts.forceConflicts ?? false,
        PatchStrategy.ServerSideApply,
      ),
    );
    const resourceVersion = after.metadata?.resourceVersion;
    const applied: AppliedObject = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: after.metadata?.namespace,
      name: object.metadata.name,
      action:
        before === undefined
          ? "created"
          : before.metadata?.resourceVersion === resourceVersion
            ? "unchanged"
            : "configured",
      resourceVersion,
    };
    results.push(applied);
    opts.onApplied?.(applied);
  }
  return results;
}

/** Deletes the objects in reverse applyOrder; objects (or kinds) already gone count as "absent". */
export async function deleteManifests(
  kube: Kube,
  objects: readonly ManifestObject[],
  opts: DeleteOptions = {},
): Promise<DeletedObject[]> {
  const results: DeletedObject[] = [];
  for (const object of applyOrder(objects).reverse()) {
    checkManifest(object);
    let action: DeleteAction = "deleted";
    try {
      await kube.call(actionOf(object, "delete"), () =>
        kube.objects.delete(
          header(object),
          undefined,
          undefined,
          undefined,
          undefined,
          opts.propagationPolicy ?? "Background",
        ),
      );
    } catch (err) {
      // A custom resource whose definition was deleted first is gone with it.
      if (!isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) throw err;
      action = "absent";
    }
    const deleted: DeletedObject = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
      action,
    };
    results.push(deleted);
    opts.onDeleted?.(deleted);
  }
  return results;
}

export type RolloutKind = "DaemonSet" | "Deployment" | "StatefulSet";

export interface RolloutTarget {
  kind: RolloutKind;
  namespace: string;
  name: string;
}

export interface RolloutProgress {
  kind: RolloutKind;
  namespace: string;
  name: string;
  generation: number | undefined;
  observedGeneration: number | undefined;
  /** Pods wanted: spec.replicas, or for a DaemonSet the nodes that should run one. */
  desired: number;
  /** Pods running the current template. */
  updated: number;
  ready: number;
  available: number;
  done: boolean;
  /** What is being waited for, in kubectl's words. */
  message: string;
}

export interface WaitForRolloutOptions {
  timeoutMs: number;
  /** Time between status reads; default 1000 ms. */
  intervalMs?: number;
  /** Called with the first status and whenever it changes. */
  onProgress?: (progress: RolloutProgress) => void;
  signal?: AbortSignal;
}

/**
 * Polls the workload until its rollout is complete and returns the final progress. Throws
 * SC_K8S_TIMEOUT (naming what was still pending) when `timeoutMs` passes first, or at once when a
 * Deployment reports that it exceeded its progress deadline.
 */
export async function waitForRollout(
  kube: Kube,
  target: RolloutTarget,
  opts: WaitForRolloutOptions,
): Promise<RolloutProgress> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 1000;
  let last: RolloutProgress | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    const progress = await readRollout(kube, target);
    if (last === undefined || !sameProgress(last, progress)) opts.onProgress?.(progress);
    last = progress;
    if (progress.done) return progress;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_TIMEOUT,
        `${target.kind} ${target.namespace}/${target.name} did not finish rolling out within ${Math.round(opts.timeoutMs / 1000)} s: ${progress.message}`,
        { details: progress },
      );
    }
    await sleep(Math.min(interval, remaining), undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

async function readRollout(kube: Kube, target: RolloutTarget): Promise<RolloutProgress> {
  const { namespace, name } = target;
  switch (target.kind) {
    case "DaemonSet":
      return daemonSetProgress(
        await kube.call({ verb: "get", resource: "daemonsets", namespace, name }, () =>
          kube.apps.readNamespacedDaemonSet({ namespace, name }),
        ),
      );
    case "Deployment":
      return deploymentProgress(
        await kube.call({ verb: "get", resource: "deployments", namespace, name }, () =>
          kube.apps.readNamespacedDeployment({ namespace, name }),
        ),
      );
    case "StatefulSet":
      return statefulSetProgress(
        await kube.call({ verb: "get", resource: "statefulsets", namespace, name }, () =>
          kube.apps.readNamespacedStatefulSet({ namespace, name }),
        ),
      );
  }
}

export function daemonSetProgress(ds: V1DaemonSet): RolloutProgress {
  const s = ds.status;
  const base = baseProgress("DaemonSet", ds);
  const desired = s?.desiredNumberScheduled ?? 0;
  const updated = s?.updatedNumberScheduled ?? 0;
  const available = s?.numberAvailable ?? 0;
  const progress = { ...base, desired, updated, ready: s?.numberReady ?? 0, available };
  const label = `daemon set "${ds.metadata?.name}"`;
  if (!generationObserved(base))
    return waiting(progress, `Waiting for ${label} spec update to be observed...`);
  if (updated < desired) {
    return waiting(
      progress,
      `Waiting for ${label} rollout to finish: ${updated} out of ${desired} new pods have been updated...`,
    );
  }
  if (available < desired) {
    return waiting(
      progress,
      `Waiting for ${label} rollout to finish: ${available} of ${desired} updated pods are available...`,
    );
  }
  return { ...progress, done: true, message: `${label} successfully rolled out` };
}

export function deploymentProgress(deploy: V1Deployment): RolloutProgress {
  const s = deploy.status;
  const base = baseProgress("Deployment", deploy);
  const desired = deploy.spec?.replicas ?? 1;
  const updated = s?.updatedReplicas ?? 0;
  const total = s?.replicas ?? 0;
  const available = s?.availableReplicas ?? 0;
  const progress = { ...base, desired, updated, ready: s?.readyReplicas ?? 0, available };
  const label = `deployment "${deploy.metadata?.name}"`;
  if (!generationObserved(base))
    return waiting(progress, `Waiting for ${label} spec update to be observed...`);
  const progressing = s?.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_TIMEOUT,
      `${label} in namespace "${base.namespace}" exceeded its progress deadline: ${progressing.message ?? "no progress"}`,
      { details: progress },
    );
  }
  if (updated < desired) {
    return waiting(
      progress,
      `Waiting for ${label} rollout to finish: ${updated} out of ${desired} new replicas have been updated...`,
    );
  }
  if (total > updated) {
    return waiting(
      progress,
      `Waiting for ${label} rollout to finish: ${total - updated} old replicas are pending termination...`,
    );
  }
  if (available < updated) {
    return waiting(
      progress,
      `Waiting for ${label} rollout to finish: ${available} of ${updated} updated replicas are available...`,
    );
  }
  return { ...progress, done: true, message: `${label} successfully rolled out` };
}

export function statefulSetProgress(sts: V1StatefulSet): RolloutProgress {
  const s = sts.status;
  const base = baseProgress("StatefulSet", sts);
  const desired = sts.spec?.replicas ?? 1;
  const updated = s?.updatedReplicas ?? 0;
  const ready = s?.readyReplicas ?? 0;
  const progress = { ...base, desired, updated, ready, available: s?.availableReplicas ?? ready };
  const label = `statefulset "${sts.metadata?.name}"`;
  if (!generationObserved(base))
    return waiting(progress, `Waiting for ${label} spec update to be observed...`);
  if (ready < desired)
    return waiting(progress, `Waiting for ${desired - ready} pods of ${label} to be ready...`);
  const strategy = sts.spec?.updateStrategy;
  const partition = strategy?.rollingUpdate?.partition ?? 0;
  if (strategy?.type !== "OnDelete" && partition > 0) {
    if (updated < desired - partition) {
      return waiting(
        progress,
        `Waiting for partitioned roll out of ${label} to finish: ${updated} out of ${desired - partition} new pods have been updated...`,
      );
    }
    return {
      ...progress,
      done: true,
      message: `partitioned roll out of ${label} complete: ${updated} new pods have been updated`,
    };
  }
  if (s?.updateRevision !== s?.currentRevision) {
    return waiting(
      progress,
      `Waiting for ${label} rolling update to complete ${updated} pods at revision ${s?.updateRevision}...`,
    );
  }
  return {
    ...progress,
    done: true,
    message: `${label} rolling update complete ${desired} pods at revision ${s?.currentRevision}`,
  };
}

type WorkloadObject = V1DaemonSet | V1Deployment | V1StatefulSet;

function baseProgress(kind: RolloutKind, obj: WorkloadObject) {
  return {
    kind,
    namespace: obj.metadata?.namespace ?? "",
    name: obj.metadata?.name ?? "",
    generation: obj.metadata?.generation,
    observedGeneration: obj.status?.observedGeneration,
  };
}

function generationObserved(p: {
  generation: number | undefined;
  observedGeneration: number | undefined;
}): boolean {
  return p.generation === undefined || (p.observedGeneration ?? 0) >= p.generation;
}

function waiting(progress: Omit<RolloutProgress, "done" | "message">, message: string): RolloutProgress {
  return { ...progress, done: false, message };
}

function sameProgress(a: RolloutProgress, b: RolloutProgress): boolean {
  return (
    a.message === b.message &&
    a.desired === b.desired &&
    a.updated === b.updated &&
    a.ready === b.ready &&
    a.available === b.available &&
    a.observedGeneration === b.observedGeneration
  );
}

function checkManifest(object: ManifestObject): void {
  if (!object.apiVersion || !object.kind || !object.metadata?.name) {
    throw new SeccomposeError(
      ErrorCodes.SC_DOCUMENT_INVALID,
      `A manifest needs apiVersion, kind and metadata.name; got ${JSON.stringify({
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata?.name,
      })}`,
    );
  }
}

function header(object: ManifestObject) {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: {
      name: object.metadata.name,
      ...(object.metadata.namespace !== undefined ? { namespace: object.metadata.namespace } : {}),
    },
  };
}

function actionOf(object: ManifestObject, verb: string) {
  return {
    verb,
    resource: `${object.kind} (${object.apiVersion})`,
    name: object.metadata.name,
    ...(object.metadata.namespace !== undefined ? { namespace: object.metadata.namespace } : {}),
  };
}
