/**
 * Converges the agent to the desired sessions in KV bucket sc_sessions: the records present at boot
 * first (so an agent restarted mid-session resumes its sessions by itself), then every change.
 * Entries are applied one at a time, in revision order. The bucket is followed without a consumer
 * (lib/nats/session-directory.ts).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { SessionFollower, type SessionDirectory } from "../../../lib/nats/session-directory.ts";
import type { RecordChange } from "../../../lib/nats/session-records.ts";
import type { AgentController } from "../ports.ts";

export interface SessionWatchOptions {
  nc: NatsConnection;
  directory: SessionDirectory;
  controller: AgentController;
  logger: Logger;
  /** How often every record is re-read, in case a change notification was lost. */
  resyncMs?: number;
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
  #follower: SessionFollower | undefined;

  private constructor(opts: SessionWatchOptions) {
    this.#controller = opts.controller;
    this.#logger = opts.logger;
  }

  /** Starts watching; resolves once every record that existed at the call was applied. */
  static async start(opts: SessionWatchOptions): Promise<SessionWatch> {
    const watch = new SessionWatch(opts);
    watch.#follower = await SessionFollower.start({
      nc: opts.nc,
      directory: opts.directory,
      apply: (change) => watch.#apply(change),
      invalid: (session, error) => {
        watch.#stats.invalid++;
        opts.logger.warn({ session, err: error }, "skipped an invalid session record");
      },
      logger: opts.logger,
      ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
    });
    return watch;
  }

  stats(): SessionWatchStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    await this.#follower?.stop();
  }

  /**
   * A running record starts its session and any other state stops it; a deleted record (`seccompose
   * session delete`) drops it, with everything the agent kept of it.
   */
  #apply({ id, record }: RecordChange): Promise<void> {
    if (record === undefined) return this.#control(id, "drop", () => this.#controller.dropSession(id));
    return record.state === "running"
      ? this.#control(id, "start", () => this.#controller.startSession(record))
      : this.#control(id, "stop", () => this.#controller.stopSession(id));
  }

  async #control(
    session: string,
    action: "start" | "stop" | "drop",
    call: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await call();
      this.#stats.applied++;
      this.#logger.info({ session, action }, "session record applied");
    } catch (err) {
      this.#stats.failed++;
      this.#logger.error({ session, action, err }, "could not apply a session record");
    }
  }
}
