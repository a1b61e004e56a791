/**
 * A node speaks only about its own pods. Every workload entry of a batch names its pod (podUid)
 * and container (containerId); from its own cluster-wide, read-only watch of pods the aggregator
 * accepts the entry only if that pod ran on the sending node during the session, the entry's
 * namespace, kind and name are that pod's workload, and its container is one of the pod's.
 *
 * `PodHistory` is that knowledge, with no I/O: every pod seen, by uid, with its node, workload,
 * container names and every container id seen, kept after the pod is deleted (with the time) so
 * that data of a pod that ended during the session still counts. Memory is bounded: deleted pods
 * beyond `maxEndedPods` are forgotten oldest first, and live pods beyond what Kubernetes supports
 * in one cluster are not recorded. The watch lags behind the kubelets, so an entry naming a pod
 * (or a container id) not seen yet gets a `wait` verdict: the session state holds it for a bounded
 * time and asks again. `startPodOwnership` wires the history to the Kubernetes API when there is one.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AggregatorConfig, OwnershipRefusalCounts, WorkloadEvents } from "../../lib/contracts/types.ts";
import { loadKube } from "../../lib/k8s/client.ts";
import { immediateOwner, type WorkloadOwner } from "../../lib/k8s/owner.ts";
import { podContainerIds, podContainerNames } from "../../lib/k8s/pod-containers.ts";
import { watchPods, type PodWatch, type PodWatchEvent } from "../../lib/k8s/pod-watch.ts";

export type OwnershipRefusal = keyof OwnershipRefusalCounts;

/** accept; refuse (for good); or wait for the watch, refusing with `wait` as reason once the wait is over. */
export type OwnershipVerdict =
  { readonly accept: true } | { readonly refuse: OwnershipRefusal } | { readonly wait: OwnershipRefusal };

/** What the session state asks; PodHistory answers it. */
export interface OwnershipCheck {
  /**
   * The verdict on `entry` from `node` in a session created at `sessionStart` (milliseconds, the
   * clock `observe` was given).
   */
  verdict(node: string, entry: WorkloadEvents, sessionStart: number): OwnershipVerdict;
}

export function noOwnershipRefusals(): OwnershipRefusalCounts {
  return {
    noPodUid: 0,
    podUnknown: 0,
    podElsewhere: 0,
    ownerMismatch: 0,
    containerMismatch: 0,
    ownershipWaitOverflow: 0,
  };
}

export const OWNERSHIP_REFUSALS = Object.keys(noOwnershipRefusals()) as readonly OwnershipRefusal[];

// Verdicts are constants: the check runs for every entry of every batch and allocates nothing.
export const ACCEPT: OwnershipVerdict = Object.freeze({ accept: true });
const REFUSE = Object.fromEntries(OWNERSHIP_REFUSALS.map((r) => [r, Object.freeze({ refuse: r })])) as Record<
  OwnershipRefusal,
  OwnershipVerdict
>;
const WAIT = Object.fromEntries(OWNERSHIP_REFUSALS.map((r) => [r, Object.freeze({ wait: r })])) as Record<
  OwnershipRefusal,
  OwnershipVerdict
>;

/** Kubernetes supports up to 150,000 pods per cluster; more live pods than this are not recorded. */
export const MAX_LIVE_PODS = 200_000;
/** Container ids kept per pod (each restart adds one); the oldest are forgotten first. */
const MAX_CONTAINER_IDS_PER_POD = 64;
export const DEFAULT_MAX_ENDED_PODS = 10_000;

interface PodRecord {
  readonly namespace: string;
  /** spec.nodeName; undefined until the pod is scheduled (it never changes after). */
  node: string | undefined;
  /**
   * Workloads an agent may name for this pod: the resolved owner (a ReplicaSet's Deployment, a
   * Job's CronJob), and the direct controller, which is what an agent (or this aggregator) falls
   * back to when the owner lookup fails.
   */
  owners: WorkloadOwner[];
  /** Container names of the spec (ephemeral containers can be added later). */
  readonly names: Set<string>;
  /** Every container id seen for the pod → its container name. */
  readonly ids: Map<string, string>;
  /** Aggregator clock when the deletion was seen. */
  endedAt: number | undefined;
}

export interface PodHistoryOptions {
  maxEndedPods?: number;
  maxLivePods?: number;
}

export class PodHistory implements OwnershipCheck {
  readonly #pods = new Map<string, PodRecord>();
  /** Uids of deleted pods, in the order they ended. */
  readonly #ended = new Set<string>();
  readonly #maxEnded: number;
  readonly #maxLive: number;

  constructor(opts: PodHistoryOptions = {}) {
    this.#maxEnded = opts.maxEndedPods ?? DEFAULT_MAX_ENDED_PODS;
    this.#maxLive = opts.maxLivePods ?? MAX_LIVE_PODS;
  }

  /** Pods known, live and ended. */
  get size(): number {
    return this.#pods.size;
  }

  get endedPods(): number {
    return this.#ended.size;
  }

