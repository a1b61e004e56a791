/**
 * The agent's core: which sessions run, which containers each records, edge aggregation of their
 * syscalls into batches, the FIN on stop, and the local record that survives a restart. This
 * module takes Falco's alerts, runs the periodic flush and answers for the whole; the jobs are
 * the modules next to it.
 *
 * Data flow: alert → attribution (alert-router.ts: cgroup pod UID + container ID → pod directory
 * → workload) → every running session whose targets select the container → its NoveltyTracker.
 * Every flushIntervalMs, each session's changes become numbered batches, written to the local
 * record before they are published (session-flusher.ts). Starting and stopping sessions is
 * session-lifecycle.ts; the sessions and their local records, node-sessions.ts; what Falco is
 * asked for, falco-plan.ts; health, health-book.ts.
 */
import type { Logger } from "pino";
import type {
  AgentHealth,
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
} from "../../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import { scmpArchesForNode } from "../../../lib/syscalls/architectures.ts";
import { nonReturningSyscalls } from "../../../lib/syscalls/non-returning.ts";
import type { AdaptiveSyscallOptions } from "../falco/syscall-set-policy.ts";
import type { FalcoAlert } from "../intake/alert.ts";
import type { AgentController, EventPublisher, FalcoControl, PodDirectory } from "../ports.ts";
import { AlertRouter } from "./alert-router.ts";
import { FalcoPlan } from "./falco-plan.ts";
import { HealthBook, type HealthCounters } from "./health-book.ts";
import { LeftOutCoverage } from "./left-out-coverage.ts";
import { NodeSessions } from "./node-sessions.ts";
import { bookDrops, noteCaptureChange } from "./recording-gaps.ts";
import { needsPersist, nodeProfiles, persistSession, sessionStatus, type Session } from "./session.ts";
import { SessionFlusher } from "./session-flusher.ts";
import { SessionLifecycle } from "./session-lifecycle.ts";

export interface SessionManagerDeps {
  node: string;
  /** As `uname -m` reports it. */
  arch: string;
  kernel: string;
  agentVersion: string;
  stateDir: string;
  falco: FalcoControl;
  publisher: EventPublisher;
  pods: PodDirectory;
  logger: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  flushIntervalMs: number;
  maxEventsPerBatch: number;
  /** How long events of a container whose pod is not known yet are kept for attribution. */
  holdUnknownMs: number;
  /** At most this many such events are kept; the oldest are dropped first. Default 10,000. */
  maxHeldEvents?: number;
  /**
   * A timer flush sends at most this many batches per session; a larger backlog (a burst of new
   * containers) goes out over the next flushes, which bounds the memory a flush needs. Default 20.
   */
  maxBatchesPerFlush?: number;
  /** Sessions running or stopping at once; a start beyond it is refused (SC_SESSION_LIMIT). Default 16. */
  maxActiveSessions?: number;
  /**
   * Stopped sessions whose local record (and node profile) is kept; the oldest beyond it are
   * removed. Default 32.
   */
  maxFinishedSessions?: number;
  /** The window of health's `recent` counts. Default 300 s. */
  healthWindowMs?: number;
  /** The adaptive syscall set (falco/syscall-set-policy.ts); off without it. */
  adaptiveSyscalls?: AdaptiveSyscallOptions;
  /** Leave known pods no session targets out of Falco's rule (falco.excludeNonTargetPods). */
  excludeNonTargetPods?: boolean;
}

export const DEFAULT_HEALTH_WINDOW_MS = 300_000;
const DEFAULT_MAX_HELD_EVENTS = 10_000;
const DEFAULT_MAX_BATCHES_PER_FLUSH = 20;
export const DEFAULT_MAX_ACTIVE_SESSIONS = 16;
export const DEFAULT_MAX_FINISHED_SESSIONS = 32;

