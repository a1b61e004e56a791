/** Workload controllers with their status as the controllers report it: DaemonSet, Deployment, ReplicaSet, Job. */
import type { FakeObject } from "../types.ts";
import { CREATED, CRONJOB_JOB_SUFFIX, templateHashFor, uidFor } from "./ids.ts";

export interface DaemonSetSpecInput {
  name: string;
  namespace?: string;
  /** Selector labels, also the pod template's labels. */
  labels?: Record<string, string>;
  desired: number;
  ready: number;
  updated: number;
  /** Default: ready. */
  available?: number;
  /** Default: desired. */
  current?: number;
  generation?: number;
  /** Default: generation. */
  observedGeneration?: number;
  image?: string;
}

export function makeDaemonSet(spec: DaemonSetSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const labels = spec.labels ?? { "app.kubernetes.io/name": spec.name };
  const generation = spec.generation ?? 1;
  const current = spec.current ?? spec.desired;
  const available = spec.available ?? spec.ready;
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("DaemonSet", namespace, spec.name),
      generation,
      creationTimestamp: CREATED,
      labels,
    },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: spec.name, image: spec.image ?? `registry.example.com/${spec.name}:1.0` }],
        },
      },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
    },
    status: {
      currentNumberScheduled: current,
      desiredNumberScheduled: spec.desired,
      numberMisscheduled: 0,
      numberReady: spec.ready,
      numberAvailable: available,
      ...(spec.desired - available > 0 ? { numberUnavailable: spec.desired - available } : {}),
      updatedNumberScheduled: spec.updated,
      observedGeneration: spec.observedGeneration ?? generation,
    },
  };
}

export interface DeploymentSpecInput {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  replicas: number;
  /** Status counts; default: all replicas updated, ready and available. */
  updated?: number;
  ready?: number;
  available?: number;
  /** Total pods, old and new; default: replicas. */
  total?: number;
  generation?: number;
  observedGeneration?: number;
}

export function makeDeployment(spec: DeploymentSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const labels = spec.labels ?? { "app.kubernetes.io/name": spec.name };
  const generation = spec.generation ?? 1;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Deployment", namespace, spec.name),
      generation,
      creationTimestamp: CREATED,
      labels,
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: spec.name, image: `registry.example.com/${spec.name}:1.0` }] },
      },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } },
      progressDeadlineSeconds: 600,
    },
    status: {
      observedGeneration: spec.observedGeneration ?? generation,
      replicas: spec.total ?? spec.replicas,
      updatedReplicas: spec.updated ?? spec.replicas,
      readyReplicas: spec.ready ?? spec.replicas,
      availableReplicas: spec.available ?? spec.ready ?? spec.replicas,
      conditions: [
        {
          type: "Progressing",
          status: "True",
          reason: "NewReplicaSetAvailable",
          message: `ReplicaSet "${spec.name}-${templateHashFor(spec.name)}" has successfully progressed.`,
          lastUpdateTime: CREATED,
          lastTransitionTime: CREATED,
        },
      ],
    },
  };
}

/** The ReplicaSet `<deployment>-<hash>` a Deployment owns (the owner makePod gives its pods). */
export function makeReplicaSet(spec: {
  deployment: string;
  namespace?: string;
  replicas?: number;
}): FakeObject {
  const namespace = spec.namespace ?? "default";
  const hash = templateHashFor(spec.deployment);
  const name = `${spec.deployment}-${hash}`;
  const labels = { "app.kubernetes.io/name": spec.deployment, "pod-template-hash": hash };
  const replicas = spec.replicas ?? 1;
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name,
      namespace,
      uid: uidFor("ReplicaSet", namespace, name),
      generation: 1,
      creationTimestamp: CREATED,
      labels,
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: spec.deployment,
          uid: uidFor("Deployment", namespace, spec.deployment),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: spec.deployment, image: `registry.example.com/${spec.deployment}:1.0` }],
        },
      },
    },
    status: { replicas, readyReplicas: replicas, availableReplicas: replicas, observedGeneration: 1 },
  };
}

/** A Job, owned by a CronJob when `cronJob` is given (named `<cronJob>-<suffix>`, as makePod expects). */
export function makeJob(spec: { name?: string; cronJob?: string; namespace?: string }): FakeObject {
  const namespace = spec.namespace ?? "default";
  const name = spec.cronJob !== undefined ? `${spec.cronJob}-${CRONJOB_JOB_SUFFIX}` : spec.name!;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace,
      uid: uidFor("Job", namespace, name),
      generation: 1,
      creationTimestamp: CREATED,
      labels: { "batch.kubernetes.io/job-name": name },
      ...(spec.cronJob !== undefined
        ? {
            ownerReferences: [
              {
                apiVersion: "batch/v1",
                kind: "CronJob",
                name: spec.cronJob,
                uid: uidFor("CronJob", namespace, spec.cronJob),
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      template: {
        metadata: { labels: { "batch.kubernetes.io/job-name": name } },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "job", image: "registry.example.com/job:1.0" }],
        },
      },
    },
    status: { active: 1, startTime: CREATED },
  };
}