  /**
   * Records one change from the pod watch at aggregator time `now`. False when a new live pod was
   * not recorded because MAX_LIVE_PODS are live already.
   */
  observe(event: PodWatchEvent, now: number): boolean {
    const pod = event.pod;
    const uid = pod.metadata?.uid;
    if (!uid) return true;
    let rec = this.#pods.get(uid);
    if (rec === undefined) {
      if (event.type !== "deleted" && this.#pods.size - this.#ended.size >= this.#maxLive) return false;
      rec = {
        namespace: pod.metadata?.namespace ?? "default",
        node: undefined,
        owners: [],
        names: new Set(),
        ids: new Map(),
        endedAt: undefined,
      };
      this.#pods.set(uid, rec);
    }
    update(rec, pod, event.owner);
    if (event.type === "deleted" && rec.endedAt === undefined) {
      rec.endedAt = now;
      this.#ended.add(uid);
      for (const old of this.#ended) {
        if (this.#ended.size <= this.#maxEnded) break;
        this.#ended.delete(old);
        this.#pods.delete(old);
      }
    }
    return true;
  }

  verdict(node: string, entry: WorkloadEvents, sessionStart: number): OwnershipVerdict {
    const uid = entry.podUid;
    if (uid === undefined || uid === "") return REFUSE.noPodUid;
    const pod = this.#pods.get(uid);
    if (pod === undefined) return WAIT.podUnknown;
    const ended = pod.endedAt !== undefined;
    if (ended && pod.endedAt! < sessionStart) return REFUSE.podUnknown;
    // A pod not scheduled yet may be bound to the sender in a moment; a deleted one never will.
    if (pod.node === undefined) return ended ? REFUSE.podElsewhere : WAIT.podElsewhere;
    if (pod.node !== node) return REFUSE.podElsewhere;
    const key = entry.workload;
    if (
      key.namespace !== pod.namespace ||
      !pod.owners.some((o) => o.kind === key.kind && o.name === key.name)
    ) {
      return REFUSE.ownerMismatch;
    }
    const id = entry.containerId;
    if (id === undefined || id === "") {
      return pod.names.has(key.container) ? ACCEPT : REFUSE.containerMismatch;
    }
    const name = pod.ids.get(id);
    // A container (re)started a moment ago: its id reaches the watch with the pod's next status.
    if (name === undefined) return ended ? REFUSE.containerMismatch : WAIT.containerMismatch;
    return name === key.container ? ACCEPT : REFUSE.containerMismatch;
  }
}

function update(rec: PodRecord, pod: V1Pod, owner: WorkloadOwner): void {
  rec.node ??= pod.spec?.nodeName || undefined;
  const direct = immediateOwner(pod);
  rec.owners = direct.kind === owner.kind && direct.name === owner.name ? [owner] : [owner, direct];
  for (const name of podContainerNames(pod)) rec.names.add(name);
  for (const [id, name] of podContainerIds(pod, { previous: true })) {
    rec.ids.delete(id);
    rec.ids.set(id, name);
  }
  for (const id of rec.ids.keys()) {
    if (rec.ids.size <= MAX_CONTAINER_IDS_PER_POD) break;
    rec.ids.delete(id);
  }
}

/** The check as configured: on with its history, or off with the reason status gives. */
export interface PodOwnership {
  /** The pod history the session state consults; undefined when the check is off. */
  readonly check: PodHistory | undefined;
  /** Why the check is off; undefined when it is on. */
  readonly offReason: string | undefined;
  /** Called after every pod change recorded, until the returned function is called. */
  onChange(listener: () => void): () => void;
  stop(): Promise<void>;
}

export interface PodOwnershipOptions {
  config: Pick<AggregatorConfig, "podOwnership" | "kubeconfig" | "limits">;
  env: NodeJS.ProcessEnv;
  clock: () => number;
  logger: Logger;
}

function off(reason: string): PodOwnership {
  return { check: undefined, offReason: reason, onChange: () => () => {}, stop: async () => {} };
}

/**
 * Starts the cluster-wide pod watch when the configuration asks for the check (see
 * `podOwnership` in schemas/aggregator-config.schema.json) and resolves once every pod of the
 * cluster is in the history, so the first batches are checked against a complete picture.
 * Rejects (required mode) when the API cannot be used; in auto mode that turns the check off.
 */
export async function startPodOwnership(o: PodOwnershipOptions): Promise<PodOwnership> {
  const mode = o.config.podOwnership ?? "auto";
  if (mode === "off") return off("podOwnership is off in the configuration");
  const kubeconfig = o.config.kubeconfig;
  if (mode === "auto" && kubeconfig === undefined && !o.env.KUBERNETES_SERVICE_HOST) {
    return off("no Kubernetes API: no kubeconfig is configured and the aggregator does not run in a pod");
  }
  const history = new PodHistory({ maxEndedPods: o.config.limits?.maxEndedPods });
  const listeners = new Set<() => void>();
  let full = false;
  let watch: PodWatch;
  try {
    const kube = loadKube(kubeconfig !== undefined ? { kubeconfig } : {});
    watch = await watchPods(kube, {
      keepPods: false,
      onChange: (event) => {
        if (!history.observe(event, o.clock())) {
          if (!full)
            o.logger.error({ maxLivePods: MAX_LIVE_PODS }, "pod history full; new pods are not recorded");
          full = true;
          return;
        }
        for (const listener of listeners) listener();
      },
      onError: (err) => o.logger.warn({ err }, "pod watch failed; retrying"),
    });
  } catch (err) {
    if (mode === "required") throw err;
    const reason = `the Kubernetes API could not be used: ${(err as Error).message}`;
    o.logger.error({ err }, `pod ownership not checked: ${reason}`);
    return off(reason);
  }
  o.logger.info({ pods: history.size }, "pod ownership checked against the cluster's pods");
  return {
    check: history,
    offReason: undefined,
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => watch.stop(),
  };
}