export class SessionManager implements AgentController {
  readonly #deps: SessionManagerDeps;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #sessions: NodeSessions;
  /** The running sessions, sorted by id; set by the lifecycle whenever they change. */
  #running: Session[] = [];
  readonly #router: AlertRouter<Session>;
  readonly #flusher: SessionFlusher;
  readonly #plan: FalcoPlan;
  readonly #lifecycle: SessionLifecycle;
  readonly #health: HealthBook;
  /** The health book's counters, counted into directly on the per-alert path. */
  readonly #counters: HealthCounters;
  /** Publishing and writing the local record run one at a time. */
  readonly #records = new SerialQueue();
  #timer: NodeJS.Timeout | undefined;
  #adaptiveTimer: NodeJS.Timeout | undefined;
  #timerFlushing = false;

  constructor(deps: SessionManagerDeps) {
    for (const key of [
      "maxEventsPerBatch",
      "maxBatchesPerFlush",
      "maxHeldEvents",
      "maxActiveSessions",
      "maxFinishedSessions",
    ] as const) {
      const value = deps[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new SeccomposeError(
          ErrorCodes.SC_CONFIG_INVALID,
          `${key} must be a positive integer, got ${value}`,
        );
      }
    }
    this.#deps = deps;
    const clock = deps.clock ?? Date.now;
    const { node, arch, kernel, agentVersion, stateDir, logger } = deps;
    this.#clock = clock;
    this.#log = logger;
    const windowMs = deps.healthWindowMs ?? DEFAULT_HEALTH_WINDOW_MS;
    this.#health = new HealthBook({ node, arch, kernel, agentVersion }, windowMs, clock, logger);
    this.#counters = this.#health.counters;
    const nonReturning = nonReturningSyscalls(scmpArchesForNode(arch));
    const maxFinished = deps.maxFinishedSessions ?? DEFAULT_MAX_FINISHED_SESSIONS;
    this.#sessions = new NodeSessions({ stateDir, logger, clock, nonReturning, maxFinished });
    const coverage = new LeftOutCoverage();
    this.#router = new AlertRouter<Session>({
      pods: deps.pods,
      clock,
      logger,
      holdUnknownMs: deps.holdUnknownMs,
      maxHeldEvents: deps.maxHeldEvents ?? DEFAULT_MAX_HELD_EVENTS,
      coverage,
      onUncovered: () => this.#lifecycle.replanSoon(),
      onUnattributed: (events) => {
        this.#counters.unattributedEvents += events;
      },
    });
    this.#flusher = new SessionFlusher({
      node,
      arch,
      stateDir,
      publisher: deps.publisher,
      clock,
      maxEventsPerBatch: deps.maxEventsPerBatch,
      maxBatchesPerFlush: deps.maxBatchesPerFlush ?? DEFAULT_MAX_BATCHES_PER_FLUSH,
      counters: this.#counters,
    });
    this.#plan = new FalcoPlan({
      falco: deps.falco,
      pods: deps.pods,
      clock,
      logger,
      coverage,
      adaptiveSyscalls: deps.adaptiveSyscalls,
      excludeNonTargetPods: deps.excludeNonTargetPods,
    });
    this.#lifecycle = new SessionLifecycle({
      node,
      stateDir,
      falco: deps.falco,
      logger,
      clock,
      nonReturning,
      maxActiveSessions: deps.maxActiveSessions ?? DEFAULT_MAX_ACTIVE_SESSIONS,
      sessions: this.#sessions,
      flusher: this.#flusher,
      plan: this.#plan,
      records: this.#records,
      noteError: (err) => this.#health.noteError(err),
      onRunning: (running) => {
        this.#running = running;
        this.#router.setRunning(running);
      },
    });
    deps.pods.onChange(() => this.#onPodsChanged());
    // A window without capture is a gap of every running session.
    deps.falco.onCaptureChange((change) => {
      for (const session of this.#running) noteCaptureChange(session, change);
    });
  }

  /** Loads the local record of every session and resumes those that ran. Call once, before anything else. */
  restore(): Promise<void> {
    return this.#lifecycle.restore();
  }

  /** Flushes every flushIntervalMs until close(). */
  startFlushing(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#timerFlushing) return;
      this.#timerFlushing = true;
      void (async () => {
        try {
          await this.#lifecycle.reapplyIfStale();
          await this.flush();
        } catch (err) {
          this.#health.noteError(err);
        } finally {
          this.#timerFlushing = false;
        }
      })();
    }, this.#deps.flushIntervalMs);
    this.#timer.unref();
    const adaptive = this.#deps.adaptiveSyscalls;
    if (adaptive !== undefined) {
      // The first lowering should come soon after a heavy syscall appears: drops begin at once.
      this.#adaptiveTimer = setInterval(() => {
        if (this.#running.length > 0) this.#lifecycle.replanSoon();
      }, adaptive.evaluateIntervalMs);
      this.#adaptiveTimer.unref();
    }
  }

  /** Stops the timer and flushes; sessions stay as they are in the local record, for the next start. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#adaptiveTimer);
    this.#adaptiveTimer = undefined;
    await this.flush();
    await this.#records.run(async () => {
      for (const session of this.#sessions.values())
        if (needsPersist(session)) await persistSession(this.#deps.stateDir, session, this.#clock());
    });
  }

  startSession(record: SessionRecord): Promise<void> {
    return this.#lifecycle.start(record);
  }

  stopSession(sessionId: string): Promise<{ batches: number }> {
    return this.#lifecycle.stop(sessionId);
  }

  dropSession(sessionId: string): Promise<void> {
    return this.#lifecycle.drop(sessionId);
  }

  sessionStatus(sessionId?: string): NodeSessionStatus[] {
    const sessions = sessionId === undefined ? [...this.#sessions.values()] : [this.#sessions.get(sessionId)];
    return sessions.filter((s): s is Session => s !== undefined).map(sessionStatus);
  }

  health(): AgentHealth {
    return this.#health.report({
      falco: this.#deps.falco.status(),
      adaptive: this.#plan.adaptiveState(this.#clock()),
      activeSessions: this.#running.map((s) => s.record.id),
      spoolBytes: this.#deps.publisher.spoolBytes(),
      heldEvents: this.#router.heldEvents,
    });
  }

  nodeProfiles(sessionId: string): ProfileDocument[] {
    const session = this.#sessions.get(sessionId);
    return session === undefined ? [] : nodeProfiles(session, this.#deps.node, this.#deps.arch);
  }

  /**
   * Books one alert from Falco. Runs once per alert: keep it cheap. `hotSyscalls`: the alert came
   * from the hot-syscall split's second Falco (falco/split-falco.ts), whose drops can only have
   * hidden those syscalls.
   */
  handleAlert(alert: FalcoAlert, hotSyscalls?: readonly string[]): void {
    this.#counters.alertsRead++;
    switch (alert.kind) {
      case "syscall":
        if (this.#running.length > 0) this.#router.route(alert);
        return;
      case "drop": {
        this.#counters.falcoDrops += alert.nDrops;
        const now = this.#clock();
        for (const session of this.#running) {
          session.droppedEvents += alert.nDrops;
          bookDrops(session, now, alert.nDrops, hotSyscalls);
        }
        return;
      }
      case "internal":
        this.#log.warn(
          { rule: alert.rule, priority: alert.priority, message: alert.message },
          "Falco internal alert",
        );
        return;
      case "non-syscall":
        return;
    }
  }

  /** Counts an alert line that could not be parsed. */
  noteParseError(err: unknown): void {
    this.#health.noteParseError(err);
  }

  /** Drains every session into batches and publishes them; also ends the hold of events whose pod never appeared. */
  flush(): Promise<void> {
    this.#health.bookAlerts();
    return this.#records.run(async () => {
      this.#router.expireHeld(this.#clock());
      for (const session of this.#sessions.values()) {
        if (session.state === "stopped") continue;
        try {
          await this.#flusher.flush(session);
        } catch (err) {
          this.#health.noteError(err);
        }
      }
    });
  }

  #onPodsChanged(): void {
    if (this.#plan.podsChanged() && this.#running.length > 0) this.#lifecycle.replanSoon();
    this.#router.podsChanged();
  }
}
