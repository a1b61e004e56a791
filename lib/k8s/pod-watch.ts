/**
 * A view of pods: an informer (list, then watch from that resource version), restricted by
 * `spec.nodeName` for an agent (the pods on its node) or cluster-wide for the aggregator (which
 * checks that a node speaks only about its own pods), keeping every pod by uid with its resolved
 * workload owner, and telling listeners about each change in the order the API server reported them.
 * Failures after the first sync are reported and retried with backoff; the informer resumes from
 * its last resource version, or lists again when that is too old (410 Gone).
 */
import { ListWatch, Watch } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import type { SeccomposeError } from "../errors.ts";
import { kubeError } from "./client.ts";
import type { Kube } from "./client.ts";
import { createOwnerResolver, immediateOwner } from "./owner.ts";
import type { OwnerResolver, WorkloadOwner } from "./owner.ts";

export type PodChange = "added" | "modified" | "deleted";

export interface PodWatchEvent {
  type: PodChange;
  pod: V1Pod;
  /** The pod's workload (its direct controller, or the pod, if the owner lookup failed). */
  owner: WorkloadOwner;
}

export type PodListener = (event: PodWatchEvent) => void;

export interface PodWatchOptions {
  /** Only the pods on this node (field selector spec.nodeName); every pod of the cluster when absent. */
  node?: string;
  /**
   * Keep the pods (and their owners) for pods(), get() and ownerOf(); default true. A listener that
   * keeps its own digest of every pod turns this off rather than hold each pod twice.
   */
  keepPods?: boolean;
  /** Told about every pod already on the node during the first sync, then about every change. */
  onChange?: PodListener;
  /** Failures after the first sync (watch errors, owner lookups, a listener that threw). */
  onError?: (err: Error) => void;
  /** Default: a new resolver with its own cache. */
  owners?: OwnerResolver;
  /** First delay before retrying a failed watch, doubled up to maxRetryDelayMs; default 1000. */
  retryDelayMs?: number;
  /** Default 30000. */
  maxRetryDelayMs?: number;
}

export interface PodWatch {
  /** The node watched; undefined for a cluster-wide watch. */
  readonly node: string | undefined;
  readonly owners: OwnerResolver;
  /** The pods watched, by uid (empty when keepPods is false). */
  pods(): ReadonlyMap<string, V1Pod>;
  get(uid: string): V1Pod | undefined;
  ownerOf(uid: string): WorkloadOwner | undefined;
  /** Adds a listener for changes from now on; returns a function that removes it. */
  onChange(listener: PodListener): () => void;
  stop(): Promise<void>;
}

/**
 * Starts watching the pods on `node` (every pod without one) and resolves once the first list has
 * been processed (so pods() is complete and listeners have seen every pod). Rejects with the
 * SeccomposeError of the first list or watch request if it fails (SC_K8S_FORBIDDEN,
 * SC_K8S_UNREACHABLE, ...).
 */
export async function watchPods(kube: Kube, opts: PodWatchOptions): Promise<PodWatch> {
  const fieldSelector = opts.node === undefined ? undefined : `spec.nodeName=${opts.node}`;
  const keep = opts.keepPods ?? true;
  const owners = opts.owners ?? createOwnerResolver(kube);
  const baseDelay = opts.retryDelayMs ?? 1000;
  const maxDelay = opts.maxRetryDelayMs ?? 30_000;
  const pods = new Map<string, V1Pod>();
  const ownerByUid = new Map<string, WorkloadOwner>();
  const listeners = new Set<PodListener>(opts.onChange ? [opts.onChange] : []);
  let queue: Promise<void> = Promise.resolve();
  let syncing = true;
  let firstError: SeccomposeError | undefined;
  let stopped = false;
  let delay = baseDelay;
  let retryTimer: NodeJS.Timeout | undefined;

  const report = (err: Error): void => {
    if (opts.onError) opts.onError(err);
  };
  const emit = (event: PodWatchEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  };
  const resolve = async (pod: V1Pod): Promise<WorkloadOwner> => {
    try {
      return await owners.resolve(pod);
    } catch (err) {
      report(err as Error);
      return immediateOwner(pod);
    }
  };
  const apply = async (type: PodChange, pod: V1Pod): Promise<void> => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    if (type === "deleted") {
      // Without kept owners the resolver's cache answers, with no request in the usual case.
      const owner = ownerByUid.get(uid) ?? (keep ? immediateOwner(pod) : await resolve(pod));
      pods.delete(uid);
      ownerByUid.delete(uid);
      emit({ type, pod, owner });
      return;
    }
    const owner = await resolve(pod);
    if (keep) {
      pods.set(uid, pod);
      ownerByUid.set(uid, owner);
    }
    emit({ type, pod, owner });
  };
  const enqueue = (type: PodChange) => (pod: V1Pod) => {
    delay = baseDelay;
    queue = queue.then(() => apply(type, pod));
  };

  const informer = new ListWatch<V1Pod>(
    "/api/v1/pods",
    new Watch(kube.config),
    () => kube.core.listPodForAllNamespaces(fieldSelector === undefined ? {} : { fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on("add", enqueue("added"));
  informer.on("update", enqueue("modified"));
  informer.on("delete", enqueue("deleted"));
  informer.on("error", (raw: unknown) => {
    const resource = opts.node === undefined ? "pods" : `pods on node "${opts.node}"`;
    const err = kubeError(raw, { verb: "watch", resource }, kube.server);
    if (syncing) {
      firstError ??= err;
      return;
    }
    if (stopped) return;
    report(err);
    // The informer stops on an error; start it again, later each time while failures repeat.
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (!stopped) void informer.start();
    }, delay);
    delay = Math.min(delay * 2, maxDelay);
  });

  await informer.start();
  await queue;
  syncing = false;
  if (firstError) {
    stopped = true;
    await informer.stop();
    throw firstError;
  }

  return {
    node: opts.node,
    owners,
    pods: () => pods,
    get: (uid) => pods.get(uid),
    ownerOf: (uid) => ownerByUid.get(uid),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      await informer.stop();
      await queue;
      listeners.clear();
    },
  };
}
