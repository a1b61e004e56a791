/**
 * Node enrollment at install (deploy/README.md, "NATS authentication and authorization"): for each
 * node without a key, a one-shot pod pinned to the node (`spec.nodeName`) runs the agent image's
 * `enroll` command with the node's identity directory (hostPath) mounted. It creates the node's
 * NKey seed there, or keeps the one it finds, and reports only the public key, in its termination
 * message. Install waits for every pod, reads the keys, and deletes the pods. The pods copy image,
 * identity volume and seed path from the agent DaemonSet being installed, so they always match
 * what the agents will read.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1LocalObjectReference, V1Pod, V1Toleration } from "@kubernetes/client-node";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import type { ManifestObject } from "../../lib/k8s/apply.ts";
import type { Kube } from "../../lib/k8s/client.ts";
import { isUserPublicKey } from "../../lib/nats/node-identity.ts";
import { AGENT_DAEMONSET } from "../cluster/agents.ts";
import { terminalSafe } from "../output.ts";

export const ENROLLMENT_APP = "seccompose-enroll";
/** The seed file's variable in the agent's environment (services/agent/config.ts). */
export const NKEY_FILE_ENV = "SECCOMPOSE_NATS_NKEY_FILE";
const RUN_LABEL = "seccompose.dev/enrollment";
const NODE_ANNOTATION = "seccompose.dev/node";
const CONTAINER = "enroll";
/** A termination message is at most 4 KiB; a key is 56 characters, a failure a line or two. */
const MAX_REASON = 300;
/** Pods created at once: a thousand-node cluster is enrolled in seconds without flooding the API server. */
const CREATE_CONCURRENCY = 16;

interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  env?: Array<{ name: string; value?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

interface PodSpec {
  serviceAccountName?: string;
  tolerations?: V1Toleration[];
  imagePullSecrets?: V1LocalObjectReference[];
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string } }>;
}

/** What an enrollment pod takes from the agent DaemonSet. */
export interface EnrollmentTemplate {
  image: string;
  imagePullPolicy?: string;
  serviceAccountName?: string;
  tolerations?: V1Toleration[];
  imagePullSecrets?: V1LocalObjectReference[];
  /** The seed file, as the agent container sees it. */
  seedFile: string;
  /** The identity directory on the node, and where both containers mount it. */
  hostPath: string;
  mountPath: string;
}

const manifestError = (message: string): SeccomposeError =>
  new SeccomposeError("SC_CONFIG_INVALID", `the agent DaemonSet of the manifests ${message}`);

