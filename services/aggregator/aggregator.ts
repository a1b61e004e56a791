/**
 * The aggregator of one partition of SC_EVENTS (a replica runs one per partition it holds, see
 * replica.ts), and startAggregator, which sets up NATS and starts the replica:
 *
 *   SC_EVENTS ──durable pull──► decode + validate ──► AggregatorState.apply (merge, drift)
 *                                   │ bad: counted, terminated at the next checkpoint
 *   every checkpointIntervalMs ──► snapshot → KV sc_aggregator ──► ack/term the messages it covers
 *   every tick, and at once when a node completes ──► AggregatorState.due() ──► ActionPerformer ──► Publisher
 *   replica's KV sc_sessions watch ──► AggregatorState.setRecord (this partition's sessions)
 *   replica's Kubernetes pod watch ──► PodHistory ◄── AggregatorState checks every workload entry
 *                                      (entries waiting for a pod are checked again every tick)
 *   replica's sc.agg.freeze (accept) and sc.agg.delete, for this partition's sessions ──► accept, forget
 *
 * Crash safety (see checkpoint.ts): messages are settled only after a checkpoint reflecting them is
 * stored, and at start the durable consumer resumes right after its ack floor. Whatever the moment
 * of a crash, the restarted process restores the last checkpoint and receives again every message it
 * does not reflect; the merge being idempotent, the final profiles are byte-identical to those of an
 * uninterrupted run. Publications are repeated when a crash comes between publishing and the next
 * checkpoint; they carry the same bytes (one-shot) or the next unused revision (continuous).
 */
import { performance } from "node:perf_hooks";
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { AggregatorConfig, AggregatorStatus, SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, isSeccomposeError, SeccomposeError } from "../../lib/errors.ts";
import { connectNats } from "../../lib/nats/connect.ts";
import { DEFAULT_MAX_EVENT_MESSAGE_BYTES, decodeEventMessage } from "../../lib/nats/codec.ts";
import { EVENT_STREAM_DEFAULTS, ensureEventStream, ensureKv } from "../../lib/nats/streams.ts";
import type { RecordChange } from "../../lib/nats/session-records.ts";
import { recordPartition } from "../../lib/partitions.ts";
import {
  BUCKET_AGGREGATOR_LEASES,
  BUCKET_AGGREGATOR_STATE,
  BUCKET_INSTALLED,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  OBJECT_STORE_PROFILES,
  STREAM_EVENTS,
  aggregatorDurable,
  eventSubject,
} from "../../lib/subjects.ts";
import { ActionPerformer } from "./action-performer.ts";
import { MergeReporter } from "./merge-reporter.ts";
import { CheckpointStore, encodeSnapshot, partitionKeyPrefix } from "./checkpoint.ts";
import type { LoadedCheckpoint } from "./checkpoint.ts";
import { reconcileRevision } from "./continuous.ts";
import { EventConsumer, durableInfo, ensureDurable, settle } from "./consumer.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import { DEFAULT_LEASE_TTL_MS } from "./partition-leases.ts";
import { Publisher } from "./publisher.ts";
import { startReplica, type PartitionWorker, type RunningAggregator, type WorkerContext } from "./replica.ts";
import { AggregatorState } from "./session-state.ts";
import type { AcceptOutcome, Clock, MergeOutcome } from "./session-state.ts";
import { startPodOwnership, type PodOwnership } from "./pod-ownership.ts";
import { buildStatus } from "./status.ts";
import type { ConsumerStatus } from "./status.ts";
import { StreamLossWatch, streamLoss, type LostRange } from "./stream-loss.ts";
import { upgradeLegacyStream } from "./upgrade.ts";

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;
export const DEFAULT_KV_VALUE_MAX_BYTES = 512 * 1024;
/**
 * Payload bytes of merged-but-unsettled messages that force a checkpoint: each message keeps its
 * payload until settled, so a flood of large batches would otherwise hold up to maxAckPending of them.
 */
const MAX_UNSETTLED_BYTES = 64 * 1024 * 1024;
/**
 * Merged-but-unsettled messages the server lets us hold; a checkpoint is forced at half of it.
 * Each checkpoint encodes the whole state, so in a stop burst of a thousand nodes (66,000
 * messages, bench/scale-sim.bench.ts) this bounds how many full snapshots it costs.
 */
