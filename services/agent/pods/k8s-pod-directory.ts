import type { Kube } from "../../../lib/k8s/client.ts";
import { watchPods, type PodWatch } from "../../../lib/k8s/pod-watch.ts";
import type { PodDirectory, PodInfo } from "../ports.ts";
import { podInfoFromK8sPod } from "./k8s-pod.ts";

/**
 * The pods of this node from the agent's own watch of the Kubernetes API (fieldSelector
 * spec.nodeName), with each pod's workload owner resolved (ReplicaSet → Deployment, Job → CronJob).
 */
export class KubernetesPodDirectory implements PodDirectory {
  readonly #watch: PodWatch;
  // PodInfo per uid, rebuilt only when the pod's resourceVersion changes.
  readonly #cache = new Map<string, { version: string | undefined; info: PodInfo | undefined }>();

  private constructor(watch: PodWatch) {
    this.#watch = watch;
  }

  static async open(
    kube: Kube,
    node: string,
    onError: (err: Error) => void,
  ): Promise<KubernetesPodDirectory> {
    return new KubernetesPodDirectory(await watchPods(kube, { node, onError }));
  }

  byUid(uid: string): PodInfo | undefined {
    const pod = this.#watch.get(uid);
    if (pod === undefined) return undefined;
    const version = pod.metadata?.resourceVersion;
    const cached = this.#cache.get(uid);
    if (cached && cached.version === version) return cached.info;
    const info = podInfoFromK8sPod(pod, (kind, ns, name) => this.#watch.owners.lookup(kind, ns, name));
    const resolved = this.#watch.ownerOf(uid);
    const withOwner =
      info && resolved ? { ...info, owner: { kind: resolved.kind, name: resolved.name } } : info;
    this.#cache.set(uid, { version, info: withOwner });
    return withOwner;
  }

  onChange(listener: () => void): void {
    this.#watch.onChange((event) => {
      if (event.type === "deleted") this.#cache.delete(event.pod.metadata?.uid ?? "");
      listener();
    });
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }
}
