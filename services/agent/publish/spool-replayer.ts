/**
 * Replays the spool to stream SC_EVENTS once NATS is back: in spool order, with the direct path's
 * window of publishes in flight, a FIN only after every earlier message of the spool was
 * acknowledged, each file deleted after its ack. A failed round waits out a backoff, cut short by
 * a reconnect.
 */
import type { Logger } from "pino";
import { isTransientNatsError, toSeccomposeError } from "../../../lib/nats/errors.ts";
import { Signal } from "./signal.ts";
import type { Spool, SpoolEntry, SpoolRecord } from "./spool.ts";
import { describeRecord } from "./spool.ts";

export interface SpoolReplayerDeps {
  spool: Spool;
  logger: Logger;
  maxInFlight: number;
  /** One publish with the record's message id; rejects as the JetStream client does. */
  publishOnce: (record: SpoolRecord) => Promise<{ duplicate: boolean }>;
  /** Delay before the next round after `failedRounds` failed ones. */
  backoff: (failedRounds: number) => number;
  connected: () => boolean;
  closing: () => boolean;
  /** A replayed message was acknowledged. */
  onAcked: (record: SpoolRecord, duplicate: boolean) => void;
  /** JetStream refused a replayed message for good; the spool set it aside. */
  onRejected: () => void;
  /** A file left the spool (or was set aside): drain() and close() look again. */
  onProgress: () => void;
  /** The spool is empty again: the direct path may take new messages. */
  onEmptied: () => void;
}

export class SpoolReplayer {
  readonly #deps: SpoolReplayerDeps;
  /** Spool appended, reconnected or closing: the loop has work. */
  readonly #work = new Signal();
  /** Reconnected or closing: cuts a backoff short. */
  readonly #urgent = new Signal();

  constructor(deps: SpoolReplayerDeps) {
    this.#deps = deps;
  }

  /** Something changed: the spool grew (`urgent` false) or NATS came back or closing began. */
  wake(urgent: boolean): void {
    this.#work.notify();
    if (urgent) this.#urgent.notify();
  }

  /** The loop; resolves once closing. */
  async run(): Promise<void> {
    const deps = this.#deps;
    let failedRounds = 0;
    while (!deps.closing()) {
      if (!deps.connected() || deps.spool.size === 0) {
        await this.#work.wait();
        continue;
      }
      if (await this.#round()) {
        failedRounds = 0;
        if (deps.spool.size === 0) {
          deps.logger.info({ event: "spool.replayed" }, "spooled event messages replayed to JetStream");
          deps.onEmptied();
        }
      } else {
        failedRounds++;
        await this.#urgent.wait(deps.backoff(failedRounds));
      }
    }
  }

  /** Sends the spool in order with the same window as the direct path; false if a publish failed. */
  async #round(): Promise<boolean> {
    const deps = this.#deps;
    const inFlight = new Set<Promise<void>>();
    let ok = true;
    for (const entry of deps.spool.entries()) {
      if (!ok || deps.closing() || !deps.connected()) break;
      if (entry.kind === "fin") await Promise.all(inFlight);
      while (inFlight.size >= deps.maxInFlight) await Promise.race(inFlight);
      if (!ok) break;
      // Read here, one file after another, so the publishes leave in spool order.
      let record: SpoolRecord;
      try {
        record = await deps.spool.read(entry);
      } catch {
        // The spool set the file aside and logged why; the rest of the queue goes on.
        deps.onProgress();
        continue;
      }
      const replay: Promise<void> = this.#replayOne(entry, record)
        .then(
          (sent) => {
            if (!sent) ok = false;
          },
          (err: unknown) => {
            deps.logger.error({ file: entry.file, err }, "spool replay failed");
            ok = false;
          },
        )
        .finally(() => inFlight.delete(replay));
      inFlight.add(replay);
    }
    await Promise.all(inFlight);
    return ok && deps.connected();
  }

  /** True when the entry left the spool (acknowledged, or set aside as unpublishable). */
  async #replayOne(entry: SpoolEntry, record: SpoolRecord): Promise<boolean> {
    const deps = this.#deps;
    try {
      const ack = await deps.publishOnce(record);
      deps.onAcked(record, ack.duplicate);
    } catch (err) {
      if (isTransientNatsError(err)) return false;
      deps.onRejected();
      await deps.spool.reject(entry, toSeccomposeError(err, `replaying ${describeRecord(record)}`).message);
      deps.onProgress();
      return true;
    }
    try {
      await deps.spool.remove(entry);
    } catch (err) {
      // Kept for the next round: re-publishing it is harmless, the stream drops the duplicate.
      deps.logger.warn({ file: entry.file, err }, "cannot delete a replayed spool file");
      return false;
    }
    deps.onProgress();
    return true;
  }
}