const MAX_ACK_PENDING = 60_000;
/**
 * The timer's checkpoint waits this many times as long as the last one took, after it ended:
 * a snapshot grows with the state, and encoding a large one every second took a fifth of the
 * aggregator's CPU at a thousand nodes.
 */
const CHECKPOINT_SPACING = 4;
const PULL_MAX_BYTES = 4 * 1024 * 1024;
/** How often the stream's first sequence is compared with what was consumed (discarded messages). */
const STREAM_WATCH_MS = 1000;
/** How often deadlines, debounce windows and convergence are looked at. */
const DEFAULT_TICK_MS = 250;
/** The aggregator's NATS user may subscribe to reply inboxes under this prefix only (deploy/nats-permissions.json). */
const AGGREGATOR_INBOX_PREFIX = "_INBOX.aggregator";
/** KV and JetStream headers ride along with a chunk inside the server's max_payload. */
const PAYLOAD_HEADROOM = 8 * 1024;

export interface AggregatorOptions {
  config: AggregatorConfig;
  logger: Logger;
  metrics: AggregatorMetrics;
  clock?: Clock;
  tickMs?: number;
  /** Where a pod's environment is read (KUBERNETES_SERVICE_HOST: running in a pod); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export type { RunningAggregator } from "./replica.ts";

interface Stores {
  sessions: KV;
  profiles: KV;
  state: KV;
  objects: Awaited<ReturnType<typeof ensureObjectStore>>;
}

async function ensureObjectStore(nc: NatsConnection, replicas: number) {
  try {
    return await new Objm(nc).create(OBJECT_STORE_PROFILES, { storage: StorageType.File, replicas });
  } catch (err) {
    throw new SeccomposeError(
      "SC_NATS_UNREACHABLE",
      `could not open object store ${OBJECT_STORE_PROFILES}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * The aggregator of one partition: its durable consumer, its state and checkpoint, its
 * finalisations. A replica (replica.ts) runs one per partition it holds a lease on.
 */
export class Aggregator implements PartitionWorker {
  readonly instance: string;
  readonly partition: number;
  readonly nc: NatsConnection;
  readonly #ctx: WorkerContext;
  readonly #o: AggregatorOptions;
  readonly #log: Logger;
  readonly #m: AggregatorMetrics;
  readonly #jsm: JetStreamManager;
  readonly #store: CheckpointStore;
  readonly #publisher: Publisher;
  readonly #performer: ActionPerformer;
  readonly #reporter: MergeReporter;
  readonly #pods: PodOwnership;
  readonly #unwatchPods: () => void;
  readonly #maxMessageBytes: number;
  #state: AggregatorState;
  #consumer: EventConsumer | undefined;
  #timers: NodeJS.Timeout[] = [];
  #ready = false;
  #stopping = false;
  #dirty = false;
  #ticking: Promise<void> | undefined;
  #tickAgain = false;
  #checkpointing: Promise<void> | undefined;
  #prunedForeign = false;
  #checkingCatchUp = false;
  #lossWatch: StreamLossWatch | undefined;
  #watchingStream = false;
  #lastCheckpoint: { streamSeq: number; writtenAt: string } | undefined;
  /** Monotonic ms before which the timer does not start another checkpoint (CHECKPOINT_SPACING). */
  #nextTimedCheckpointAt = 0;
  #checkpointsWritten = 0;

