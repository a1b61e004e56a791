/**
 * Converges the agent to the desired sessions in KV bucket sc_sessions: the records present at boot
 * first (so an agent restarted mid-session resumes its sessions by itself), then every change.
 * Entries are applied one at a time, in revision order.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { assertValid } from "../../../lib/contracts/index.ts";
import { SeccomposeError } from "../../../lib/errors.ts";
import { BUCKET_SESSIONS } from "../../../lib/subjects.ts";
import type { AgentController } from "../ports.ts";

export interface SessionWatchOptions {
  /** The sc_sessions bucket (see lib/nats/streams.ts ensureKv). */
  kv: KV;
  controller: AgentController;
  logger: Logger;
}

export interface SessionWatchStats {
  /** Entries that led to a start or stop. */
  applied: number;
  /** Entries that were not a valid SessionRecord for their key; skipped. */
  invalid: number;
  /** Starts or stops the controller failed. */
  failed: number;
}

export class SessionWatch {
  readonly #controller: AgentController;
  readonly #logger: Logger;
  readonly #stats: SessionWatchStats = { applied: 0, invalid: 0, failed: 0 };
  #watcher: QueuedIterator<KvWatchEntry> | undefined;
  #loop: Promise<void> | undefined;

  private constructor(opts: SessionWatchOptions) {
    this.#controller = opts.controller;
    this.#logger = opts.logger;
  }

  /**
   * Starts watching; resolves once every record that existed at the call was applied.
   * The watch delivers each key's current value first, in revision order, then the updates, so
   * the initial state is complete when the bucket's last revision at the call was seen.
   */
  static async start(opts: SessionWatchOptions): Promise<SessionWatch> {
    const watch = new SessionWatch(opts);
    const { streamInfo } = await opts.kv.status();
    const initialRevision = streamInfo.state.last_seq;
    const watcher = await opts.kv.watch();
    watch.#watcher = watcher;
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => (initialized = resolve));
    if (initialRevision === 0) initialized();
    watch.#loop = (async () => {
      try {
        for await (const entry of watcher) {
          await watch.#apply(entry);
          if (entry.revision >= initialRevision) initialized();
        }
      } catch (err) {
        opts.logger.error({ err: (err as Error).message }, `watch of KV ${BUCKET_SESSIONS} failed`);
      } finally {
        // The watch may end (stop(), closed connection) before the initial state was complete.
        initialized();
      }
    })();
    await ready;
    return watch;
  }

  stats(): SessionWatchStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    this.#watcher?.stop();
    await this.#loop;
  }

  async #apply(entry: KvWatchEntry): Promise<void> {
    const where = `KV ${BUCKET_SESSIONS} key ${entry.key} revision ${entry.revision}`;
    if (entry.operation !== "PUT") {
      // The record was deleted or purged: nothing may record for it any more.
      await this.#control(entry.key, "stop", () => this.#controller.stopSession(entry.key));
      return;
    }
    let value: unknown;
    try {
      try {
        value = entry.json();
      } catch (err) {
        throw new SeccomposeError("SC_MESSAGE_INVALID", `${where} is not JSON: ${(err as Error).message}`);
      }
      const record = assertValid("sessionRecord", value, where);
      if (record.id !== entry.key) {
        throw new SeccomposeError(
          "SC_MESSAGE_INVALID",
          `${where} holds session "${record.id}", not "${entry.key}"`,
        );
      }
      if (record.state === "running") {
        await this.#control(record.id, "start", () => this.#controller.startSession(record));
      } else {
        await this.#control(record.id, "stop", () => this.#controller.stopSession(record.id));
      }
    } catch (err) {
      this.#stats.invalid++;
      this.#logger.warn({ err: (err as Error).message }, "skipped an invalid session record");
    }
  }

  async #control(session: string, action: "start" | "stop", call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
      this.#stats.applied++;
      this.#logger.info({ session, action }, "session record applied");
    } catch (err) {
      this.#stats.failed++;
      this.#logger.error(
        { session, action, err: (err as Error).message },
        "could not apply a session record",
      );
    }
  }
}
