/**
 * One aggregator replica (process). It holds leases on partitions of SC_EVENTS
 * (partition-leases.ts) and runs one partition aggregator (partition-aggregator.ts) per partition it holds;
 * it watches the session records once for all of them, and the cluster's pods once for the pod
 * ownership check of all of them. Status, freeze (accept) and delete requests about a session are
 * answered by the replica holding the session's partition, the others staying quiet; a status
 * request about no session by every replica holding partitions, each for its own.
 *
 * With one replica (the default) it holds every partition, which with one partition (the default)
 * is the single-aggregator design. With K replicas, each holds about partitions/K; when one dies,
 * its leases expire and the others take its partitions over from their checkpoints and durable
 * consumers.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import type { Logger } from "pino";
import { randomBytes } from "node:crypto";
import type { AggregatorStatus, SessionRecord } from "../../lib/contracts/types.ts";
import { SessionRecordWatch, type RecordChange } from "../../lib/nats/session-records.ts";
import { partitionOf, recordPartition } from "../../lib/partitions.ts";
import { AGGREGATOR_STATUS_SUBJECT } from "../../lib/subjects.ts";
import { serveDelete } from "./deletion.ts";
import { serveFreeze } from "./freeze.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import { PartitionLeases } from "./partition-leases.ts";
import type { LeaseKv } from "./partition-leases.ts";
import type { PodOwnership } from "./pod-ownership.ts";
import type { AcceptOutcome } from "./session-state.ts";
import { noRefusals } from "./session.ts";
import { requestedSession } from "./status.ts";

export interface RunningAggregator {
  readonly instance: string;
  readonly nc: NatsConnection;
  /** True once consuming every partition held; false again when stopping or failed. */
  ready(): boolean;
  status(session?: string): Promise<AggregatorStatus>;
  /** Hands every partition back (each stores a last checkpoint and settles), then closes the connection. */
  stop(): Promise<void>;
  /** Settles when the replica stopped: resolves after stop(), rejects on a fatal error. */
  readonly done: Promise<void>;
}

/** What the replica needs from a partition's aggregator. */
export interface PartitionWorker {
  readonly partition: number;
  start(records: Iterable<SessionRecord>): Promise<void>;
  onRecord(change: RecordChange): void;
  ready(): boolean;
  status(session?: string): Promise<AggregatorStatus>;
  /** Consumer lag of the partition's durable, when it can be read. */
  lag(): Promise<number | undefined>;
  /** Takes drift into frozen profiles, durably (a checkpoint is stored before it resolves). */
  accept(session: string, tokens: readonly string[], syscalls: readonly string[]): Promise<AcceptOutcome[]>;
  /** Drops a deleted session's state. */
  forget(session: string): Promise<boolean>;
  /** Stores a checkpoint of the state as it is now; `what` was done, which the error names. */
  checkpointNow(what: string): Promise<void>;
  /** A deleted session's events are purged: the holes they leave are no loss. */
  excusePurge(): Promise<void>;
  /** Graceful: a last checkpoint, then stop. */
  stop(): Promise<void>;
  /** The lease is gone: stop without writing anything. */
  abort(): Promise<void>;
}

/** What a partition's aggregator gets from the replica that runs it. */
export interface WorkerContext {
  partition: number;
  /** Id of the replica (process): checkpoint chunk keys and logs carry it. */
  instance: string;
  /** Whether the replica still holds the partition's lease; asked before everything written. */
  holds: () => boolean;
  /** The partition cannot go on here (another replica took it over): the replica gives it up. */
  onLost: (err: unknown) => void;
}

export interface ReplicaOptions {
  logger: Logger;
  metrics: AggregatorMetrics;
  nc: NatsConnection;
  jsm: JetStreamManager;
  sessions: KV;
  objects: ObjectStore;
  leases: LeaseKv;
  partitions: number;
  leaseTtlMs: number;
  /** The replica's pod watch, shared by its partitions; stopped with the replica. */
  pods: PodOwnership;
  /** Stable name of this replica (its pod's name), so a restarted process takes its leases back at once. */
  replicaId?: string;
  worker: (ctx: WorkerContext) => PartitionWorker;
}

