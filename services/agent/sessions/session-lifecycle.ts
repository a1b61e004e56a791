/**
 * Starting, stopping and dropping this node's sessions, and restoring them when the agent starts.
 * These control operations run one at a time, and every change of the running set is applied to
 * Falco (falco-plan.ts). A stop first waits for the alerts of syscalls made before it, closes the
 * session's gaps, then sends its last batches and its FIN (session-flusher.ts).
 */
import type { Logger } from "pino";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import type { FalcoControl } from "../ports.ts";
import type { FalcoPlan } from "./falco-plan.ts";
import type { NodeSessions } from "./node-sessions.ts";
import { closeCaptureGaps } from "./recording-gaps.ts";
import type { SessionFlusher } from "./session-flusher.ts";
import { removeSessionData } from "./session-store.ts";
import { newSession, persistSession, type Session } from "./session.ts";

/** How long stop waits for the probe that proves every alert before it arrived. */
const STOP_BARRIER_MS = 10_000;

export interface SessionLifecycleDeps {
  node: string;
  stateDir: string;
  falco: FalcoControl;
  logger: Logger;
  clock: () => number;
  /** The syscalls every session's tracker books for each container (session.ts). */
  nonReturning: readonly string[];
  /** Sessions running or stopping at once; a start beyond it is refused (SC_SESSION_LIMIT). */
  maxActiveSessions: number;
  sessions: NodeSessions;
  flusher: SessionFlusher;
  plan: FalcoPlan;
  /** Publishing and writing the local record run one at a time, the periodic flush's included. */
  records: SerialQueue;
  noteError: (err: unknown) => void;
  /** The running sessions changed (sorted by id): alerts go to these from now on. */
  onRunning: (running: Session[]) => void;
}

export class SessionLifecycle {
  readonly #deps: SessionLifecycleDeps;
  readonly #control = new SerialQueue();
  #running: Session[] = [];
  #replanQueued = false;

  constructor(deps: SessionLifecycleDeps) {
    this.#deps = deps;
  }

  /**
   * Loads the local record of every session (node-sessions.ts), writes back what the restore
   * changed, and applies the sessions that run to Falco. Call once, before anything else.
   */
  async restore(): Promise<void> {
    const { sessions } = this.#deps;
    await sessions.restore(this.#deps.noteError);
    this.#refreshRunning();
    await this.#deps.records.run(async () => {
      for (const session of sessions.values()) if (session.dirty) await this.#persist(session);
      await sessions.pruneFinished();
    });
    if (this.#running.length > 0) await this.#applyFalco();
  }

  start(record: SessionRecord): Promise<void> {
    return this.#control.run(async () => {
      // The desired state may already say stopping: converge to it.
      if (record.state !== "running") {
        await this.#stop(record.id);
        return;
      }
      const { sessions } = this.#deps;
      if (sessions.has(record.id)) {
        if (this.#deps.plan.stale) await this.#applyFalco();
        return;
      }
      const valid = assertValid("sessionRecord", record, `start of session ${record.id}`);
      const active = sessions.activeCount();
      if (active >= this.#deps.maxActiveSessions) {
        throw new SeccomposeError(
          ErrorCodes.SC_SESSION_LIMIT,
          `node ${this.#deps.node} already records ${active} session(s), its maximum (maxActiveSessions); stop one before starting session ${valid.id}`,
        );
      }
      const capturing = this.#deps.falco.status().state === "running";
      const session = newSession(valid, this.#deps.nonReturning, this.#deps.clock(), capturing);
      sessions.add(session);
      this.#refreshRunning();
      this.#deps.logger.info({ session: valid.id, targets: valid.targets }, "session started");
      await this.#deps.records.run(() => this.#persist(session));
      await this.#applyFalco();
    });
  }

  stop(sessionId: string): Promise<{ batches: number }> {
    return this.#control.run(() => this.#stop(sessionId));
  }

