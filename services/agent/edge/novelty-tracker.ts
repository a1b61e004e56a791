/**
 * Edge aggregation for one session: per container, the (syscall, argument tuple) pairs seen, with
 * cumulative counts and first-seen times, and which of them changed since they were last sent.
 *
 * `record` runs once per Falco alert, so the state is laid out for it: syscall names are interned
 * to small ids, each container maps a syscall id to a tuple number through an Int32Array, and the
 * per-tuple numbers live in typed-array columns. Recording a known argument-less tuple is a few
 * array reads and writes and allocates nothing. The columns grow by fixed-size chunks that are
 * never reallocated, so a million tuples cost about 35 bytes each and leave no freed buffers
 * behind. Changed tuples are remembered in a queue, so a drain costs what changed, not what is
 * known; a drain groups them by container, so each container's events travel together.
 *
 * Traffic follows novelty, not activity: a new tuple (or an earlier first-seen time) is queued at
 * once, but a count update only when the count reaches the next power of two above the count
 * last sent. Other count changes only mark the tuple stale, and `queueStaleCounts` (called for the
 * final flush at stop) sends those exact counts. Counts merge downstream as per-node maxima, so
 * skipped intermediate counts change nothing but the pace, and a busy node whose workloads do
 * nothing new sends almost nothing (bench/agent-traffic.bench.ts).
 */
import type { SyscallEvent, WorkloadEvents, WorkloadKey } from "../../../lib/contracts/types.ts";
import { ObservationSet } from "../../../lib/profile/observations.ts";
import { workloadId } from "../../../lib/profile/workload-key.ts";

/** Where a container runs, carried in every batch entry of it. */
export interface ContainerMeta {
  pod: string;
  podUid: string;
  containerId: string;
}

/**
 * One tuple in a snapshot: name, argument values (null: not recorded), cumulative count, first
 * seen (ms), and whether that count was already drained into a batch.
 */
export type TupleRecord = [
  name: string,
  args: string[] | null,
  count: number,
  firstSeen: number,
  sent: boolean,
];

export interface ContainerSnapshot {
  key: string;
  workload: WorkloadKey;
  meta: ContainerMeta;
  tuples: TupleRecord[];
}

/** Limits of one WorkloadEvents entry and of one batch (schemas/event-message.schema.json). */
export const MAX_SYSCALLS_PER_ENTRY = 4096;
export const MAX_ENTRIES_PER_BATCH = 10_000;

interface ContainerState {
  readonly index: number;
  readonly key: string;
  readonly workload: WorkloadKey;
  readonly meta: ContainerMeta;
  /** Tuple number + 1 of the argument-less tuple of each syscall id; 0 when not seen. */
  slots: Int32Array;
  /** Tuples with recorded argument values, keyed by `<syscall id>:<values>`. */
  argTuples: Map<string, number> | undefined;
}

/** The columns of CHUNK_SIZE consecutive tuples. */
interface TupleChunk {
  readonly count: Float64Array;
  /** Milliseconds since the epoch. */
  readonly firstSeen: Float64Array;
  readonly syscall: Uint32Array;
  readonly container: Uint32Array;
  /**
   * QUEUED while the tuple waits in the change queue or the staged drain (it has news), STALE when
   * its count changed since it was last drained but no update is due yet, CLEAN otherwise.
   */
  readonly queued: Uint8Array;
  /** The count's next update is due when it reaches 2 ** nextReportExp. */
  readonly nextReportExp: Uint8Array;
}

const CLEAN = 0;
const QUEUED = 1;
const STALE = 2;
const POW2 = Float64Array.from({ length: 64 }, (_, e) => 2 ** e);

/** The exponent of the first power of two above `count` (0 for 0). */
function reportExp(count: number): number {
  return count < 0x80000000 ? 32 - Math.clz32(count) : Math.floor(Math.log2(count)) + 1;
}

const CHUNK_BITS = 14;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;
const INITIAL_SLOTS = 64;

export class NoveltyTracker {
  readonly #nonReturning: readonly string[];
  readonly #syscallIds = new Map<string, number>();
  readonly #syscallNames: string[] = [];
  readonly #containers = new Map<string, ContainerState>();
  readonly #containerList: ContainerState[] = [];

  #size = 0;
  readonly #chunks: TupleChunk[] = [];
  readonly #args = new Map<number, readonly string[]>();

  // Tuples changed since they were last staged for a drain, each at most once, in chunks that
  // are kept for reuse once staged.
  readonly #queueChunks: Int32Array[] = [];
  #queueLength = 0;
  // The tuples being drained, ordered by container; drains take from it until it is used up.
  #staged = new Int32Array(0);
  #stagedAt = 0;

  #recorded = 0;

