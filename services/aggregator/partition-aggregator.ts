/**
 * The aggregator of one partition of SC_EVENTS; a replica (replica.ts) runs one per partition it
 * holds a lease on. It takes the partition over from its checkpoint and durable consumer, then
 * runs its parts: messages merged into its state (message-intake.ts), checkpoints
 * (partition-checkpoints.ts), publication passes (publication-pass.ts) and the search for
 * discarded messages (stream-loss-monitor.ts); and it answers the replica's requests.
 */
import { jetstream } from "@nats-io/jetstream";
import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { AggregatorConfig, AggregatorStatus, SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { DEFAULT_MAX_EVENT_MESSAGE_BYTES } from "../../lib/nats/codec.ts";
import type { RecordChange } from "../../lib/nats/session-records.ts";
import { EVENT_STREAM_DEFAULTS } from "../../lib/nats/streams.ts";
import { recordPartition } from "../../lib/partitions.ts";
import { STREAM_EVENTS, aggregatorDurable } from "../../lib/subjects.ts";
import { ActionPerformer } from "./action-performer.ts";
import type { CheckpointStore } from "./checkpoint.ts";
import { durableInfo, ensureDurable, type EventConsumer } from "./consumer.ts";
import { MessageIntake } from "./message-intake.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  MAX_ACK_PENDING,
  PartitionCheckpoints,
} from "./partition-checkpoints.ts";
import type { PodOwnership } from "./pod-ownership.ts";
import { PublicationPasses } from "./publication-pass.ts";
import type { Publisher } from "./publisher.ts";
import type { PartitionWorker, WorkerContext } from "./replica.ts";
import { AggregatorState } from "./session-state.ts";
import type { AcceptOutcome, Clock } from "./session-state.ts";
import { partitionStatus } from "./partition-status.ts";
import { StreamLossMonitor } from "./stream-loss-monitor.ts";

/** How often the stream's first sequence is compared with what was consumed (discarded messages). */
const STREAM_WATCH_MS = 1000;
/** How often deadlines, debounce windows and convergence are looked at. */
const DEFAULT_TICK_MS = 250;

export interface AggregatorOptions {
  config: AggregatorConfig;
  logger: Logger;
  metrics: AggregatorMetrics;
  clock?: Clock;
  tickMs?: number;
  /** Where a pod's environment is read (KUBERNETES_SERVICE_HOST: running in a pod); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Where a partition aggregator publishes, and stores its checkpoints. */
export interface PartitionStorage {
  publisher: Publisher;
  checkpoints: CheckpointStore;
}

export class PartitionAggregator implements PartitionWorker {
  readonly instance: string;
  readonly partition: number;
  readonly nc: NatsConnection;
  readonly #ctx: WorkerContext;
  readonly #o: AggregatorOptions;
  readonly #log: Logger;
  readonly #jsm: JetStreamManager;
  readonly #consumerInfo: () => Promise<ConsumerInfo | undefined>;
  readonly #intake: MessageIntake;
  readonly #checkpoints: PartitionCheckpoints;
  readonly #passes: PublicationPasses;
  readonly #lossMonitor: StreamLossMonitor;
  readonly #pods: PodOwnership;
  readonly #unwatchPods: () => void;
  #consumer: EventConsumer | undefined;
  #timers: NodeJS.Timeout[] = [];
  #ready = false;
  #stopping = false;