/** Reads the enrollment pod's image, seed path and identity volume from the agent DaemonSet. */
export function enrollmentTemplate(objects: readonly ManifestObject[]): EnrollmentTemplate {
  const ds = objects.find((o) => o.kind === "DaemonSet" && o.metadata.name === AGENT_DAEMONSET);
  const spec = (ds as { spec?: { template?: { spec?: PodSpec } } } | undefined)?.spec?.template?.spec;
  if (spec === undefined) throw manifestError(`is missing (${AGENT_DAEMONSET})`);
  const agent = spec.containers[0];
  if (agent?.image === undefined) throw manifestError("names no image");
  const seedFile = agent.env?.find((e) => e.name === NKEY_FILE_ENV)?.value;
  if (seedFile === undefined) throw manifestError(`sets no ${NKEY_FILE_ENV}`);
  const mount = (agent.volumeMounts ?? [])
    .filter((m) => seedFile.startsWith(`${m.mountPath.replace(/\/$/, "")}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const hostPath = spec.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path;
  if (mount === undefined || hostPath === undefined) {
    throw manifestError(`mounts no hostPath directory holding ${NKEY_FILE_ENV}=${seedFile}`);
  }
  return {
    image: agent.image,
    ...(agent.imagePullPolicy !== undefined ? { imagePullPolicy: agent.imagePullPolicy } : {}),
    ...(spec.serviceAccountName !== undefined ? { serviceAccountName: spec.serviceAccountName } : {}),
    ...(spec.tolerations !== undefined ? { tolerations: spec.tolerations } : {}),
    ...(spec.imagePullSecrets !== undefined ? { imagePullSecrets: spec.imagePullSecrets } : {}),
    seedFile,
    hostPath,
    mountPath: mount.mountPath,
  };
}

/**
 * The enrollment pod of one node: pinned to it, never restarted, no API token, root without any
 * capability (it only writes into a root-owned directory), read-only root filesystem, and a
 * deadline so it cannot linger if install is interrupted.
 */
export function enrollmentPod(
  template: EnrollmentTemplate,
  node: string,
  namespace: string,
  run: string,
  deadlineSeconds: number,
): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${ENROLLMENT_APP}-`,
      namespace,
      labels: {
        "app.kubernetes.io/name": ENROLLMENT_APP,
        "app.kubernetes.io/part-of": "seccompose",
        [RUN_LABEL]: run,
      },
      annotations: { [NODE_ANNOTATION]: node },
    },
    spec: {
      nodeName: node,
      restartPolicy: "Never",
      activeDeadlineSeconds: Math.max(1, Math.ceil(deadlineSeconds)),
      ...(template.serviceAccountName !== undefined
        ? { serviceAccountName: template.serviceAccountName }
        : {}),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(template.tolerations !== undefined ? { tolerations: template.tolerations } : {}),
      ...(template.imagePullSecrets !== undefined ? { imagePullSecrets: template.imagePullSecrets } : {}),
      securityContext: { runAsUser: 0, runAsNonRoot: false, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: CONTAINER,
          image: template.image,
          ...(template.imagePullPolicy !== undefined ? { imagePullPolicy: template.imagePullPolicy } : {}),
          args: ["enroll"],
          env: [
            { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: NKEY_FILE_ENV, value: template.seedFile },
          ],
          resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
          terminationMessagePolicy: "File",
          volumeMounts: [{ name: "node-identity", mountPath: template.mountPath }],
        },
      ],
      volumes: [{ name: "node-identity", hostPath: { path: template.hostPath, type: "DirectoryOrCreate" } }],
    },
  };
}

export type EnrollmentOutcome =
  | { state: "enrolled"; publicKey: string }
  | { state: "failed"; reason: string }
  | { state: "pending"; reason: string };

