/**
 * The agent's core: which sessions run, which containers each records, edge aggregation of their
 * syscalls into batches, the FIN on stop, and the local record that survives a restart.
 *
 * Data flow: alert → attribution (cgroup pod UID + container ID → pod directory → workload) →
 * every running session whose targets select the container → its NoveltyTracker. Every
 * flushIntervalMs, each session's changes become numbered batches, which are written to the local
 * record before they are published (write-ahead): a batch that was numbered is never lost or
 * renumbered, and after a restart it is published again with the same seq, which the stream and
 * the aggregator de-duplicate.
 */
import { recordPartition } from "../../../lib/partitions.ts";
import type { Logger } from "pino";
import type {
  AgentHealth,
  FinMarker,
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
  SyscallEventBatch,
} from "../../../lib/contracts/types.ts";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { argSpecFor, validateArgSyscalls, type ArgConditionSpec } from "../../../lib/profile/arg-specs.ts";
import { toProfileDocument } from "../../../lib/profile/document.ts";
import { compareWorkloadKeys } from "../../../lib/profile/workload-key.ts";
import { scmpArchesForNode } from "../../../lib/syscalls/architectures.ts";
import { nonReturningSyscalls } from "../../../lib/syscalls/non-returning.ts";
import { NoveltyTracker } from "../edge/novelty-tracker.ts";
import type { FalcoAlert } from "../intake/alert.ts";
import { compileTargets, type TargetMatcher } from "../pods/targets.ts";
import { FALCO_STATE_SYSCALLS, PROBE_SYSCALL } from "../falco/config-writer.ts";
import {
  SyscallSetPolicy,
  type AdaptiveSyscallOptions,
  type SyscallTarget,
} from "../falco/syscall-set-policy.ts";
import { falcoEventToSyscall } from "../../../lib/falco/event-names.ts";
import { workloadId } from "../../../lib/profile/workload-key.ts";
import { AlertRouter } from "./alert-router.ts";
import { LeftOutCoverage } from "./left-out-coverage.ts";
import { RecentCounts } from "./recent-counts.ts";
import {
  bookDrops,
  closeCaptureGaps,
  finGaps,
  noteCaptureChange,
  type RecordingGaps,
} from "./recording-gaps.ts";
import type {
  AgentController,
  CaptureChange,
  EventPublisher,
  FalcoControl,
  FalcoTargets,
  PodDirectory,
} from "../ports.ts";
import {
  readAllSessionData,
  removeSessionData,
  writeSessionData,
  type SessionData,
  type SessionState,
} from "./session-store.ts";

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

const MAX_LAST_ERRORS = 20;
export const DEFAULT_HEALTH_WINDOW_MS = 300_000;
/** How long stop waits for the probe that proves every alert before it arrived. */
const STOP_BARRIER_MS = 10_000;
const DEFAULT_MAX_HELD_EVENTS = 10_000;
const DEFAULT_MAX_BATCHES_PER_FLUSH = 20;
export const DEFAULT_MAX_ACTIVE_SESSIONS = 16;
export const DEFAULT_MAX_FINISHED_SESSIONS = 32;

/** A session on this node; its gap fields are RecordingGaps' (recording-gaps.ts). */
interface Session extends RecordingGaps {
  record: SessionRecord;
  state: SessionState;
  matcher: TargetMatcher;
  /** Specs of the session's argument syscalls; empty when it records no arguments. */
  argSpecs: ReadonlyMap<string, readonly ArgConditionSpec[]>;
  tracker: NoveltyTracker;
  nextSeq: number;
  batchesSent: number;
  droppedEvents: number;
  /** Calls seen before the tracker was (re)created; the tracker counts the rest. */
  eventsSeenBefore: number;
  pending: SyscallEventBatch[];
  /** Tracker calls already in the local record (`dirty`: whether anything else changed since). */
  persistedRecorded: number;
  /** Per workload id, its syscall counts as of a left-out generation (left-out-coverage.ts). */
  seen: { gen: number; counts: Map<string, Map<string, number>> } | undefined;
}

export class SessionManager implements AgentController {
  readonly #deps: SessionManagerDeps;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #nonReturning: readonly string[];

  readonly #sessions = new Map<string, Session>();
  /** Ids of stopped sessions, oldest first: the order in which their records are removed. */
  readonly #finished: string[] = [];
  #running: Session[] = [];
  readonly #router: AlertRouter<Session>;

