/**
 * The sessions this node knows, running, stopping or stopped: restored from their local records
 * when the agent starts, and the stopped ones kept up to a bound, after which the oldest is
 * forgotten and its local record removed.
 */
import type { Logger } from "pino";
import { readAllSessionData, removeSessionData } from "./session-store.ts";
import { sessionFromData, type Session } from "./session.ts";

export interface NodeSessionsDeps {
  stateDir: string;
  logger: Logger;
  clock: () => number;
  /** The syscalls every session's tracker books for each container (session.ts). */
  nonReturning: readonly string[];
  /** Stopped sessions whose local record is kept. */
  maxFinished: number;
}

export class NodeSessions {
  readonly #deps: NodeSessionsDeps;
  readonly #byId = new Map<string, Session>();
  /** Ids of stopped sessions, oldest first: the order in which their records are removed. */
  readonly #finished: string[] = [];

  constructor(deps: NodeSessionsDeps) {
    this.#deps = deps;
  }

  get(sessionId: string): Session | undefined {
    return this.#byId.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.#byId.has(sessionId);
  }

  values(): IterableIterator<Session> {
    return this.#byId.values();
  }

  /** Sessions running or stopping. */
  activeCount(): number {
    return [...this.#byId.values()].filter((s) => s.state !== "stopped").length;
  }

  /** The running sessions, by id. */
  running(): Session[] {
    return [...this.#byId.values()]
      .filter((s) => s.state === "running")
      .sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
  }

  add(session: Session): void {
    this.#byId.set(session.record.id, session);
  }

  /**
   * Loads every local record. A session that was running resumes with its counts and batch
   * numbers, and the time from its last record to now is booked as a gap (reported in its FIN).
   * A record that cannot be read or used is skipped and handed to `onError`.
   */
  async restore(onError: (err: unknown) => void): Promise<void> {
    const { sessions, errors } = await readAllSessionData(this.#deps.stateDir);
    for (const err of errors) onError(err);
    const now = this.#deps.clock();
    for (const data of sessions) {
      let session: Session;
      try {
        session = sessionFromData(data, this.#deps.nonReturning, now);
      } catch (err) {
        onError(err);
        continue;
      }
      if (session.state === "running" && now > data.persistedAt) {
        session.gaps.push({ from: data.persistedAt, to: now, reason: "the agent was not running" });
        session.dirty = true;
      }
      // Nothing is recorded until the restarted Falco captures: the same gap goes on until then.
      session.captured = true;
      session.down = { from: now, reason: "the agent was not running" };
      this.#byId.set(session.record.id, session);
      this.#deps.logger.info(
        {
          event: "session.restored",
          session: session.record.id,
          state: session.state,
          nextSeq: session.nextSeq,
          containers: session.tracker.containerCount,
        },
        "session restored from local record",
      );
    }
    this.#finished.push(
      ...sessions
        .filter((d) => d.state === "stopped" && this.#byId.has(d.session.id))
        .sort((a, b) => a.persistedAt - b.persistedAt)
        .map((d) => d.session.id),
    );
  }

  /** The session was stopped: it joins the finished ones, and the oldest beyond the bound go. */
  async finished(sessionId: string): Promise<void> {
    this.#finished.push(sessionId);
    await this.pruneFinished();
  }

  /** Forgets a session at once; its local record is the caller's to remove. */
  forget(sessionId: string): void {
    this.#byId.delete(sessionId);
    const finished = this.#finished.indexOf(sessionId);
    if (finished >= 0) this.#finished.splice(finished, 1);
  }

  /** Forgets the oldest stopped sessions beyond the bound, in memory and on disk. */
  async pruneFinished(): Promise<void> {
    while (this.#finished.length > this.#deps.maxFinished) {
      const id = this.#finished.shift()!;
      this.#byId.delete(id);
      await removeSessionData(this.#deps.stateDir, id);
      this.#deps.logger.info({ session: id }, "removed the local record of a finished session");
    }
  }
}