const clip = (text: string): string =>
  terminalSafe(text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}...` : text);

/** Where an enrollment pod is, from its status: the key it reported, why it failed, or what it waits for. */
export function enrollmentOutcome(pod: V1Pod): EnrollmentOutcome {
  const status = pod.status;
  const container = status?.containerStatuses?.find((c) => c.name === CONTAINER);
  const terminated = container?.state?.terminated;
  if (terminated !== undefined) {
    const message = (terminated.message ?? "").trim();
    if (terminated.exitCode === 0) {
      return isUserPublicKey(message)
        ? { state: "enrolled", publicKey: message }
        : { state: "failed", reason: `it reported no NKey user public key (message "${clip(message)}")` };
    }
    const why = terminated.reason !== undefined ? ` (${terminated.reason})` : "";
    return {
      state: "failed",
      reason: message !== "" ? clip(message) : `exit code ${terminated.exitCode}${clip(why)}`,
    };
  }
  const podReason = [status?.reason, status?.message].filter((s) => s !== undefined && s !== "").join(": ");
  if (status?.phase === "Failed" || status?.phase === "Succeeded") {
    return { state: "failed", reason: clip(podReason !== "" ? podReason : `pod ${status.phase}`) };
  }
  const waiting = container?.state?.waiting;
  if (waiting !== undefined) {
    const text = [waiting.reason, waiting.message].filter((s) => s !== undefined && s !== "").join(": ");
    return { state: "pending", reason: clip(text !== "" ? text : "container waiting") };
  }
  const unready = status?.conditions?.find((c) => c.status === "False" && c.message);
  if (unready !== undefined) return { state: "pending", reason: clip(`${unready.type}: ${unready.message}`) };
  if (container?.state?.running !== undefined) return { state: "pending", reason: "running" };
  return { state: "pending", reason: `pod ${status?.phase ?? "not started by the node's kubelet"}` };
}

export interface EnrollOptions {
  namespace: string;
  template: EnrollmentTemplate;
  nodes: readonly string[];
  timeoutMs: number;
  intervalMs?: number;
  onProgress?: (enrolled: number, total: number, waitingFor: string) => void;
}

const podsApi = (namespace: string, verb: string, name?: string) => ({
  verb,
  resource: "pods",
  namespace,
  ...(name !== undefined ? { name } : {}),
});

async function deletePod(kube: Kube, namespace: string, name: string): Promise<void> {
  try {
    await kube.call(podsApi(namespace, "delete", name), () =>
      kube.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }),
    );
  } catch (err) {
    if (!isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) throw err;
  }
}

async function listPods(kube: Kube, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  const list = await kube.call(podsApi(namespace, "list"), () =>
    kube.core.listNamespacedPod({ namespace, labelSelector }),
  );
  return list.items;
}

/**
 * Enrolls `nodes`: removes enrollment pods an interrupted install left, creates one pod per node,
 * waits until each has reported its key or failed, and deletes them all, whatever happened.
 * Resolves with node → public key; throws SC_ENROLLMENT_FAILED naming every node that did not
 * enroll, with the reason from its pod's status.
 */
export async function enrollNodes(kube: Kube, opts: EnrollOptions): Promise<Record<string, string>> {
  const { namespace } = opts;
  if (opts.nodes.length === 0) return {};
  const deadline = Date.now() + opts.timeoutMs;
  for (const leftover of await listPods(kube, namespace, `app.kubernetes.io/name=${ENROLLMENT_APP}`)) {
    await deletePod(kube, namespace, leftover.metadata!.name!);
  }
  const run = randomBytes(6).toString("hex");
  const podOf = new Map<string, string>();
  try {
    for (let i = 0; i < opts.nodes.length; i += CREATE_CONCURRENCY) {
      await Promise.all(
        opts.nodes.slice(i, i + CREATE_CONCURRENCY).map(async (node) => {
          const body = enrollmentPod(opts.template, node, namespace, run, opts.timeoutMs / 1000);
          const created = await kube.call(podsApi(namespace, "create"), () =>
            kube.core.createNamespacedPod({ namespace, body }),
          );
          podOf.set(node, created.metadata!.name!);
        }),
      );
    }
    const outcomes = new Map<string, EnrollmentOutcome>();
    for (;;) {
      const pods = new Map(
        (await listPods(kube, namespace, `${RUN_LABEL}=${run}`)).map((p) => [p.metadata?.name, p]),
      );
      for (const [node, name] of podOf) {
        const pod = pods.get(name);
        outcomes.set(
          node,
          pod === undefined
            ? { state: "failed", reason: "the enrollment pod was deleted before it finished" }
            : enrollmentOutcome(pod),
        );
      }
      const enrolled = [...outcomes.values()].filter((o) => o.state === "enrolled").length;
      const pending = [...outcomes].filter(([, o]) => o.state === "pending").map(([n]) => n);
      opts.onProgress?.(enrolled, podOf.size, pending.length > 0 ? `waiting for ${pending.join(", ")}` : "");
      const timedOut = Date.now() >= deadline;
      if (pending.length === 0 || timedOut) break;
      await sleep(Math.min(opts.intervalMs ?? 1000, Math.max(0, deadline - Date.now())));
    }
    const failures = [...outcomes].filter(([, o]) => o.state !== "enrolled");
    if (failures.length > 0) {
      const lines = failures.map(([node, o]) => {
        const what =
          o.state === "pending" ? `did not finish within ${Math.round(opts.timeoutMs / 1000)} s` : "failed";
        return `  ${terminalSafe(node)} (pod ${podOf.get(node)}): ${what}: ${"reason" in o ? o.reason : ""}`;
      });
      throw new SeccomposeError(
        "SC_ENROLLMENT_FAILED",
        `enrollment did not succeed on ${failures.length} of ${podOf.size} node(s); their agents cannot log in to NATS:\n${lines.join("\n")}`,
        { details: Object.fromEntries(failures) },
      );
    }
    return Object.fromEntries(
      [...outcomes].map(([node, o]) => [node, (o as { publicKey: string }).publicKey]),
    );
  } finally {
    for (const name of podOf.values()) await deletePod(kube, namespace, name);
  }
}
