/**
 * A partition's publication passes: each asks the pod ownership check again about the entries that
 * wait for the pod watch, performs what AggregatorState.due() decided (action-performer.ts) while
 * the replica holds the partition's lease, and forgets finalised sessions whose messages have aged
 * out of the stream. One pass runs at a time; a request during a pass queues one more. Until the
 * stream as it was at start-up is merged, each pass first asks the consumer whether it is. At
 * start-up, continuous revisions continue after those published since the last checkpoint.
 */
import type { ConsumerInfo } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { ActionPerformer } from "./action-performer.ts";
import { reconcileRevision } from "./continuous.ts";
import type { AggregatorState, MergeOutcome } from "./session-state.ts";

export interface PublicationPassDeps {
  /** The partition's state as it is now (restored at start-up). */
  state: () => AggregatorState;
  performer: Pick<ActionPerformer, "perform">;
  /** Whether this replica still holds the partition's lease. */
  holds: () => boolean;
  /** The partition's durable consumer as the server sees it, when it can be read. */
  consumerInfo: () => Promise<ConsumerInfo | undefined>;
  /** How long the stream keeps messages (0: without limit). */
  retentionSeconds: number;
  /** The latest continuous revision published of a workload (`token`) of `session`. */
  latestRevision: (session: string, token: string) => Promise<number | undefined>;
  /** Entries that waited for the pod watch were merged or refused: reported like any merge. */
  merged: (outcome: MergeOutcome) => void;
  /** The state changed: a checkpoint is due. */
  changed: () => void;
  log: Logger;
}

export class PublicationPasses {
  readonly #d: PublicationPassDeps;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #checkingCatchUp = false;

  constructor(deps: PublicationPassDeps) {
    this.#d = deps;
  }

  /** The pass under way, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** No pass starts from now on, and the one under way performs nothing more. */
  stop(): void {
    this.#stopped = true;
  }

  /** Continuous revisions published after the last checkpoint must not be numbered again. */
  async reconcileRevisions(): Promise<void> {
    for (const s of this.#d.state().sessions.values()) {
      if (s.mode !== "continuous" || s.finalised !== undefined) continue;
      for (const ws of s.workloads.values()) {
        const published = await this.#d.latestRevision(s.id, ws.token);
        if (published !== undefined) reconcileRevision(ws.track, published);
      }
    }
  }

  /** Runs a pass, or one more after the pass under way. */
  request(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      await this.#checkCaughtUp();
      do {
        this.#again = false;
        const state = this.#d.state();
        const rechecked = state.recheckWaiting();
        for (const outcome of rechecked) this.#d.merged(outcome);
        if (rechecked.length > 0) this.#d.changed();
        for (const action of state.due()) {
          // Fencing: a replica that lost its lease (paused, cut off) publishes nothing.
          if (this.#stopped || !this.#d.holds()) return;
          try {
            await this.#d.performer.perform(action, this.#d.log);
          } catch (err) {
            this.#d.log.error(
              { session: action.session, action: action.kind, err },
              "publishing failed; will retry",
            );
          }
        }
        if (this.#d.retentionSeconds > 0) {
          for (const id of state.pruneFinalised(this.#d.retentionSeconds * 1000)) {
            this.#d.changed();
            this.#d.log.info({ session: id }, "forgot a finalised session whose messages have aged out");
          }
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = undefined;
    });
  }

  /**
   * Messages older than the start-up sequence may have aged out of (or been deleted from) the
   * stream, so "caught up" is also reached when the consumer has nothing left to deliver and
   * everything delivered was merged: either acked (acks follow merges) or up to the delivered sequence.
   */
  async #checkCaughtUp(): Promise<void> {
    const state = this.#d.state();
    if (state.caughtUp() || this.#checkingCatchUp) return;
    this.#checkingCatchUp = true;
    try {
      const info = await this.#d.consumerInfo();
      if (
        info !== undefined &&
        info.num_pending === 0 &&
        (info.num_ack_pending === 0 || state.highestStreamSeq >= info.delivered.stream_seq)
      ) {
        state.markCaughtUp();
        this.#d.log.info({ streamSeq: state.highestStreamSeq }, "caught up with the stream");
      }
    } catch (err) {
      this.#d.log.warn({ err }, "could not read the consumer info");
    } finally {
      this.#checkingCatchUp = false;
    }
  }
}