/** Status of several partitions as one reply: sessions together, counters summed. */
export function combineStatus(
  instance: string,
  now: number,
  held: readonly number[],
  parts: readonly AggregatorStatus[],
  podOwnershipOff: string | undefined,
): AggregatorStatus {
  const sum = (f: (s: AggregatorStatus) => number | undefined): number =>
    parts.reduce((n, s) => n + (f(s) ?? 0), 0);
  const status: AggregatorStatus = {
    schemaVersion: 1,
    kind: "AggregatorStatus",
    generatedAt: new Date(now).toISOString(),
    instance,
    badBatches: sum((s) => s.badBatches),
    sessions: parts
      .flatMap((s) => s.sessions)
      .sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : 0)),
    podOwnershipChecked: podOwnershipOff === undefined,
    caughtUp: parts.every((s) => s.caughtUp !== false),
    lostMessages: sum((s) => s.lostMessages),
    partitions: [...held],
  };
  if (podOwnershipOff !== undefined) status.podOwnershipReason = podOwnershipOff;
  const refused = parts.map((s) => s.refused).filter((r) => r !== undefined);
  if (refused.length > 0) {
    const total = noRefusals();
    for (const r of refused) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r[k];
    status.refused = total;
  }
  const consumers = parts.map((s) => s.consumer).filter((c) => c !== undefined);
  if (consumers.length === 1) status.consumer = consumers[0]!;
  else if (consumers.length > 1) {
    status.consumer = {
      stream: consumers[0]!.stream,
      durable: consumers.map((c) => c.durable).join(","),
      numPending: consumers.reduce((n, c) => n + c.numPending, 0),
      numAckPending: consumers.reduce((n, c) => n + c.numAckPending, 0),
      ackFloor: Math.min(...consumers.map((c) => c.ackFloor)),
    };
  }
  const checkpoints = parts.map((s) => s.checkpoint).filter((c) => c !== undefined);
  if (checkpoints.length > 0) {
    status.checkpoint = checkpoints.reduce((a, b) => (a.writtenAt < b.writtenAt ? a : b));
  }
  return status;
}

class Replica implements RunningAggregator {
  readonly instance: string;
  readonly nc: NatsConnection;
  readonly done: Promise<void>;
  readonly #o: ReplicaOptions;
  readonly #log: Logger;
  readonly #records = new Map<string, SessionRecord>();
  readonly #watch = new SessionRecordWatch();
  readonly #workers = new Map<number, PartitionWorker>();
  readonly #leases: PartitionLeases;
  readonly #subscriptions: Subscription[] = [];
  #stopping = false;
  #resolveDone!: () => void;

