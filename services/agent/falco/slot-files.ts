/**
 * The Falco files of the two slots (falco.yaml with seccompose_rules.yaml, falco-b.yaml with
 * seccompose_rules-b.yaml; a swap starts its second Falco on the other slot's) for a set of
 * targets: rendered with the agent's options and what the installed Falco supports, and written
 * with the pod threads running just before a Falco starts on them (pod-threads.ts). The threads
 * each slot listed tell where an alert of a thread Falco did not know comes from.
 */
import { mkdir } from "node:fs/promises";
import { writeFileAtomic } from "../../../lib/atomic-file.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { syscallToFalcoEvent } from "../../../lib/falco/event-names.ts";
import type { FalcoTargets } from "../ports.ts";
import {
  NO_METADATA_FIELDS,
  renderFalcoFiles,
  type AlertFormat,
  type FalcoConfigOptions,
  type FalcoFiles,
  type FalcoPlugin,
  type FalcoSlot,
  type FieldSupport,
  type SyscallPartition,
} from "./config-writer.ts";
import { podThreads, type ThreadOrigin, type ThreadOriginLookup } from "./pod-threads.ts";

type ListedThreads = ReadonlyMap<number, ThreadOrigin>;

export interface SlotFilesOptions {
  configDir: string;
  alertFormat: AlertFormat;
  /** Where the probe rule looks for the agent's capture probes (capture-probes.ts). */
  probePrefix: string;
  /** The host's /proc, where pod threads are listed. */
  procRoot: string;
  plugins?: readonly FalcoPlugin[];
  webserverPort?: number;
  outputsQueueCapacity?: number;
  narrowToNamespaces?: boolean;
  /** The agent's own pod, never in the rule: its reading of Falco's output would feed itself. */
  ownPodUid?: string;
  partition?: SyscallPartition;
}

export class SlotFiles {
  /** What `falco --list` reported of the installed Falco; no container or k8s fields until then. */
  fieldSupport: FieldSupport = NO_METADATA_FIELDS;
  /** Where a pod thread listed for either slot comes from. */
  readonly threadOrigins: ThreadOriginLookup;
  readonly #o: SlotFilesOptions;
  /**
   * Per slot, the pod threads listed in its last two renderings: a Falco goes on with the
   * previous list until its reload has taken the new one.
   */
  readonly #listedThreads: Record<FalcoSlot, { current: ListedThreads; previous: ListedThreads }> = {
    a: { current: new Map(), previous: new Map() },
    b: { current: new Map(), previous: new Map() },
  };

  constructor(options: SlotFilesOptions) {
    this.#o = options;
    this.threadOrigins = (tid) =>
      this.#listedThreads.a.current.get(tid) ??
      this.#listedThreads.b.current.get(tid) ??
      this.#listedThreads.a.previous.get(tid) ??
      this.#listedThreads.b.previous.get(tid) ??
      null;
  }

  /** The rendering for `targets`, independent of the slot: what identifies a configuration. */
  signature(targets: FalcoTargets): string {
    const files = this.render("a", targets);
    return `${files.config}\n---\n${files.rules}`;
  }

  render(slot: FalcoSlot, targets: FalcoTargets, unknownPodThreads?: readonly number[]): FalcoFiles {
    const o = this.#o;
    const options: FalcoConfigOptions = {
      configDir: o.configDir,
      alertFormat: o.alertFormat,
      fieldSupport: this.fieldSupport,
      probePrefix: o.probePrefix,
      slot,
    };
    if (o.plugins !== undefined) options.plugins = o.plugins;
    if (o.webserverPort !== undefined) options.webserverPort = o.webserverPort;
    if (o.outputsQueueCapacity !== undefined) options.outputsQueueCapacity = o.outputsQueueCapacity;
    if (o.narrowToNamespaces !== undefined) options.narrowToNamespaces = o.narrowToNamespaces;
    if (o.partition !== undefined) options.partition = o.partition;
    options.excludePodUids = this.#excludedPods(targets);
    if (unknownPodThreads !== undefined) options.unknownPodThreads = unknownPodThreads;
    if (targets.excludeSyscalls !== undefined)
      options.excludeSyscalls = targets.excludeSyscalls.map(syscallToFalcoEvent);
    return renderFalcoFiles(targets.sessions, options);
  }

  /**
   * Writes the slot's pair of files for `targets` (rules first: falco.yaml names them), with the
   * pod threads running now, which the Falco about to start may not know.
   */
  async write(slot: FalcoSlot, targets: FalcoTargets): Promise<FalcoFiles> {
    const threads = podThreads(this.#o.procRoot, this.#excludedPods(targets));
    const listed = this.#listedThreads[slot];
    listed.previous = listed.current;
    listed.current = threads;
    const files = this.render(slot, targets, [...threads.keys()]);
    try {
      await mkdir(this.#o.configDir, { recursive: true });
      await writeFileAtomic(files.rulesPath, files.rules);
      await writeFileAtomic(files.configPath, files.config);
    } catch (err) {
      throw new SeccomposeError(
        ErrorCodes.SC_FILE_WRITE,
        `cannot write the Falco configuration in ${this.#o.configDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return files;
  }

  #excludedPods(targets: FalcoTargets): string[] {
    const own = this.#o.ownPodUid;
    const excluded = targets.excludePodUids ?? [];
    return own === undefined || own === "" ? [...excluded] : [...excluded, own];
  }
}
