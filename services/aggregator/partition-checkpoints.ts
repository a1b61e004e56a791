/**
 * When a partition's checkpoint is written and what it settles (checkpoint.ts stores it). At
 * start-up the stored one is loaded, and the head is rewritten to fence off a previous owner; then
 * a checkpoint is written on a timer spaced by how long the last one took, when merged-but-unsettled
 * messages pile up, and on demand, when a change must be durable before it is answered. A snapshot
 * reflects exactly the messages the consumer hands over with it, and they are settled only once it
 * is stored.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { isSeccomposeError, SeccomposeError } from "../../lib/errors.ts";
import { encodeSnapshot, type CheckpointStore, type LoadedCheckpoint } from "./checkpoint.ts";
import { settle, type EventConsumer } from "./consumer.ts";
import type { AggregatorMetrics } from "./metrics.ts";
import type { AggregatorState } from "./session-state.ts";
import type { StateSnapshot } from "./state-snapshot.ts";

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;
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
export const MAX_ACK_PENDING = 60_000;
/**
 * The timer's checkpoint waits this many times as long as the last one took, after it ended:
 * a snapshot grows with the state, and encoding a large one every second took a fifth of the
 * aggregator's CPU at a thousand nodes.
 */
const CHECKPOINT_SPACING = 4;

/** What a checkpoint takes from the consumer: the messages merged since the last one. */
export type SettlingConsumer = Pick<EventConsumer, "unsettled" | "take" | "covered" | "putBack">;

export interface PartitionCheckpointsDeps {
  store: Pick<CheckpointStore, "load" | "write" | "pruneForeignChunks">;
  partition: number;
  /** The partition's state as it is now (restored at start-up). */
  state: () => AggregatorState;
  /** Publishes the Drift events merged so far: they go out before the checkpoint that records them as reported. */
  flush: () => Promise<void>;
  metrics: Pick<AggregatorMetrics, "checkpoints" | "unsettledMessages">;
  /** Whether this replica still holds the partition's lease. */
  holds: () => boolean;
  /** Another replica owns the partition now. */
  lost: (err: unknown) => void;
  log: Logger;
}

export class PartitionCheckpoints {
  readonly #d: PartitionCheckpointsDeps;
  #consumer: SettlingConsumer | undefined;
  /** The state changed beyond the messages merged: worth a checkpoint even with none unsettled. */
  #dirty = false;
  #writing: Promise<void> | undefined;
  #prunedForeign = false;
  #last: { streamSeq: number; writtenAt: string } | undefined;
  /** Monotonic ms before which the timer does not start another checkpoint (CHECKPOINT_SPACING). */
  #nextTimedAt = 0;
  #written = 0;

  constructor(deps: PartitionCheckpointsDeps) {
    this.#d = deps;
  }

  /** The checkpoint stored last by this process, for status. */
  get last(): { streamSeq: number; writtenAt: string } | undefined {
    return this.#last;
  }

  /**
   * Restores the stored checkpoint with `restore`; undefined when there is none, or none usable
   * (nothing then counts as covered: the whole stream is merged again).
   */
  async load(restore: (snapshot: StateSnapshot) => void): Promise<LoadedCheckpoint | undefined> {
    let loaded: LoadedCheckpoint | undefined;
    try {
      loaded = await this.#d.store.load();
    } catch (err) {
      if (!isSeccomposeError(err, "SC_CHECKPOINT_INVALID")) throw err;
      this.#d.log.error({ err }, "checkpoint unreadable; rebuilding from the stream");
    }
    if (loaded !== undefined) {
      restore(loaded.snapshot);
      this.#d.log.info(
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
    return loaded;
  }

  /**
   * Fencing: rewriting the head (compare-and-set on the revision just read) makes every later
   * checkpoint of a previous owner fail, so it can never ack what this state does not reflect.
   */
  async fence(loaded: LoadedCheckpoint | undefined): Promise<void> {
    if (!this.#d.holds())
      throw new SeccomposeError("SC_CHECKPOINT_CONFLICT", "the lease was lost while starting");
    const state = this.#d.state();
    await this.#d.store.write(encodeSnapshot(state.snapshot()), {
      streamSeq: loaded?.head.streamSeq ?? state.highestStreamSeq,
      coveredSeq: loaded?.head.coveredSeq ?? 0,
      writtenAt: new Date(state.now()).toISOString(),
    });
  }