  constructor(
    o: AggregatorOptions,
    ctx: WorkerContext,
    nc: NatsConnection,
    jsm: JetStreamManager,
    storage: PartitionStorage,
    pods: PodOwnership,
  ) {
    this.#o = o;
    this.#ctx = ctx;
    this.instance = ctx.instance;
    this.partition = ctx.partition;
    const log = o.logger.child({ instance: this.instance, partition: ctx.partition });
    this.#log = log;
    this.nc = nc;
    this.#jsm = jsm;
    const state = () => this.#state;
    const changed = () => this.#checkpoints.changed();
    const consumerInfo = () => durableInfo(jsm, ctx.partition);
    this.#consumerInfo = consumerInfo;
    this.#checkpoints = new PartitionCheckpoints({
      store: storage.checkpoints,
      partition: ctx.partition,
      state,
      flush: () => storage.publisher.flush(),
      metrics: o.metrics,
      holds: () => this.#ctx.holds(),
      lost: (err) => this.#lose(err),
      log,
    });
    const performer = new ActionPerformer({
      publisher: storage.publisher,
      metrics: o.metrics,
      partition: this.partition,
      holds: () => this.#ctx.holds(),
      state,
      changed,
    });
    this.#passes = new PublicationPasses({
      state,
      performer,
      holds: () => this.#ctx.holds(),
      consumerInfo,
      retentionSeconds: o.config.stream?.maxAgeSeconds ?? EVENT_STREAM_DEFAULTS.maxAgeSeconds,
      latestRevision: (session, token) => storage.publisher.latestRevision(session, token),
      merged: (outcome) => this.#intake.report(outcome),
      changed,
      log,
    });
    this.#lossMonitor = new StreamLossMonitor({
      streamState: async () => (await jsm.streams.info(STREAM_EVENTS)).state,
      consumerInfo,
      state,
      metrics: o.metrics,
      changed,
      log,
    });
    this.#intake = new MessageIntake(new AggregatorState(o.clock ?? Date.now, o.config.limits, pods.check), {
      partition: ctx.partition,
      maxMessageBytes: o.config.stream?.maxMsgSize ?? DEFAULT_MAX_EVENT_MESSAGE_BYTES,
      metrics: o.metrics,
      log,
      drift: (event) => storage.publisher.publishDrift(event),
      nodeComplete: () => this.#passes.request(),
    });
    this.#pods = pods;
    // An entry waits only for the pod watch: a change may let it through at once.
    this.#unwatchPods = pods.onChange(() => {
      if (this.#state.waitingEntries > 0) this.#passes.request();
    });
  }

  /** Takes the partition over from its checkpoint and durable consumer; `records`: every session record known. */
  async start(records: Iterable<SessionRecord>): Promise<void> {
    const clock = this.#o.clock ?? Date.now;
    const loaded = await this.#checkpoints.load((snapshot) => {
      this.#intake.restored(
        AggregatorState.restore(snapshot, clock, this.#o.config.limits, this.#pods.check),
      );
    });
    await this.#checkpoints.fence(loaded);
    // Deadlines wait until what is in the stream now is merged: a restart after a session's deadline
    // must not call nodes missing whose data sits unconsumed in the stream. Set before the records
    // arrive, since each record change runs the deadline check.
    const streamInfo = await this.#jsm.streams.info(STREAM_EVENTS);
    this.#state.catchUpTo(streamInfo.state.last_seq);
    for (const record of records) this.onRecord({ id: record.id, record });
    await this.#passes.reconcileRevisions();
    const intervalMs = this.#o.config.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    const start = await ensureDurable(
      this.#jsm,
      this.partition,
      { ackWaitMs: Math.max(30_000, 10 * intervalMs), maxAckPending: MAX_ACK_PENDING },
      loaded?.head.coveredSeq,
      this.#log,
    );
    // Messages discarded while no aggregator ran are found before anything new is merged.
    const monitor = this.#lossMonitor;
    const lossWatch = await monitor.start(
      start.coveredSeq,
      this.#o.config.partitions === undefined || this.#o.config.partitions === 1,
    );
    const consumer = this.#intake.consumer(jetstream(this.nc), start, {
      onFirstDelivery: (seq) => {
        const lost = lossWatch.delivered(seq);
        if (lost !== undefined) monitor.report(lost);
      },
      onUnsettled: this.#checkpoints.onUnsettled,
    });
    this.#consumer = consumer;
    this.#checkpoints.attach(consumer);
    monitor.attach(consumer);
    await consumer.start();
    this.#timers.push(setInterval(() => this.#checkpoints.onTimer(), intervalMs));
    this.#timers.push(setInterval(() => void monitor.look(), STREAM_WATCH_MS));
    this.#timers.push(setInterval(() => this.#passes.request(), this.#o.tickMs ?? DEFAULT_TICK_MS));
    this.#passes.request();
    this.#ready = true;
    this.#log.info(
      { event: "aggregator.consuming", durable: aggregatorDurable(this.partition), stream: STREAM_EVENTS },
      "aggregator consuming",
    );
  }

  /** The partition's state, which its messages merge into. */
  get #state(): AggregatorState {
    return this.#intake.state;
  }

  ready(): boolean {
    return this.#ready && !this.nc.isClosed();
  }

  /** Accepted drift is in the state, then in a checkpoint, before the requester hears of it. */
  async accept(
    session: string,
    tokens: readonly string[],
    names: readonly string[],
  ): Promise<AcceptOutcome[]> {
    const outcomes = this.#state.accept(session, tokens, names);
    this.#log.info(
      { session, workloads: tokens, syscalls: names },
      "drift accepted into the frozen profiles",
    );
    if (!(await this.#checkpoints.writeNow())) {
      throw new SeccomposeError(
        ErrorCodes.SC_NATS_UNREACHABLE,
        "the drift is taken into the profile, but the aggregator could not store a checkpoint yet (it retries; should it restart first, accept again)",
      );
    }
    this.#passes.request();
    return outcomes;
  }

  /** Drops a deleted session's state; waits for a publication pass under way, which may still concern it. */
  async forget(id: string): Promise<boolean> {
    const forgotten = this.#state.forget(id);
    this.#checkpoints.changed();
    await this.#passes.running;
    return forgotten;
  }

  /** A deleted session's events were purged from the stream: the holes they leave are no loss. */
  excusePurge(): Promise<void> {
    return this.#lossMonitor.excusePurge();
  }

  /** Stores a checkpoint that reflects the state as it is now; SC_NATS_UNREACHABLE when that failed. */
  async checkpointNow(what: string): Promise<void> {
    if (!(await this.#checkpoints.writeNow())) {
      throw new SeccomposeError(
        ErrorCodes.SC_NATS_UNREACHABLE,
        `${what}, but the aggregator could not store a checkpoint without it yet (it retries)`,
      );
    }
  }

  /** A session record changed; records of other partitions are not this aggregator's business. */
  onRecord(change: RecordChange): void {
    if (change.record !== undefined && recordPartition(change.record) !== this.partition) return;
    if (change.record === undefined) this.#state.clearRecord(change.id);
    // Messages held until the node set was written are merged or refused now.
    else for (const outcome of this.#state.setRecord(change.record)) this.#intake.report(outcome);
    this.#checkpoints.changed();
    this.#passes.request();
  }

  async lag(): Promise<number | undefined> {
    return (await this.#consumerInfo())?.num_pending;
  }

  status(session?: string): Promise<AggregatorStatus> {
    return partitionStatus(this.#state, session, {
      instance: this.instance,
      partition: this.partition,
      consumerInfo: this.#consumerInfo,
      checkpoint: () => this.#checkpoints.last,
      podOwnershipOff: this.#pods.offReason,
      log: this.#log,
    });
  }

  /** Another replica owns the partition now: stop at once, writing nothing more. */
  #lose(err: unknown): void {
    if (this.#stopping) return;
    this.#log.warn({ event: "partition.lost", err }, "partition lost to another replica; stopping it here");
    void this.abort().finally(() => this.#ctx.onLost(err));
  }

  #halt(): void {
    this.#stopping = true;
    this.#ready = false;
    this.#passes.stop();
    this.#lossMonitor.stop();
    this.#unwatchPods();
    for (const t of this.#timers) clearInterval(t);
  }

  /** Stops without a last checkpoint: the lease is gone, so nothing more may be written. */
  async abort(): Promise<void> {
    this.#halt();
    await this.#consumer?.stop().catch(() => undefined);
  }

  /** Stops consuming, stores a last checkpoint and settles what it covers (the lease is then released). */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#halt();
    await this.#consumer?.stop();
    await this.#passes.running;
    await this.#checkpoints.final();
    this.#log.info("partition stopped");
  }
}