  /**
   * @param nonReturning syscalls added to every container as soon as it is seen (see `record`).
   */
  constructor(nonReturning: readonly string[]) {
    this.#nonReturning = nonReturning;
  }

  get containerCount(): number {
    return this.#containers.size;
  }

  get tupleCount(): number {
    return this.#size;
  }

  /** Tuples queued for the next drain (stale counts are not, until `queueStaleCounts`). */
  get pendingCount(): number {
    return this.#queueLength + this.#staged.length - this.#stagedAt;
  }

  /** Calls recorded since this tracker was created or restored. */
  get recordedCount(): number {
    return this.#recorded;
  }

  /**
   * Books one call. `workload` and `meta` are only read the first time `containerKey` is seen.
   * `args` undefined means the call's arguments were not recorded (the syscall then cannot be
   * restricted by argument downstream).
   */
  record(
    containerKey: string,
    workload: WorkloadKey,
    meta: ContainerMeta,
    syscall: string,
    args: readonly string[] | undefined,
    timeMs: number,
  ): void {
    const container =
      this.#containers.get(containerKey) ?? this.#addContainer(containerKey, workload, meta, timeMs);
    const tuple = this.#tupleOf(
      container,
      this.#syscallIds.get(syscall) ?? this.#intern(syscall),
      args,
      timeMs,
    );
    const chunk = this.#chunks[tuple >>> CHUNK_BITS]!;
    const i = tuple & CHUNK_MASK;
    const count = ++chunk.count[i]!;
    if (chunk.queued[i] !== QUEUED) {
      if (timeMs < chunk.firstSeen[i]! || count >= POW2[chunk.nextReportExp[i]!]!)
        this.#enqueue(tuple, chunk, i);
      else chunk.queued[i] = STALE;
    }
    if (timeMs < chunk.firstSeen[i]!) chunk.firstSeen[i] = timeMs;
    this.#recorded++;
  }

  /**
   * Queues every tuple whose count changed since it was last drained but was not due yet, so that
   * the next drains carry exact counts (the final flush of a session). Returns how many.
   */
  queueStaleCounts(): number {
    let queued = 0;
    for (let t = 0; t < this.#size; t++) {
      const chunk = this.#chunks[t >>> CHUNK_BITS]!;
      const i = t & CHUNK_MASK;
      if (chunk.queued[i] === STALE) {
        this.#enqueue(t, chunk, i);
        queued++;
      }
    }
    return queued;
  }

  /**
   * The tuples that are new or whose count changed since they were last drained, with their
   * cumulative counts, grouped by container: at most `maxEvents` events, at most
   * MAX_SYSCALLS_PER_ENTRY per entry and MAX_ENTRIES_PER_BATCH entries. What does not fit stays
   * for the next drain. Draining marks the returned counts as sent.
   */
  drain(maxEvents: number): WorkloadEvents[] {
    const entries: WorkloadEvents[] = [];
    let entry: WorkloadEvents | undefined;
    let entryContainer = -1;
    let events = 0;
    while (events < maxEvents) {
      if (this.#stagedAt === this.#staged.length) {
        if (this.#queueLength === 0) break;
        this.#stage();
      }
      const tuple = this.#staged[this.#stagedAt]!;
      const chunk = this.#chunks[tuple >>> CHUNK_BITS]!;
      const i = tuple & CHUNK_MASK;
      const containerIndex = chunk.container[i]!;
      if (
        entry === undefined ||
        containerIndex !== entryContainer ||
        entry.syscalls.length >= MAX_SYSCALLS_PER_ENTRY
      ) {
        if (entries.length >= MAX_ENTRIES_PER_BATCH) break;
        const container = this.#containerList[containerIndex]!;
        entry = { workload: { ...container.workload }, ...container.meta, syscalls: [] };
        entryContainer = containerIndex;
        entries.push(entry);
      }
      this.#stagedAt++;
      chunk.queued[i] = CLEAN;
      chunk.nextReportExp[i] = reportExp(chunk.count[i]!);
      entry.syscalls.push(this.#event(tuple));
      events++;
    }
    return entries;
  }

  /**
   * The whole state as JSON text, in pieces of about one container each, so that a large state
   * can be written out without building one huge string: a JSON array of ContainerSnapshot.
   * Only what exists when it starts is included, so calls recorded meanwhile do no harm.
   */
  *snapshotJson(): Generator<string> {
    const containers = this.#containerList.length;
    const byContainer: number[][] = Array.from({ length: containers }, () => []);
    for (let t = 0; t < this.#size; t++)
      byContainer[this.#chunks[t >>> CHUNK_BITS]!.container[t & CHUNK_MASK]!]!.push(t);
    yield "[";
    for (let c = 0; c < containers; c++) {
      const container = this.#containerList[c]!;
      const tuples: TupleRecord[] = byContainer[c]!.map((t) => {
        const chunk = this.#chunks[t >>> CHUNK_BITS]!;
        const i = t & CHUNK_MASK;
        const args = this.#args.get(t);
        return [
          this.#syscallNames[chunk.syscall[i]!]!,
          args === undefined ? null : [...args],
          chunk.count[i]!,
          chunk.firstSeen[i]!,
          chunk.queued[i] === CLEAN,
        ];
      });
      const snapshot: ContainerSnapshot = {
        key: container.key,
        workload: container.workload,
        meta: container.meta,
        tuples,
      };
      yield (c === 0 ? "" : ",") + JSON.stringify(snapshot);
    }
    yield "]";
  }

  /** Loads a snapshot into an empty tracker; tuples whose exact count was not sent are queued again. */
  restore(containers: readonly ContainerSnapshot[]): void {
    if (this.#size > 0 || this.#containers.size > 0) throw new Error("restore() needs an empty tracker");
    for (const c of containers) {
      const container = this.#newContainer(c.key, c.workload, c.meta);
      for (const [name, args, count, firstSeen, sent] of c.tuples) {
        const tuple = this.#tupleOf(
          container,
          this.#syscallIds.get(name) ?? this.#intern(name),
          args ?? undefined,
          firstSeen,
        );
        const chunk = this.#chunks[tuple >>> CHUNK_BITS]!;
        const i = tuple & CHUNK_MASK;
        chunk.count[i] = count;
        if (!sent) {
          if (chunk.queued[i] !== QUEUED) this.#enqueue(tuple, chunk, i);
        } else if (chunk.queued[i] === CLEAN) chunk.nextReportExp[i] = reportExp(count);
      }
    }
  }

  /**
   * Per workload (`workloadId`), the calls of each syscall summed over its containers and
   * argument tuples; syscalls only added (the non-returning ones, count 0) are left out.
   */
  syscallCountsByWorkload(): Map<string, Map<string, number>> {
    const counts = new Map<string, Map<string, number>>();
    for (let t = 0; t < this.#size; t++) {
      const chunk = this.#chunks[t >>> CHUNK_BITS]!;
      const i = t & CHUNK_MASK;
      const count = chunk.count[i]!;
      if (count === 0) continue;
      const id = workloadId(this.#containerList[chunk.container[i]!]!.workload);
      let own = counts.get(id);
      if (own === undefined) {
        own = new Map();
        counts.set(id, own);
      }
      const name = this.#syscallNames[chunk.syscall[i]!]!;
      own.set(name, (own.get(name) ?? 0) + count);
    }
    return counts;
  }

  /**
   * This node's observations, per workload. Containers of the same workload on this node (two
   * replicas) are summed, since each container's counts are its own.
   */
  observations(node: string, arch: string, droppedEvents: number): ObservationSet {
    interface Sum {
      name: string;
      args: readonly string[] | undefined;
      count: number;
      firstSeen: number;
    }
    const sums = new Map<string, { workload: WorkloadKey; tuples: Map<string, Sum> }>();
    for (let t = 0; t < this.#size; t++) {
      const chunk = this.#chunks[t >>> CHUNK_BITS]!;
      const i = t & CHUNK_MASK;
      const container = this.#containerList[chunk.container[i]!]!;
      const id = workloadId(container.workload);
      let workload = sums.get(id);
      if (workload === undefined) {
        workload = { workload: container.workload, tuples: new Map() };
        sums.set(id, workload);
      }
      const name = this.#syscallNames[chunk.syscall[i]!]!;
      const args = this.#args.get(t);
      const key = args === undefined ? name : `${name}:${args.join(",")}`;
      const count = chunk.count[i]!;
      const firstSeen = chunk.firstSeen[i]!;
      const sum = workload.tuples.get(key);
      if (sum === undefined) {
        workload.tuples.set(key, { name, args, count, firstSeen });
      } else {
        sum.count += count;
        if (firstSeen < sum.firstSeen) sum.firstSeen = firstSeen;
      }
    }
    const set = new ObservationSet();
    for (const { workload, tuples } of sums.values()) {
      const wo = set.workload(workload);
      wo.noteNode(node, arch, droppedEvents);
      for (const s of tuples.values()) wo.observe(node, s.name, s.count, s.firstSeen, s.args);
    }
    return set;
  }

  /**
   * Falco reports syscalls at their exit, so calls that never return (exit, exit_group,
   * rt_sigreturn; lib/syscalls/non-returning.ts) are never reported although every process makes
   * them. Each container gets them with count 0 when it is first seen, so its profile allows them.
   */
  #addContainer(key: string, workload: WorkloadKey, meta: ContainerMeta, timeMs: number): ContainerState {
    const container = this.#newContainer(key, workload, meta);
    for (const name of this.#nonReturning) {
      const tuple = this.#tupleOf(
        container,
        this.#syscallIds.get(name) ?? this.#intern(name),
        undefined,
        timeMs,
      );
      this.#enqueue(tuple, this.#chunks[tuple >>> CHUNK_BITS]!, tuple & CHUNK_MASK);
    }
    return container;
  }

  #newContainer(key: string, workload: WorkloadKey, meta: ContainerMeta): ContainerState {
    const container: ContainerState = {
      index: this.#containerList.length,
      key,
      workload: { ...workload },
      meta: { pod: meta.pod, podUid: meta.podUid, containerId: meta.containerId },
      slots: new Int32Array(Math.max(INITIAL_SLOTS, this.#syscallNames.length)),
      argTuples: undefined,
    };
    this.#containers.set(key, container);
    this.#containerList.push(container);
    return container;
  }

  #intern(syscall: string): number {
    const id = this.#syscallNames.length;
    this.#syscallNames.push(syscall);
    this.#syscallIds.set(syscall, id);
    return id;
  }

  /** The tuple number of (syscall, args) in the container, created (count 0) when new. */
  #tupleOf(
    container: ContainerState,
    syscallId: number,
    args: readonly string[] | undefined,
    timeMs: number,
  ): number {
    if (args === undefined) {
      if (syscallId >= container.slots.length) {
        const slots = new Int32Array(Math.max(syscallId + 1, container.slots.length * 2));
        slots.set(container.slots);
        container.slots = slots;
      }
      const slot = container.slots[syscallId]!;
      if (slot !== 0) return slot - 1;
      const tuple = this.#newTuple(container, syscallId, timeMs);
      container.slots[syscallId] = tuple + 1;
      return tuple;
    }
    const key = `${syscallId}:${args.join(",")}`;
    container.argTuples ??= new Map();
    const known = container.argTuples.get(key);
    if (known !== undefined) return known;
    const tuple = this.#newTuple(container, syscallId, timeMs);
    container.argTuples.set(key, tuple);
    this.#args.set(tuple, [...args]);
    return tuple;
  }

  #newTuple(container: ContainerState, syscallId: number, timeMs: number): number {
    const tuple = this.#size++;
    if ((tuple & CHUNK_MASK) === 0) {
      this.#chunks.push({
        count: new Float64Array(CHUNK_SIZE),
        firstSeen: new Float64Array(CHUNK_SIZE),
        syscall: new Uint32Array(CHUNK_SIZE),
        container: new Uint32Array(CHUNK_SIZE),
        queued: new Uint8Array(CHUNK_SIZE),
        nextReportExp: new Uint8Array(CHUNK_SIZE),
      });
    }
    const chunk = this.#chunks[tuple >>> CHUNK_BITS]!;
    const i = tuple & CHUNK_MASK;
    chunk.firstSeen[i] = timeMs;
    chunk.syscall[i] = syscallId;
    chunk.container[i] = container.index;
    return tuple;
  }

  #enqueue(tuple: number, chunk: TupleChunk, i: number): void {
    const at = this.#queueLength++;
    if ((at & CHUNK_MASK) === 0 && at >>> CHUNK_BITS === this.#queueChunks.length) {
      this.#queueChunks.push(new Int32Array(CHUNK_SIZE));
    }
    this.#queueChunks[at >>> CHUNK_BITS]![at & CHUNK_MASK] = tuple;
    chunk.queued[i] = QUEUED;
  }

  /** Moves the queued tuples to the staged drain, ordered by container (counting sort, stable). */
  #stage(): void {
    const length = this.#queueLength;
    const starts = new Int32Array(this.#containerList.length + 1);
    const queued = (k: number): number => this.#queueChunks[k >>> CHUNK_BITS]![k & CHUNK_MASK]!;
    const containerOf = (t: number): number => this.#chunks[t >>> CHUNK_BITS]!.container[t & CHUNK_MASK]!;
    for (let k = 0; k < length; k++) starts[containerOf(queued(k)) + 1]!++;
    for (let c = 1; c < starts.length; c++) starts[c]! += starts[c - 1]!;
    const staged = new Int32Array(length);
    for (let k = 0; k < length; k++) {
      const t = queued(k);
      staged[starts[containerOf(t)]!++] = t;
    }
    this.#staged = staged;
    this.#stagedAt = 0;
    this.#queueLength = 0;
  }

  #event(tuple: number): SyscallEvent {
    const chunk = this.#chunks[tuple >>> CHUNK_BITS]!;
    const i = tuple & CHUNK_MASK;
    const event: SyscallEvent = {
      name: this.#syscallNames[chunk.syscall[i]!]!,
      count: chunk.count[i]!,
      firstSeen: chunk.firstSeen[i]!,
    };
    const args = this.#args.get(tuple);
    if (args !== undefined) event.args = [...args];
    return event;
  }
}
