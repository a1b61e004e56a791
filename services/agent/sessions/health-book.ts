/**
 * What the agent's health tells beyond its sessions: counters since boot, the same over a recent
 * window (so an old error does not make a healthy agent look unhealthy), the last errors, and
 * Falco's state as the health reply carries it.
 */
import type { Logger } from "pino";
import type { AgentHealth } from "../../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import type { FalcoStatus } from "../ports.ts";
import { RecentCounts } from "./recent-counts.ts";

const MAX_LAST_ERRORS = 20;

/** Counts since boot. */
export interface HealthCounters {
  alertsRead: number;
  parseErrors: number;
  eventsSent: number;
  batchesSent: number;
  falcoDrops: number;
  unattributedEvents: number;
}

/** Who reports: the node and what runs on it. */
export interface HealthIdentity {
  node: string;
  arch: string;
  kernel: string;
  agentVersion: string;
}

/** What the health reply takes from the rest of the agent at the moment it is asked for. */
export interface HealthMoment {
  falco: FalcoStatus;
  adaptive: NonNullable<AgentHealth["falco"]["driverSet"]>["adaptive"];
  activeSessions: string[];
  spoolBytes: number;
  heldEvents: number;
}

export class HealthBook {
  /**
   * Counted into directly, not through methods: alertsRead is counted once per alert, on the
   * agent's hottest path.
   */
  readonly counters: HealthCounters = {
    alertsRead: 0,
    parseErrors: 0,
    eventsSent: 0,
    batchesSent: 0,
    falcoDrops: 0,
    unattributedEvents: 0,
  };
  readonly #identity: HealthIdentity;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #lastErrors: AgentHealth["lastErrors"] = [];
  readonly #recent: RecentCounts<"alertsRead" | "parseErrors" | "errors">;
  /** alertsRead already booked into #recent: alerts are booked in bulk, keeping the per-alert path free of clock reads. */
  #alertsBooked = 0;

  constructor(identity: HealthIdentity, windowMs: number, clock: () => number, logger: Logger) {
    this.#identity = identity;
    this.#clock = clock;
    this.#log = logger;
    this.#recent = new RecentCounts(["alertsRead", "parseErrors", "errors"], windowMs, clock);
  }

  /** Books the alerts read since the last call into the recent window (at each flush, and for health). */
  bookAlerts(): void {
    const read = this.counters.alertsRead - this.#alertsBooked;
    if (read > 0) this.#recent.add("alertsRead", read);
    this.#alertsBooked = this.counters.alertsRead;
  }

  /** Counts an alert line that could not be parsed. */
  noteParseError(err: unknown): void {
    this.counters.parseErrors++;
    this.#recent.add("parseErrors");
    this.noteError(err, "debug");
  }

  /** Keeps the error among the last ones, with its stable code, and logs it. */
  noteError(err: unknown, level: "warn" | "debug" = "warn"): void {
    const code = err instanceof SeccomposeError ? err.code : ErrorCodes.SC_INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    this.#lastErrors.push({ code, message, at: new Date(this.#clock()).toISOString() });
    if (this.#lastErrors.length > MAX_LAST_ERRORS) this.#lastErrors.shift();
    this.#recent.add("errors");
    this.#log[level]({ code, err: message }, "agent error");
  }

  report(moment: HealthMoment): AgentHealth {
    const status = moment.falco;
    const falco: AgentHealth["falco"] = { state: status.state, restarts: status.restarts };
    if (status.version !== undefined) falco.version = status.version;
    if (status.pid !== undefined) falco.pid = status.pid;
    if (status.lastExit !== undefined) falco.lastExit = status.lastExit;
    if (status.lastExitLog !== undefined) falco.lastExitLog = status.lastExitLog;
    if (status.capturingSince !== undefined) falco.capturingSince = status.capturingSince;
    if (status.hot !== undefined) falco.hot = status.hot;
    falco.driverSet = { ...status.driverSet, adaptive: moment.adaptive };
    this.bookAlerts();
    const { node, arch, kernel, agentVersion } = this.#identity;
    return {
      node,
      arch,
      kernel,
      agentVersion,
      falco,
      activeSessions: moment.activeSessions,
      counters: { ...this.counters, spoolBytes: moment.spoolBytes, heldEvents: moment.heldEvents },
      recent: { windowSeconds: Math.round(this.#recent.windowMs / 1000), ...this.#recent.counts() },
      lastErrors: this.#lastErrors.map((e) => ({ ...e })),
    };
  }
}