  /**
   * The session's record was deleted: it stops at once, without a last flush or FIN (nobody would
   * take them), and its local record is removed. Batches already handed to the publisher may still
   * go out; the aggregator refuses them as data of a session without a record.
   */
  drop(sessionId: string): Promise<void> {
    return this.#control.run(async () => {
      const session = this.#deps.sessions.get(sessionId);
      if (session === undefined) return;
      const wasRunning = session.state === "running";
      this.#deps.sessions.forget(sessionId);
      this.#refreshRunning();
      // After any flush under way, which may still write the record it has in hand.
      await this.#deps.records.run(() => removeSessionData(this.#deps.stateDir, sessionId));
      this.#deps.logger.info(
        { session: sessionId },
        "session deleted: its local record and unsent data are discarded",
      );
      if (wasRunning) await this.#applyFalcoNoting();
    });
  }

  /** Applies the plan to Falco again when it is stale (the periodic flush calls this first). */
  async reapplyIfStale(): Promise<void> {
    if (this.#deps.plan.stale) await this.#control.run(() => this.#applyFalco());
  }

  /** A re-plan as soon as the control operations are free (a new target must not wait for the timer). */
  replanSoon(): void {
    if (this.#replanQueued) return;
    this.#replanQueued = true;
    void this.#control
      .run(async () => {
        this.#replanQueued = false;
        if (this.#running.length > 0) await this.#applyFalco();
      })
      .catch((err: unknown) => this.#deps.noteError(err));
  }

  /** Waits until every alert of a syscall made before the stop arrived; books what cannot be proven. */
  async #awaitFinalAlerts(session: Session): Promise<void> {
    const { falco, clock } = this.#deps;
    const stopAt = clock();
    if (falco.status().state === "running") {
      if (await falco.barrier(STOP_BARRIER_MS)) return;
      session.gaps.push({
        from: stopAt,
        to: clock(),
        reason: `Falco did not confirm within ${STOP_BARRIER_MS} ms that every alert before the stop was read`,
      });
    }
  }

  async #stop(sessionId: string): Promise<{ batches: number }> {
    const session = this.#deps.sessions.get(sessionId);
    if (session === undefined) return { batches: 0 };
    if (session.state === "stopped") return { batches: session.nextSeq - 1 };
    const wasRunning = session.state === "running";
    // While the session still runs, so that the alerts the barrier waits for still reach it.
    if (wasRunning) {
      await this.#awaitFinalAlerts(session);
      closeCaptureGaps(session, this.#deps.clock(), () => {
        const status = this.#deps.falco.status();
        return status.lastExit === undefined ? `state ${status.state}` : status.lastExit;
      });
    }
    session.state = "stopping";
    session.dirty = true;
    this.#refreshRunning();
    await this.#deps.records.run(async () => {
      await this.#deps.flusher.finish(session);
      session.state = "stopped";
      session.dirty = true;
      await this.#persist(session);
      await this.#deps.sessions.finished(sessionId);
    });
    this.#deps.logger.info({ session: sessionId, batches: session.nextSeq - 1 }, "session stopped");
    // The session's data is complete; should this fail, Falco is reconfigured on the next flush.
    if (wasRunning) await this.#applyFalcoNoting();
    return { batches: session.nextSeq - 1 };
  }

  #refreshRunning(): void {
    this.#running = this.#deps.sessions.running();
    this.#deps.onRunning(this.#running);
  }

  #applyFalco(): Promise<void> {
    return this.#deps.plan.apply(this.#running);
  }

  /** Applies the plan after a session left; a failure is noted, not thrown: the plan stays stale. */
  async #applyFalcoNoting(): Promise<void> {
    try {
      await this.#applyFalco();
    } catch (err) {
      this.#deps.noteError(err);
    }
  }

  #persist(session: Session): Promise<void> {
    return persistSession(this.#deps.stateDir, session, this.#deps.clock());
  }
}
