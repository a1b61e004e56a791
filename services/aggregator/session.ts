/**
 * One session's bookkeeping in the aggregator (message-merge.ts merges into it): its record, the
 * nodes that sent data and which batches of theirs were merged, its workloads' observations, the
 * messages held until the node set is written, the entries waiting for the pod watch, what was
 * refused, and what was published once it was finalised.
 */
import type {
  EventMessage,
  OwnershipRefusalCounts,
  RefusalCounts,
  SessionRecord,
  StreamLoss,
  SyscallEventBatch,
  WorkloadEvents,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import type { WorkloadObservations } from "../../lib/profile/observations.ts";
import type { ContinuousTrack } from "./continuous.ts";
import { noOwnershipRefusals, type OwnershipRefusal } from "./pod-ownership.ts";
import { SeqSet } from "./seq-set.ts";

/** Why a whole message was refused. */
export type Refusal = Exclude<keyof RefusalCounts, "unknownSyscall" | "overLimit" | OwnershipRefusal>;

export function noRefusals(): RefusalCounts {
  return {
    unknownSession: 0,
    foreignNode: 0,
    noNodeSet: 0,
    heldOverflow: 0,
    implausible: 0,
    unknownSyscall: 0,
    overLimit: 0,
    ...noOwnershipRefusals(),
  };
}

export interface Gap {
  from: number;
  to: number;
  reason?: string;
}

export interface NodeState {
  readonly name: string;
  /** uname -m of the node; undefined until its first batch. */
  arch: string | undefined;
  droppedEvents: number;
  readonly seqs: SeqSet;
  /** Batches the node says it sent (its FIN); undefined until the FIN is merged. */
  finBatches: number | undefined;
  events: number;
  /** sentAt of the newest batch or FIN, milliseconds since the epoch. */
  lastEventAt: number | undefined;
  /** Ids of the workloads this node reported. */
  readonly workloads: Set<string>;
  /** Count entries this node added. */
  tuples: number;
  /** Events refused (unknown names, limits). */
  refusedEvents: number;
  /** A limit cut this node's data: the result cannot be complete. */
  limited: boolean;
  /** From the node's FIN: when it recorded nothing although the session ran. */
  readonly gaps: Gap[];
  /** Workload entries of this node refused by the pod ownership check. */
  readonly ownershipRefused: OwnershipRefusalCounts;
  /** Events of this node's workload entries waiting for the pod watch. */
  waitingEvents: number;
  /** Container id → its contributor key (see `contributorKey`), one string per container; bounded. */
  readonly contributors: Map<string, string>;
}

/** What merging an entry needs of its batch; `sentAt` is absent in waiting entries of older checkpoints. */
export type BatchContext = Pick<SyscallEventBatch, "node" | "arch" | "droppedEvents"> & { sentAt?: number };

/** A workload entry waiting for the pod watch to see its pod (or container). */
export interface WaitingEntry extends BatchContext {
  /** The session's start, for the check. */
  sessionStart: number;
  /** Aggregator clock when it began to wait. */
  since: number;
  entry: WorkloadEvents;
}

/** A workload entry the pod ownership check refused, for the log. */
export interface EntryRefusal {
  reason: OwnershipRefusal;
  workload: WorkloadKey;
  pod: string | undefined;
  podUid: string | undefined;
}

export interface WorkloadState {
  readonly id: string;
  readonly token: string;
  readonly observations: WorkloadObservations;
  readonly track: ContinuousTrack;
}

export interface FinalisedWorkload {
  workload: WorkloadKey;
  token: string;
  revision: number;
  syscalls: number;
  /** Revision of the newest document with late data (stored under `<key>.rev.<n>`), once published. */
  lateRevision?: number;
  /** Frozen when the session was finalised. */
  frozen?: boolean;
  /** Drift entries not taken into the profile at finalisation (its drift report lists them). */
  drifted?: number;
}

/** Data that came after finalisation for one workload: published as a new revision, never merged into the final one. */
export interface LateWorkload {
  readonly id: string;
  readonly token: string;
  readonly observations: WorkloadObservations;
  /** Bumped by every merge that changed something; published up to `publishedVersion`. */
  version: number;
  publishedVersion: number;
  /** Late revisions published so far. */
  published: number;
}

export interface FinalisedSession {
  status: "complete" | "partial";
  missingNodes: string[];
  at: number;
  /** What was published; the observations themselves are released once a session is final. */
  workloads: FinalisedWorkload[];
}

export class SessionState {
  readonly id: string;
  record: SessionRecord | undefined;
  readonly nodes = new Map<string, NodeState>();
  readonly workloads = new Map<string, WorkloadState>();
  batches = 0;
  events = 0;
  /** New batches that arrived after the session was finalised: merged into `late`, published as new revisions. */
  lateBatches = 0;
  readonly late = new Map<string, LateWorkload>();
  /** Aggregator clock of the last late merge. */
  lastLateAt = 0;
  lastEventAt: number | undefined;
  finalised: FinalisedSession | undefined;
  /** Count entries in this session's observations. */
  tuples = 0;
  readonly refused = noRefusals();
  /** Nodes outside the node set that sent data (bounded). */
  readonly foreignNodes = new Set<string>();
  /** Messages that came before the node set was written, per node, in arrival order. */
  readonly held = new Map<string, EventMessage[]>();
  /** Stream ranges discarded before they were consumed while this session accepted data. */
  readonly streamLoss: StreamLoss[] = [];
  /** Workload entries waiting for the pod watch, in arrival order. */
  waiting: WaitingEntry[] = [];

  constructor(id: string) {
    this.id = id;
  }

  get heldMessages(): number {
    let n = 0;
    for (const h of this.held.values()) n += h.length;
    return n;
  }

  get mode(): SessionRecord["mode"] {
    return this.record?.mode ?? "oneshot";
  }

  get argSyscalls(): readonly string[] {
    return this.record?.profile.argSyscalls ?? [];
  }

  /** The session record's node set, sorted: only these nodes' data counts. */
  participatingNodes(): string[] {
    return [...new Set(this.record?.expectedNodes ?? [])].sort();
  }

  /** A node is complete once its FIN is merged together with every batch 1..N it announces. */
  isNodeComplete(name: string): boolean {
    const node = this.nodes.get(name);
    return node?.finBatches !== undefined && node.seqs.coversPrefix(node.finBatches);
  }

  incompleteNodes(): string[] {
    return this.participatingNodes().filter((n) => !this.isNodeComplete(n));
  }

  node(name: string): NodeState {
    let node = this.nodes.get(name);
    if (node === undefined) {
      node = {
        name,
        arch: undefined,
        droppedEvents: 0,
        seqs: new SeqSet(),
        finBatches: undefined,
        events: 0,
        lastEventAt: undefined,
        workloads: new Set(),
        tuples: 0,
        refusedEvents: 0,
        limited: false,
        gaps: [],
        ownershipRefused: noOwnershipRefusals(),
        waitingEvents: 0,
        contributors: new Map(),
      };
      this.nodes.set(name, node);
    }
    return node;
  }
}

/** Only the fields of a key, in schema order: agents may send them in any order, documents must not vary. */
export function canonicalKey(key: WorkloadKey): WorkloadKey {
  return { namespace: key.namespace, kind: key.kind, name: key.name, container: key.container };
}