  /** From now on checkpoints settle the messages `consumer` merged. */
  attach(consumer: SettlingConsumer): void {
    this.#consumer = consumer;
  }

  /** The state changed beyond the messages merged: the next checkpoint is due even without any. */
  changed(): void {
    this.#dirty = true;
  }

  /** The checkpoint timer fired: writes one unless the last one ended too recently. */
  onTimer(): void {
    if (performance.now() >= this.#nextTimedAt) void this.write();
  }

  /** After each merged message (the consumer's onUnsettled): too much waiting for a checkpoint forces one. */
  readonly onUnsettled = (n: number, bytes: number): void => {
    if ((n >= MAX_ACK_PENDING / 2 || bytes >= MAX_UNSETTLED_BYTES) && this.#writing === undefined) {
      void this.write();
    }
  };

  /** Stores a checkpoint of everything merged so far, then settles the messages it covers. */
  write(): Promise<void> {
    if (this.#writing !== undefined) return this.#writing;
    const consumer = this.#consumer;
    if (consumer === undefined || (consumer.unsettled === 0 && !this.#dirty)) return Promise.resolve();
    if (!this.#d.holds()) {
      this.#d.lost(
        new SeccomposeError("SC_CHECKPOINT_CONFLICT", `the lease on partition ${this.#d.partition} expired`),
      );
      return Promise.resolve();
    }
    const startedAt = performance.now();
    this.#writing = (async () => {
      // Taken together, synchronously: the snapshot reflects exactly the messages in `settlement`.
      const state = this.#d.state();
      const settlement = consumer.take();
      const coveredSeq = consumer.covered();
      const bytes = encodeSnapshot(state.snapshot());
      const streamSeq = state.highestStreamSeq;
      const writtenAt = new Date(state.now()).toISOString();
      this.#dirty = false;
      try {
        // Drift events go out before the checkpoint that records them as reported.
        await this.#d.flush();
        await this.#d.store.write(bytes, { streamSeq, coveredSeq, writtenAt });
        settle(settlement);
        this.#last = { streamSeq, writtenAt };
        this.#written++;
        this.#d.metrics.checkpoints.inc();
        this.#d.metrics.unsettledMessages.set(consumer.unsettled);
      } catch (err) {
        // Nothing is settled: the next checkpoint covers these messages too.
        consumer.putBack(settlement);
        this.#dirty = true;
        if (isSeccomposeError(err, "SC_CHECKPOINT_CONFLICT")) {
          this.#d.lost(err);
          return;
        }
        this.#d.log.error({ err }, "checkpoint failed; will retry");
        return;
      }
      if (!this.#prunedForeign) {
        this.#prunedForeign = true;
        const pruned = await this.#d.store.pruneForeignChunks().catch(() => 0);
        if (pruned > 0)
          this.#d.log.info({ chunks: pruned }, "removed checkpoint chunks of earlier processes");
      }
    })().finally(() => {
      this.#writing = undefined;
      const endedAt = performance.now();
      this.#nextTimedAt = endedAt + CHECKPOINT_SPACING * (endedAt - startedAt);
    });
    return this.#writing;
  }

  /** A checkpoint that reflects the state as it is now; false when storing it failed. */
  async writeNow(): Promise<boolean> {
    // One under way may have taken its snapshot before the change; any started from here has it.
    await this.#writing;
    const before = this.#written;
    this.#dirty = true;
    await this.write();
    return this.#written > before;
  }

  /** The last checkpoint before the partition is handed back: after the one under way, if any. */
  async final(): Promise<void> {
    await this.#writing;
    await this.write();
  }
}