  readonly #counters = {
    alertsRead: 0,
    parseErrors: 0,
    eventsSent: 0,
    batchesSent: 0,
    falcoDrops: 0,
    unattributedEvents: 0,
  };
  readonly #lastErrors: AgentHealth["lastErrors"] = [];
  readonly #recent: RecentCounts<"alertsRead" | "parseErrors" | "errors">;
  /** alertsRead already booked into #recent: alerts are booked in bulk, keeping handleAlert free of clock reads. */
  #alertsBooked = 0;

  // Control operations run one at a time; publishing and writing the local record too.
  #controlChain: Promise<unknown> = Promise.resolve();
  #recordChain: Promise<unknown> = Promise.resolve();
  #falcoStale = false;
  #replanQueued = false;
  #timer: NodeJS.Timeout | undefined;
  #adaptiveTimer: NodeJS.Timeout | undefined;
  #timerFlushing = false;
  readonly #policy: SyscallSetPolicy | undefined;
  readonly #coverage = new LeftOutCoverage();

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
    this.#clock = deps.clock ?? Date.now;
    this.#log = deps.logger;
    this.#nonReturning = nonReturningSyscalls(scmpArchesForNode(deps.arch));
    this.#router = new AlertRouter<Session>({
      pods: deps.pods,
      clock: this.#clock,
      logger: this.#log,
      holdUnknownMs: deps.holdUnknownMs,
      maxHeldEvents: deps.maxHeldEvents ?? DEFAULT_MAX_HELD_EVENTS,
      coverage: this.#coverage,
      onUncovered: () => this.#replanSoon(),
      onUnattributed: (events) => {
        this.#counters.unattributedEvents += events;
      },
    });
    this.#recent = new RecentCounts(
      ["alertsRead", "parseErrors", "errors"],
      deps.healthWindowMs ?? DEFAULT_HEALTH_WINDOW_MS,
      this.#clock,
    );
    this.#policy =
      deps.adaptiveSyscalls === undefined ? undefined : new SyscallSetPolicy(deps.adaptiveSyscalls);
    deps.pods.onChange(() => this.#onPodsChanged());
    deps.falco.onCaptureChange((change) => this.#onCaptureChange(change));
  }

  /** Books Falco's capture windows into every running session: a window without capture is a gap. */
  #onCaptureChange(change: CaptureChange): void {
    for (const session of this.#running) noteCaptureChange(session, change);
  }

  /**
   * Loads the local record of every session. A session that was running resumes with its counts
   * and batch numbers, and the time from its last record to now is booked as a gap (reported in
   * its FIN). Call once, before anything else.
   */
  async restore(): Promise<void> {
    const { sessions, errors } = await readAllSessionData(this.#deps.stateDir);
    for (const err of errors) this.#noteError(err);
    const now = this.#clock();
    for (const data of sessions) {
      let session: Session;
      try {
        session = this.#sessionFromData(data);
      } catch (err) {
        this.#noteError(err);
        continue;
      }
      if (session.state === "running" && now > data.persistedAt) {
        session.gaps.push({ from: data.persistedAt, to: now, reason: "the agent was not running" });
        session.dirty = true;
      }
      // Nothing is recorded until the restarted Falco captures: the same gap goes on until then.
      session.captured = true;
      session.down = { from: now, reason: "the agent was not running" };
      this.#sessions.set(session.record.id, session);
      this.#log.info(
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
        .filter((d) => d.state === "stopped" && this.#sessions.has(d.session.id))
        .sort((a, b) => a.persistedAt - b.persistedAt)
        .map((d) => d.session.id),
    );
    this.#refreshRunning();
    await this.#exclusive(async () => {
      for (const session of this.#sessions.values()) if (session.dirty) await this.#persist(session);
      await this.#pruneFinished();
    });
    if (this.#running.length > 0) await this.#applyFalco();
  }

  /** Flushes every flushIntervalMs until close(). */
  startFlushing(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#timerFlushing) return;
      this.#timerFlushing = true;
      void (async () => {
        try {
          if (this.#falcoStale) await this.#control(() => this.#applyFalco());
          await this.flush();
        } catch (err) {
          this.#noteError(err);
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
        if (this.#running.length > 0) this.#replanSoon();
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
    await this.#exclusive(async () => {
      for (const session of this.#sessions.values())
        if (this.#needsPersist(session)) await this.#persist(session);
    });
  }

  startSession(record: SessionRecord): Promise<void> {
    return this.#control(async () => {
      // The desired state may already say stopping: converge to it.
      if (record.state !== "running") {
        await this.#stop(record.id);
        return;
      }
      if (this.#sessions.has(record.id)) {
        if (this.#falcoStale) await this.#applyFalco();
        return;
      }
      const valid = assertValid("sessionRecord", record, `start of session ${record.id}`);
      const active = [...this.#sessions.values()].filter((s) => s.state !== "stopped").length;
      const max = this.#deps.maxActiveSessions ?? DEFAULT_MAX_ACTIVE_SESSIONS;
      if (active >= max) {
        throw new SeccomposeError(
          ErrorCodes.SC_SESSION_LIMIT,
          `node ${this.#deps.node} already records ${active} session(s), its maximum (maxActiveSessions); stop one before starting session ${valid.id}`,
        );
      }
      const session = this.#newSession(valid);
      this.#sessions.set(valid.id, session);
      this.#refreshRunning();
      this.#log.info({ session: valid.id, targets: valid.targets }, "session started");
      await this.#exclusive(() => this.#persist(session));
      await this.#applyFalco();
    });
  }

  stopSession(sessionId: string): Promise<{ batches: number }> {
    return this.#control(() => this.#stop(sessionId));
  }

  /**
   * The session's record was deleted: it stops at once, without a last flush or FIN (nobody would
   * take them), and its local record is removed. Batches already handed to the publisher may still
   * go out; the aggregator refuses them as data of a session without a record.
   */
  dropSession(sessionId: string): Promise<void> {
    return this.#control(async () => {
      const session = this.#sessions.get(sessionId);
      if (session === undefined) return;
      const wasRunning = session.state === "running";
      this.#sessions.delete(sessionId);
      const finished = this.#finished.indexOf(sessionId);
      if (finished >= 0) this.#finished.splice(finished, 1);
      this.#refreshRunning();
      // After any flush under way, which may still write the record it has in hand.
      await this.#exclusive(() => removeSessionData(this.#deps.stateDir, sessionId));
      this.#log.info(
        { session: sessionId },
        "session deleted: its local record and unsent data are discarded",
      );
      if (wasRunning) {
        try {
          await this.#applyFalco();
        } catch (err) {
          this.#noteError(err);
        }
      }
    });
  }

  sessionStatus(sessionId?: string): NodeSessionStatus[] {
    const sessions = sessionId === undefined ? [...this.#sessions.values()] : [this.#sessions.get(sessionId)];
    return sessions
      .filter((s): s is Session => s !== undefined)
      .map((s) => ({
        sessionId: s.record.id,
        state: s.state,
        containers: s.tracker.containerCount,
        batchesSent: s.batchesSent,
        eventsSeen: s.eventsSeenBefore + s.tracker.recordedCount,
        droppedEvents: s.droppedEvents,
      }));
  }

  health(): AgentHealth {
    const status = this.#deps.falco.status();
    const falco: AgentHealth["falco"] = { state: status.state, restarts: status.restarts };
    if (status.version !== undefined) falco.version = status.version;
    if (status.pid !== undefined) falco.pid = status.pid;
    if (status.lastExit !== undefined) falco.lastExit = status.lastExit;
    if (status.lastExitLog !== undefined) falco.lastExitLog = status.lastExitLog;
    if (status.capturingSince !== undefined) falco.capturingSince = status.capturingSince;
    if (status.hot !== undefined) falco.hot = status.hot;
    falco.driverSet = {
      ...status.driverSet,
      adaptive: this.#policy === undefined ? "disabled" : this.#policy.state(this.#clock()),
    };
    return {
      node: this.#deps.node,
      arch: this.#deps.arch,
      kernel: this.#deps.kernel,
      agentVersion: this.#deps.agentVersion,
      falco,
      activeSessions: this.#running.map((s) => s.record.id),
      counters: {
        ...this.#counters,
        spoolBytes: this.#deps.publisher.spoolBytes(),
        heldEvents: this.#router.heldEvents,
      },
      recent: { windowSeconds: Math.round(this.#recent.windowMs / 1000), ...this.#bookAlerts().counts() },
      lastErrors: this.#lastErrors.map((e) => ({ ...e })),
    };
  }

  /** One document per workload this node recorded in the session: "recording" while it runs, "complete" once stopped. */
  nodeProfiles(sessionId: string): ProfileDocument[] {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return [];
    const set = session.tracker.observations(this.#deps.node, this.#deps.arch, session.droppedEvents);
    const argSyscalls = session.record.profile.argSyscalls ?? [];
    return [...set.workloads.values()]
      .sort((a, b) => compareWorkloadKeys(a.key, b.key))
      .map((wo) =>
        // Node-local documents are not revisioned; the aggregator numbers the merged ones.
        toProfileDocument(wo, {
          session: sessionId,
          revision: 0,
          status: session.state === "stopped" ? "complete" : "recording",
          argSyscalls,
        }),
      );
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

  /** Books the alerts read since the last call into the recent window (at each flush, and for health). */
  #bookAlerts(): RecentCounts<"alertsRead" | "parseErrors" | "errors"> {
    const read = this.#counters.alertsRead - this.#alertsBooked;
    if (read > 0) this.#recent.add("alertsRead", read);
    this.#alertsBooked = this.#counters.alertsRead;
    return this.#recent;
  }

  /** Counts an alert line that could not be parsed. */
  noteParseError(err: unknown): void {
    this.#counters.parseErrors++;
    this.#recent.add("parseErrors");
    this.#noteError(err, "debug");
  }

  /** Drains every session into batches and publishes them; also ends the hold of events whose pod never appeared. */
  flush(): Promise<void> {
    this.#bookAlerts();
    return this.#exclusive(async () => {
      this.#router.expireHeld(this.#clock());
      for (const session of this.#sessions.values()) {
        if (session.state === "stopped") continue;
        try {
          await this.#flushSession(session);
        } catch (err) {
          this.#noteError(err);
        }
      }
    });
  }

  /** Waits until every alert of a syscall made before the stop arrived; books what cannot be proven. */
  async #awaitFinalAlerts(session: Session): Promise<void> {
    const stopAt = this.#clock();
    if (this.#deps.falco.status().state === "running") {
      if (await this.#deps.falco.barrier(STOP_BARRIER_MS)) return;
      session.gaps.push({
        from: stopAt,
        to: this.#clock(),
        reason: `Falco did not confirm within ${STOP_BARRIER_MS} ms that every alert before the stop was read`,
      });
    }
  }

  async #stop(sessionId: string): Promise<{ batches: number }> {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return { batches: 0 };
    if (session.state === "stopped") return { batches: session.nextSeq - 1 };
    const wasRunning = session.state === "running";
    // While the session still runs, so that the alerts the barrier waits for still reach it.
    if (wasRunning) {
      await this.#awaitFinalAlerts(session);
      closeCaptureGaps(session, this.#clock(), () => {
        const status = this.#deps.falco.status();
        return status.lastExit === undefined ? `state ${status.state}` : status.lastExit;
      });
    }
    session.state = "stopping";
    session.dirty = true;
    this.#refreshRunning();
    await this.#exclusive(async () => {
      await this.#flushSession(session, true);
      const fin: FinMarker = {
        schemaVersion: 1,
        kind: "fin",
        session: sessionId,
        node: this.#deps.node,
        batches: session.nextSeq - 1,
        sentAt: this.#clock(),
        droppedEvents: session.droppedEvents,
      };
      if (session.gaps.length > 0) fin.gaps = finGaps(session.gaps);
      await this.#deps.publisher.publish(fin, recordPartition(session.record));
      session.state = "stopped";
      session.dirty = true;
      await this.#persist(session);
      this.#finished.push(sessionId);
      await this.#pruneFinished();
    });
    this.#log.info({ session: sessionId, batches: session.nextSeq - 1 }, "session stopped");
    if (wasRunning) {
      try {
        await this.#applyFalco();
      } catch (err) {
        // The session's data is complete; Falco is reconfigured on the next flush.
        this.#noteError(err);
      }
    }
    return { batches: session.nextSeq - 1 };
  }

  /**
   * Drains into batches, records them locally, then publishes them; with `everything` (the last
   * flush), queues the stale counts first and repeats until nothing is left.
   */
  async #flushSession(session: Session, everything = false): Promise<void> {
    const maxBatches = this.#deps.maxBatchesPerFlush ?? DEFAULT_MAX_BATCHES_PER_FLUSH;
    // Count updates travel at powers of two while a session runs; its last flush carries exact counts.
    if (everything) session.tracker.queueStaleCounts();
    do {
      const sentAt = this.#clock();
      for (let n = 0; n < maxBatches; n++) {
        const workloads = session.tracker.drain(this.#deps.maxEventsPerBatch);
        if (workloads.length === 0) break;
        session.pending.push({
          schemaVersion: 1,
          kind: "batch",
          session: session.record.id,
          node: this.#deps.node,
          arch: this.#deps.arch,
          seq: session.nextSeq++,
          sentAt,
          droppedEvents: session.droppedEvents,
          workloads,
        });
        session.dirty = true;
      }
      if (this.#needsPersist(session)) await this.#persist(session);
      while (session.pending.length > 0) {
        const batch = session.pending[0]!;
        await this.#deps.publisher.publish(batch, recordPartition(session.record));
        session.pending.shift();
        session.batchesSent++;
        session.dirty = true;
        this.#counters.batchesSent++;
        for (const entry of batch.workloads) this.#counters.eventsSent += entry.syscalls.length;
      }
    } while (everything && session.tracker.pendingCount > 0);
  }

  #onPodsChanged(): void {
    // Which pods are left out of the rule, and which workloads the driver set must cover.
    if (this.#deps.excludeNonTargetPods === true || this.#policy !== undefined) {
      this.#falcoStale = true;
      if (this.#running.length > 0) this.#replanSoon();
    }
    this.#router.podsChanged();
  }

  #refreshRunning(): void {
    this.#running = [...this.#sessions.values()]
      .filter((s) => s.state === "running")
      .sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
    this.#router.setRunning(this.#running);
  }

  async #applyFalco(): Promise<void> {
    this.#falcoStale = true;
    const targets: FalcoTargets = {
      sessions: this.#running.map((s) => s.record),
      excludePodUids: this.#deps.excludeNonTargetPods === true ? this.#nonTargetPods() : [],
      excludeSyscalls: this.#policy === undefined ? [] : this.#decideSyscalls(),
    };
    const before = this.#deps.falco.status().driverSet;
    const lowering = targets.excludeSyscalls!.some((name) => !this.#coverage.leftOut.has(name));
    // Until the swap is over, alerts may come from a Falco with either set.
    this.#coverage.set(new Set([...this.#coverage.leftOut, ...targets.excludeSyscalls!]));
    try {
      await this.#deps.falco.apply(targets);
    } finally {
      const after = this.#deps.falco.status().driverSet;
      this.#coverage.set(new Set(after.excluded));
      if (this.#policy !== undefined && lowering) {
        if (after.swapFailures > before.swapFailures) this.#policy.swapFailed(this.#clock());
        else if (after.swaps > before.swaps) this.#policy.swapSucceeded();
      }
      this.#coverage.closeCovered(this.#running, this.#clock());
    }
    this.#falcoStale = false;
  }

  /** A re-plan as soon as the control chain is free (a new target must not wait for the timer). */
  #replanSoon(): void {
    if (this.#replanQueued) return;
    this.#replanQueued = true;
    void this.#control(async () => {
      this.#replanQueued = false;
      if (this.#running.length > 0) await this.#applyFalco();
    }).catch((err: unknown) => this.#noteError(err));
  }

  /**
   * Pods the agent knows that no running session can target, whatever their containers: the
   * rule leaves them out. Pods it does not know yet stay in, so a new target pod is recorded
   * from its first syscall even before the agent hears of it.
   */
  #nonTargetPods(): string[] {
    const podLevel = this.#running.map((s) => compileTargets({ ...s.record.targets, containers: [] }));
    return this.#deps.pods
      .pods()
      .filter((pod) => !podLevel.some((matches) => matches(pod, "")))
      .map((pod) => pod.uid)
      .sort();
  }

  /** The adaptive set's decision for the current targets (kernel names, sorted). */
  #decideSyscalls(): string[] {
    const now = this.#clock();
    const protectedSyscalls = new Set<string>([
      falcoKernelName(PROBE_SYSCALL),
      ...FALCO_STATE_SYSCALLS,
      ...this.#running.flatMap((s) => [...s.argSpecs.keys()]),
    ]);
    const current = new Set(this.#deps.falco.status().driverSet.excluded);
    const decision = this.#policy!.decide(now, this.#syscallTargets(), current, protectedSyscalls);
    if (decision.change !== "keep") {
      this.#log.info(
        { change: decision.change, reason: decision.reason, leftOut: [...decision.exclude].sort() },
        decision.change === "raise" ? "raising Falco's driver set" : "lowering Falco's driver set",
      );
    }
    return [...decision.exclude].sort();
  }

  /** Every (session, workload container) a running session records among the pods on the node. */
  #syscallTargets(): SyscallTarget[] {
    const targets = new Map<string, SyscallTarget>();
    const none = new Map<string, number>();
    for (const pod of this.#deps.pods.pods()) {
      for (const container of Object.values(pod.containers)) {
        const key = { namespace: pod.namespace, kind: pod.owner.kind, name: pod.owner.name, container };
        const id = workloadId(key);
        for (const session of this.#running) {
          if (!session.matcher(pod, container)) continue;
          const seen = this.#coverage.seenOf(session, true).get(id) ?? none;
          targets.set(`${session.record.id}\n${id}`, { id: `${session.record.id}\n${id}`, seen });
        }
      }
    }
    return [...targets.values()];
  }

  #newSession(record: SessionRecord): Session {
    const argSpecs = new Map<string, readonly ArgConditionSpec[]>();
    for (const name of validateArgSyscalls(record.profile.argSyscalls ?? []))
      argSpecs.set(name, argSpecFor(name)!);
    return {
      record,
      state: "running",
      matcher: compileTargets(record.targets),
      argSpecs,
      tracker: new NoveltyTracker(this.#nonReturning),
      nextSeq: 1,
      batchesSent: 0,
      droppedEvents: 0,
      eventsSeenBefore: 0,
      gaps: [],
      startedAt: this.#clock(),
      captured: this.#deps.falco.status().state === "running",
      down: undefined,
      pending: [],
      persistedRecorded: 0,
      dirty: true,
      uncovered: undefined,
      seen: undefined,
    };
  }

  #sessionFromData(data: SessionData): Session {
    const session = this.#newSession(data.session);
    session.tracker.restore(data.containers);
    Object.assign(session, {
      state: data.state,
      nextSeq: data.nextSeq,
      batchesSent: data.batchesSent,
      droppedEvents: data.droppedEvents,
      eventsSeenBefore: data.eventsSeen,
      gaps: data.gaps.map((g) => ({ ...g })),
      pending: data.pending,
      dirty: false,
    });
    return session;
  }

  /** Forgets the oldest stopped sessions beyond maxFinishedSessions, in memory and on disk. */
  async #pruneFinished(): Promise<void> {
    const max = this.#deps.maxFinishedSessions ?? DEFAULT_MAX_FINISHED_SESSIONS;
    while (this.#finished.length > max) {
      const id = this.#finished.shift()!;
      this.#sessions.delete(id);
      await removeSessionData(this.#deps.stateDir, id);
      this.#log.info({ session: id }, "removed the local record of a finished session");
    }
  }

  #needsPersist(session: Session): boolean {
    return session.dirty || session.tracker.recordedCount !== session.persistedRecorded;
  }

  async #persist(session: Session): Promise<void> {
    const recorded = session.tracker.recordedCount;
    await writeSessionData(
      this.#deps.stateDir,
      {
        version: 1,
        session: session.record,
        state: session.state,
        nextSeq: session.nextSeq,
        batchesSent: session.batchesSent,
        droppedEvents: session.droppedEvents,
        eventsSeen: session.eventsSeenBefore + recorded,
        gaps: session.gaps,
        persistedAt: this.#clock(),
        pending: session.pending,
      },
      session.tracker.snapshotJson(),
    );
    session.persistedRecorded = recorded;
    session.dirty = false;
  }

  #control<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#controlChain.then(operation);
    this.#controlChain = result.catch(() => undefined);
    return result;
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#recordChain.then(operation);
    this.#recordChain = result.catch(() => undefined);
    return result;
  }

  #noteError(err: unknown, level: "warn" | "debug" = "warn"): void {
    const code = err instanceof SeccomposeError ? err.code : ErrorCodes.SC_INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    this.#lastErrors.push({ code, message, at: new Date(this.#clock()).toISOString() });
    if (this.#lastErrors.length > MAX_LAST_ERRORS) this.#lastErrors.shift();
    this.#recent.add("errors");
    this.#log[level]({ code, err: message }, "agent error");
  }
}

function falcoKernelName(event: string): string {
  const known = falcoEventToSyscall(event);
  return known.kind === "syscall" ? known.name : event;
}