  constructor(o: ReplicaOptions) {
    this.#o = o;
    this.nc = o.nc;
    this.instance = o.replicaId ?? randomBytes(6).toString("hex");
    this.#log = o.logger.child({ instance: this.instance });
    this.#leases = new PartitionLeases(o.leases, {
      replica: this.instance,
      partitions: o.partitions,
      ttlMs: o.leaseTtlMs,
      // Lease validity is measured on the real clock, whatever clock the state machine is given.
      clock: Date.now,
      logger: this.#log,
      handlers: {
        acquired: (p) => this.#startWorker(p),
        releasing: async (p) => {
          const worker = this.#workers.get(p);
          this.#workers.delete(p);
          await worker?.stop();
        },
        lost: (p) => {
          const worker = this.#workers.get(p);
          this.#workers.delete(p);
          void worker?.abort();
        },
      },
    });
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  async #startWorker(partition: number): Promise<void> {
    const worker = this.#o.worker({
      partition,
      instance: this.instance,
      holds: () => this.#leases.holds(partition),
      onLost: () => this.#leases.drop(partition),
    });
    try {
      await worker.start(this.#records.values());
    } catch (err) {
      await worker.abort();
      throw err;
    }
    this.#workers.set(partition, worker);
    // Records that changed while it started.
    for (const record of this.#records.values()) worker.onRecord({ id: record.id, record });
  }

  async start(): Promise<void> {
    await this.#watch.start(
      this.#o.sessions,
      (change) => this.#onRecord(change),
      (session, error) => this.#log.warn({ session }, `skipped: ${error}`),
      this.#log,
    );
    this.#o.metrics.lagSource = async () => {
      let lag = 0;
      for (const w of this.#workers.values()) lag += (await w.lag()) ?? 0;
      return lag;
    };
    this.#subscriptions.push(this.#serveStatus());
    this.#subscriptions.push(
      serveFreeze(
        this.nc,
        this.#o.sessions,
        (session) => {
          const worker = this.#workerFor(session);
          return worker === undefined ? undefined : (s, tokens, names) => worker.accept(s, tokens, names);
        },
        this.#log,
      ),
    );
    this.#subscriptions.push(
      serveDelete(
        this.nc,
        (session) => {
          const worker = this.#workerFor(session);
          if (worker === undefined) return undefined;
          return {
            sessions: this.#o.sessions,
            jsm: this.#o.jsm,
            objects: this.#o.objects,
            forget: (id) => worker.forget(id),
            checkpoint: () => worker.checkpointNow("the session is deleted"),
            excusePurge: () => worker.excusePurge(),
          };
        },
        this.#log,
      ),
    );
    await this.#leases.start();
    this.#log.info(
      { event: "replica.running", partitions: this.#o.partitions, held: this.#leases.held() },
      "aggregator replica running",
    );
  }

  #onRecord(change: RecordChange): void {
    if (change.record === undefined) this.#records.delete(change.id);
    else this.#records.set(change.id, change.record);
    for (const w of this.#workers.values()) w.onRecord(change);
  }

  /**
   * The aggregator of `session`'s partition when this replica holds it. A session without a record
   * (not seen yet, or deleted) is in the partition its id hashes to, as `session start` chose it.
   */
  #workerFor(session: string): PartitionWorker | undefined {
    const record = this.#records.get(session);
    return this.#workers.get(
      record === undefined ? partitionOf(session, this.#o.partitions) : recordPartition(record),
    );
  }

  #serveStatus(): Subscription {
    return this.nc.subscribe(AGGREGATOR_STATUS_SUBJECT, {
      callback: (err, msg) => {
        if (err !== null) {
          this.#log.error({ err }, "status subscription failed");
          return;
        }
        const asked = requestedSession(msg.data);
        if ("error" in asked) {
          msg.respond(JSON.stringify({ code: "SC_MESSAGE_INVALID", message: asked.error }));
          return;
        }
        // A session's status comes from the replica holding its partition; the others keep quiet.
        if (asked.session !== undefined && this.#workerFor(asked.session) === undefined) return;
        // About no session, a replica holding no partition has nothing to say (no consumer either).
        if (asked.session === undefined && this.#workers.size === 0) return;
        this.status(asked.session).then(
          (reply) => msg.respond(JSON.stringify(reply)),
          (e: unknown) => {
            this.#log.error({ err: e }, "could not build the status reply");
            msg.respond(JSON.stringify({ code: "SC_NATS_UNREACHABLE", message: (e as Error).message }));
          },
        );
      },
    });
  }

  ready(): boolean {
    if (this.#stopping || this.nc.isClosed()) return false;
    return [...this.#workers.values()].every((w) => w.ready());
  }

  async status(session?: string): Promise<AggregatorStatus> {
    const workers = [...this.#workers.values()];
    const parts = await Promise.all(workers.map((w) => w.status(session)));
    return combineStatus(this.instance, Date.now(), this.#leases.held(), parts, this.#o.pods.offReason);
  }

  async stop(): Promise<void> {
    if (this.#stopping) return this.done;
    this.#stopping = true;
    await this.#leases.stop();
    for (const sub of this.#subscriptions) sub.unsubscribe();
    await this.#watch.stop();
    await this.#o.pods.stop();
    await this.nc.drain();
    this.#log.info("aggregator stopped");
    this.#resolveDone();
    return this.done;
  }
}

export async function startReplica(o: ReplicaOptions): Promise<RunningAggregator> {
  const replica = new Replica(o);
  await replica.start();
  return replica;
}