  constructor(
    o: AggregatorOptions,
    ctx: WorkerContext,
    nc: NatsConnection,
    jsm: JetStreamManager,
    stores: Stores,
    pods: PodOwnership,
  ) {
    this.#o = o;
    this.#ctx = ctx;
    this.instance = ctx.instance;
    this.partition = ctx.partition;
    this.#log = o.logger.child({ instance: this.instance, partition: ctx.partition });
    this.#m = o.metrics;
    this.nc = nc;
    this.#jsm = jsm;
    const kvLimit = o.config.kvValueMaxBytes ?? DEFAULT_KV_VALUE_MAX_BYTES;
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.#store = new CheckpointStore(stores.state, {
      instance: this.instance,
      chunkBytes: Math.max(1024, Math.min(kvLimit, maxPayload - PAYLOAD_HEADROOM)),
      prefix: partitionKeyPrefix(ctx.partition),
    });
    this.#publisher = new Publisher({
      nc,
      profiles: stores.profiles,
      objects: stores.objects,
      sessions: stores.sessions,
      kvValueMaxBytes: Math.min(kvLimit, maxPayload - PAYLOAD_HEADROOM),
    });
    this.#performer = new ActionPerformer({
      publisher: this.#publisher,
      metrics: this.#m,
      partition: this.partition,
      holds: () => this.#ctx.holds(),
      state: () => this.#state,
      changed: () => {
        this.#dirty = true;
      },
    });
    this.#reporter = new MergeReporter(this.#m, this.#log, (event) => this.#publisher.publishDrift(event));
    this.#maxMessageBytes = o.config.stream?.maxMsgSize ?? DEFAULT_MAX_EVENT_MESSAGE_BYTES;
    this.#pods = pods;
    this.#state = new AggregatorState(o.clock ?? Date.now, o.config.limits, pods.check);
    // An entry waits only for the pod watch: a change may let it through at once.
    this.#unwatchPods = pods.onChange(() => {
      if (this.#state.waitingEntries > 0) this.#scheduleTick();
    });
  }

  /** Takes the partition over from its checkpoint and durable consumer; `records`: every session record known. */
  async start(records: Iterable<SessionRecord>): Promise<void> {
    const clock = this.#o.clock ?? Date.now;
    let loaded: LoadedCheckpoint | undefined;
    try {
      loaded = await this.#store.load();
    } catch (err) {
      if (!isSeccomposeError(err, "SC_CHECKPOINT_INVALID")) throw err;
      // Without a usable checkpoint nothing counts as covered: the whole stream is merged again.
      this.#log.error({ err }, "checkpoint unreadable; rebuilding from the stream");
    }
    if (loaded !== undefined) {
      this.#state = AggregatorState.restore(loaded.snapshot, clock, this.#o.config.limits, this.#pods.check);
      this.#log.info(
        {
          event: "checkpoint.restored",
          streamSeq: loaded.head.streamSeq,
          coveredSeq: loaded.head.coveredSeq,
          sessions: loaded.snapshot.sessions.length,
          writtenBy: loaded.head.instance,
        },
        "restored the checkpoint",
      );
    }
    // Fencing: rewriting the head (compare-and-set on the revision just read) makes every later
    // checkpoint of a previous owner fail, so it can never ack what this state does not reflect.
    if (!this.#ctx.holds())
      throw new SeccomposeError("SC_CHECKPOINT_CONFLICT", "the lease was lost while starting");
    await this.#store.write(encodeSnapshot(this.#state.snapshot()), {
      streamSeq: loaded?.head.streamSeq ?? this.#state.highestStreamSeq,
      coveredSeq: loaded?.head.coveredSeq ?? 0,
      writtenAt: new Date(clock()).toISOString(),
    });
    // Deadlines wait until what is in the stream now is merged: a restart after a session's deadline
    // must not call nodes missing whose data sits unconsumed in the stream. Set before the records
    // arrive, since each record change runs the deadline check.
    const streamInfo = await this.#jsm.streams.info(STREAM_EVENTS);
    this.#state.catchUpTo(streamInfo.state.last_seq);
    for (const record of records) this.onRecord({ id: record.id, record });
    await this.#reconcileRevisions();
    const intervalMs = this.#o.config.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    const start = await ensureDurable(
      this.#jsm,
      this.partition,
      { ackWaitMs: Math.max(30_000, 10 * intervalMs), maxAckPending: MAX_ACK_PENDING },
      loaded?.head.coveredSeq,
      this.#log,
    );
    this.#lossWatch = new StreamLossWatch(
      start.coveredSeq,
      this.#o.config.partitions === undefined || this.#o.config.partitions === 1,
    );
    {
      // Messages discarded while no aggregator ran are found before anything new is merged.
      const { state } = await this.#jsm.streams.info(STREAM_EVENTS);
      const lost = this.#lossWatch.look({
        firstSeq: state.first_seq,
        lastSeq: state.last_seq,
        pending: 1,
        inFlight: false,
      });
      if (lost !== undefined) this.#onStreamLoss(lost);
    }
    this.#consumer = new EventConsumer(jetstream(this.nc), {
      maxBytes: PULL_MAX_BYTES,
      partition: this.partition,
      start,
      logger: this.#log,
      handle: (m) => this.#handle(m),
      onFirstDelivery: (seq) => {
        const lost = this.#lossWatch?.delivered(seq);
        if (lost !== undefined) this.#onStreamLoss(lost);
      },
      onUnsettled: (n, bytes) => {
        if ((n >= MAX_ACK_PENDING / 2 || bytes >= MAX_UNSETTLED_BYTES) && this.#checkpointing === undefined) {
          void this.#checkpoint();
        }
      },
    });
    await this.#consumer.start();
    this.#timers.push(
      setInterval(() => {
        if (performance.now() >= this.#nextTimedCheckpointAt) void this.#checkpoint();
      }, intervalMs),
    );
    this.#timers.push(setInterval(() => void this.#watchStream(), STREAM_WATCH_MS));
    this.#timers.push(setInterval(() => this.#scheduleTick(), this.#o.tickMs ?? DEFAULT_TICK_MS));
    this.#scheduleTick();
    this.#ready = true;
    this.#log.info(
      { event: "aggregator.consuming", durable: aggregatorDurable(this.partition), stream: STREAM_EVENTS },
      "aggregator consuming",
    );
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
    if (!(await this.#checkpointNow())) {
      throw new SeccomposeError(
        ErrorCodes.SC_NATS_UNREACHABLE,
        "the drift is taken into the profile, but the aggregator could not store a checkpoint yet (it retries; should it restart first, accept again)",
      );
    }
    this.#scheduleTick();
    return outcomes;
  }

  /** Drops a deleted session's state; waits for a publication pass under way, which may still concern it. */
  async forget(id: string): Promise<boolean> {
    const forgotten = this.#state.forget(id);
    this.#dirty = true;
    await this.#ticking;
    return forgotten;
  }

  /**
   * A deleted session's events were purged from the stream: the sequences they leave out, up to the
   * stream's last one now, are no loss (stream-loss.ts).
   */
  async excusePurge(): Promise<void> {
    const { state } = await this.#jsm.streams.info(STREAM_EVENTS);
    this.#lossWatch?.purged(state.last_seq);
  }

  /** Stores a checkpoint that reflects the state as it is now; SC_NATS_UNREACHABLE when that failed. */
  async checkpointNow(what: string): Promise<void> {
    if (!(await this.#checkpointNow())) {
      throw new SeccomposeError(
        ErrorCodes.SC_NATS_UNREACHABLE,
        `${what}, but the aggregator could not store a checkpoint without it yet (it retries)`,
      );
    }
  }

  /** A checkpoint that reflects the state as it is now; false when storing it failed. */
  async #checkpointNow(): Promise<boolean> {
    // One under way may have taken its snapshot before the change; any started from here has it.
    await this.#checkpointing;
    const before = this.#checkpointsWritten;
    this.#dirty = true;
    await this.#checkpoint();
    return this.#checkpointsWritten > before;
  }

  /** Continuous revisions published after the last checkpoint must not be numbered again. */
  async #reconcileRevisions(): Promise<void> {
    for (const s of this.#state.sessions.values()) {
      if (s.mode !== "continuous" || s.finalised !== undefined) continue;
      for (const ws of s.workloads.values()) {
        const published = await this.#publisher.latestRevision(s.id, ws.token);
        if (published !== undefined) reconcileRevision(ws.track, published);
      }
    }
  }

  /** A session record changed; records of other partitions are not this aggregator's business. */
  onRecord(change: RecordChange): void {
    if (change.record !== undefined && recordPartition(change.record) !== this.partition) return;
    if (change.record === undefined) this.#state.clearRecord(change.id);
    // Messages held until the node set was written are merged or refused now.
    else for (const outcome of this.#state.setRecord(change.record)) this.#afterMerge(outcome);
    this.#dirty = true;
    this.#scheduleTick();
  }

  /** Logs the first refusal per session, node and reason only: a flood must not become a log flood. */
  #handle(m: JsMsg): boolean {
    const source = `${STREAM_EVENTS} seq ${m.seq} on ${m.subject}`;
    this.#state.noteStreamSeq(m.seq);
    let outcome: MergeOutcome;
    try {
      const message = decodeEventMessage(m.data, source, this.#maxMessageBytes);
      const expected = eventSubject(this.partition, message.session, message.node);
      if (m.subject !== expected) {
        throw new SeccomposeError(
          "SC_MESSAGE_INVALID",
          `${source} is from session ${message.session}, node ${message.node}, whose subject is ${expected}`,
        );
      }
      outcome = this.#state.apply(message);
    } catch (err) {
      this.#state.noteBadMessage();
      this.#m.badBatches.inc();
      const fields = { subject: m.subject, seq: m.seq, bytes: m.data.length };
      if (isSeccomposeError(err)) this.#log.warn({ ...fields, err }, "bad message");
      else this.#log.error({ ...fields, err }, "merging a message failed");
      return false;
    }
    return this.#afterMerge(outcome);
  }

  /** Reports a merge (merge-reporter.ts); a node now complete is worth checking its session at once. */
  #afterMerge(outcome: MergeOutcome): boolean {
    const keep = this.#reporter.report(outcome);
    if (outcome.nodeComplete) this.#scheduleTick();
    return keep;
  }

  /** Looks for messages the stream discarded before they were consumed (see stream-loss.ts). */
  async #watchStream(): Promise<void> {
    const watch = this.#lossWatch;
    if (watch === undefined || this.#watchingStream || this.#stopping) return;
    this.#watchingStream = true;
    try {
      // Stream first, consumer second: nothing pending then means nothing up to last_seq is missing.
      const { state } = await this.#jsm.streams.info(STREAM_EVENTS);
      const info = await durableInfo(this.#jsm, this.partition);
      const consumer = this.#consumer;
      if (info === undefined || consumer === undefined) return;
      const lost = watch.look({
        firstSeq: state.first_seq,
        lastSeq: state.last_seq,
        pending: info.num_pending,
        // A delivery that went missing in transit counts as in flight until the next restart.
        inFlight: !consumer.contiguous || info.delivered.consumer_seq > consumer.lastDelivery,
      });
      if (lost !== undefined) this.#onStreamLoss(lost);
    } catch (err) {
      this.#log.warn({ err }, "could not compare the stream with what was consumed");
    } finally {
      this.#watchingStream = false;
    }
  }

  #onStreamLoss(range: LostRange): void {
    const loss = streamLoss(STREAM_EVENTS, range);
    const sessions = this.#state.noteStreamLoss(loss);
    this.#m.lostMessages.inc(range.lastSeq - range.firstSeq + 1);
    this.#dirty = true;
    this.#log.warn(
      { stream: STREAM_EVENTS, firstSeq: range.firstSeq, lastSeq: range.lastSeq, sessions },
      "stream messages were discarded before they were consumed; the sessions accepting data are partial",
    );
  }

  /** Runs due() and performs its actions, one pass at a time; a request during a pass queues one more. */
  #scheduleTick(): void {
    if (this.#stopping) return;
    if (this.#ticking !== undefined) {
      this.#tickAgain = true;
      return;
    }
    this.#ticking = (async () => {
      await this.#checkCaughtUp();
      do {
        this.#tickAgain = false;
        const rechecked = this.#state.recheckWaiting();
        for (const outcome of rechecked) this.#afterMerge(outcome);
        if (rechecked.length > 0) this.#dirty = true;
        for (const action of this.#state.due()) {
          // Fencing: a replica that lost its lease (paused, cut off) publishes nothing.
          if (this.#stopping || !this.#ctx.holds()) return;
          try {
            await this.#performer.perform(action, this.#log);
          } catch (err) {
            this.#log.error(
              { session: action.session, action: action.kind, err },
              "publishing failed; will retry",
            );
          }
        }
        const retentionSeconds = this.#o.config.stream?.maxAgeSeconds ?? EVENT_STREAM_DEFAULTS.maxAgeSeconds;
        if (retentionSeconds > 0) {
          for (const id of this.#state.pruneFinalised(retentionSeconds * 1000)) {
            this.#dirty = true;
            this.#log.info({ session: id }, "forgot a finalised session whose messages have aged out");
          }
        }
      } while (this.#tickAgain && !this.#stopping);
    })().finally(() => {
      this.#ticking = undefined;
    });
  }

  /**
   * Messages older than the start-up sequence may have aged out of (or been deleted from) the
   * stream, so "caught up" is also reached when the consumer has nothing left to deliver and
   * everything delivered was merged: either acked (acks follow merges) or up to the delivered sequence.
   */
  async #checkCaughtUp(): Promise<void> {
    if (this.#state.caughtUp() || this.#checkingCatchUp) return;
    this.#checkingCatchUp = true;
    try {
      const info = await durableInfo(this.#jsm, this.partition);
      if (
        info !== undefined &&
        info.num_pending === 0 &&
        (info.num_ack_pending === 0 || this.#state.highestStreamSeq >= info.delivered.stream_seq)
      ) {
        this.#state.markCaughtUp();
        this.#log.info({ streamSeq: this.#state.highestStreamSeq }, "caught up with the stream");
      }
    } catch (err) {
      this.#log.warn({ err }, "could not read the consumer info");
    } finally {
      this.#checkingCatchUp = false;
    }
  }

  /** Stores a checkpoint of everything merged so far, then settles the messages it covers. */
  #checkpoint(): Promise<void> {
    if (this.#checkpointing !== undefined) return this.#checkpointing;
    const consumer = this.#consumer;
    if (consumer === undefined || (consumer.unsettled === 0 && !this.#dirty)) return Promise.resolve();
    if (!this.#ctx.holds()) {
      this.#lose(
        new SeccomposeError("SC_CHECKPOINT_CONFLICT", `the lease on partition ${this.partition} expired`),
      );
      return Promise.resolve();
    }
    const startedAt = performance.now();
    this.#checkpointing = (async () => {
      // Taken together, synchronously: the snapshot reflects exactly the messages in `settlement`.
      const settlement = consumer.take();
      const coveredSeq = consumer.covered();
      const bytes = encodeSnapshot(this.#state.snapshot());
      const streamSeq = this.#state.highestStreamSeq;
      const writtenAt = new Date(this.#state.now()).toISOString();
      this.#dirty = false;
      try {
        // Drift events go out before the checkpoint that records them as reported.
        await this.#publisher.flush();
        await this.#store.write(bytes, { streamSeq, coveredSeq, writtenAt });
        settle(settlement);
        this.#lastCheckpoint = { streamSeq, writtenAt };
        this.#checkpointsWritten++;
        this.#m.checkpoints.inc();
        this.#m.unsettledMessages.set(consumer.unsettled);
      } catch (err) {
        // Nothing is settled: the next checkpoint covers these messages too.
        consumer.putBack(settlement);
        this.#dirty = true;
        if (isSeccomposeError(err, "SC_CHECKPOINT_CONFLICT")) {
          this.#lose(err);
          return;
        }
        this.#log.error({ err }, "checkpoint failed; will retry");
        return;
      }
      if (!this.#prunedForeign) {
        this.#prunedForeign = true;
        const pruned = await this.#store.pruneForeignChunks().catch(() => 0);
        if (pruned > 0) this.#log.info({ chunks: pruned }, "removed checkpoint chunks of earlier processes");
      }
    })().finally(() => {
      this.#checkpointing = undefined;
      const endedAt = performance.now();
      this.#nextTimedCheckpointAt = endedAt + CHECKPOINT_SPACING * (endedAt - startedAt);
    });
    return this.#checkpointing;
  }

  async lag(): Promise<number | undefined> {
    return (await durableInfo(this.#jsm, this.partition))?.num_pending;
  }

  async status(session?: string): Promise<AggregatorStatus> {
    let consumer: ConsumerStatus | undefined;
    try {
      const info = await durableInfo(this.#jsm, this.partition);
      if (info !== undefined) {
        consumer = {
          stream: STREAM_EVENTS,
          durable: aggregatorDurable(this.partition),
          numPending: info.num_pending,
          numAckPending: info.num_ack_pending,
          ackFloor: info.ack_floor.stream_seq,
        };
      }
    } catch (err) {
      this.#log.warn({ err }, "could not read the consumer info for status");
    }
    return buildStatus(this.#state, {
      instance: this.instance,
      now: this.#state.now(),
      consumer,
      checkpoint: this.#lastCheckpoint,
      session,
      podOwnershipOff: this.#pods.offReason,
    });
  }

  /** Another replica owns the partition now: stop at once, writing nothing more. */
  #lose(err: unknown): void {
    if (this.#stopping) return;
    this.#log.warn({ event: "partition.lost", err }, "partition lost to another replica; stopping it here");
    void this.abort().finally(() => this.#ctx.onLost(err));
  }

  /** Stops without a last checkpoint: the lease is gone, so nothing more may be written. */
  async abort(): Promise<void> {
    this.#stopping = true;
    this.#ready = false;
    this.#unwatchPods();
    for (const t of this.#timers) clearInterval(t);
    await this.#consumer?.stop().catch(() => undefined);
  }

  /** Stops consuming, stores a last checkpoint and settles what it covers (the lease is then released). */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    this.#unwatchPods();
    for (const t of this.#timers) clearInterval(t);
    await this.#consumer?.stop();
    await this.#ticking;
    await this.#checkpointing;
    await this.#checkpoint();
    this.#log.info("partition stopped");
  }
}

/** The NATS password from `nats.passFile` (a mounted Secret), read at start. */
async function readPassword(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `cannot read the NATS password file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Starts the pod watch of the ownership check (when on; one per replica, shared by its partitions),
 * connects, creates or updates the stream, buckets and object store, then runs a replica that takes
 * partitions by lease and an aggregator for each (replica.ts).
 */
export async function startAggregator(o: AggregatorOptions): Promise<RunningAggregator> {
  const { config, logger } = o;
  const { passFile, ...nats } = config.nats;
  const pass = passFile === undefined ? nats.pass : await readPassword(passFile);
  const pods = await startPodOwnership({
    config,
    env: o.env ?? process.env,
    clock: o.clock ?? Date.now,
    logger,
  });
  let nc: NatsConnection;
  try {
    nc = await connectNats(
      {
        ...nats,
        ...(pass !== undefined ? { pass } : {}),
        name: "seccompose-aggregator",
        waitOnFirstConnect: true,
        inboxPrefix: AGGREGATOR_INBOX_PREFIX,
      },
      logger,
    );
  } catch (err) {
    await pods.stop();
    throw err;
  }
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const replicas = config.replicas ?? 1;
    const partitions = config.partitions ?? 1;
    const state = await ensureKv(js, BUCKET_AGGREGATOR_STATE, { replicas });
    await upgradeLegacyStream(jsm, state, partitions, logger);
    await ensureEventStream(jsm, { ...config.stream, replicas, partitions });
    const leaseTtlMs = config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    const stores: Stores = {
      sessions: await ensureKv(js, BUCKET_SESSIONS, {
        replicas,
        warn: (message) => logger.warn({ bucket: BUCKET_SESSIONS }, message),
      }),
      profiles: await ensureKv(js, BUCKET_PROFILES, { replicas }),
      state,
      objects: await ensureObjectStore(nc, replicas),
    };
    // Written by the CLI (`profile apply`), read by agents at start; the aggregator only owns it.
    await ensureKv(js, BUCKET_INSTALLED, { replicas });
    const leases = await ensureKv(js, BUCKET_AGGREGATOR_LEASES, { replicas, ttlSeconds: leaseTtlMs / 1000 });
    return await startReplica({
      logger,
      metrics: o.metrics,
      nc,
      jsm,
      sessions: stores.sessions,
      objects: stores.objects,
      leases,
      partitions,
      leaseTtlMs,
      pods,
      ...(config.replicaId !== undefined ? { replicaId: config.replicaId } : {}),
      worker: (ctx) => new Aggregator(o, ctx, nc, jsm, stores, pods),
    });
  } catch (err) {
    await pods.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw err;
  }
}
