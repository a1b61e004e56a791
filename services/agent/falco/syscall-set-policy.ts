/**
 * The adaptive syscall set: which syscalls the agent stops asking Falco's driver for.
 *
 * Under a heavy stream of cheap syscalls (`dd bs=1`: millions of reads and writes) Falco's one
 * event loop cannot keep up and drops events whatever its rules, and a dropped `execve` or a
 * dropped rare syscall is a hole in a profile (bench/real-falco.bench.ts). A profile needs each
 * distinct syscall of each workload container once, not every call: once every target has shown
 * a syscall, the driver need not deliver it any more.
 *
 * The unit is the (session, workload container) pair, the unit a profile is made of: a new
 * replica of a workload whose profile already has a syscall cannot add anything by making it
 * again, while a new session or a new workload container starts from nothing.
 *
 * Rules, pure and without a clock of their own:
 * - A syscall is left out only when every target has shown it (never one some target has not
 *   shown), it is not protected (the agent's probe syscall, argument syscalls a session records:
 *   each call may carry a new tuple), and it is heavy: at least `minEventsPerSecond` calls per
 *   second over all targets since the last decision. Cheap syscalls cost Falco little, and each
 *   name left out is one more a new workload container could miss before the set is raised again.
 * - Lowering waits until the set of targets has been unchanged for `stableMs`, and after a failed
 *   swap for the next retry delay; after `maxFailures` failures in a row it stops for good.
 * - Raising is never delayed: as soon as some target has not shown a syscall that is left out (a
 *   new session, a new workload container), the set goes back to what every target has shown.
 */

export interface AdaptiveSyscallOptions {
  /** A syscall is left out only at this many calls per second over all targets, or more. */
  minEventsPerSecond: number;
  /** The set of targets must have been unchanged this long before the set is lowered. */
  stableMs: number;
  /** Waits before lowering again after the 1st, 2nd, ... failed swap; the last one repeats. */
  retryAfterMs: readonly number[];
  /** Consecutive failed swaps after which the set is never lowered again (raising still works). */
  maxFailures: number;
  /** How often the set is decided again while sessions run (the agent's timer). */
  evaluateIntervalMs: number;
}

export const DEFAULT_ADAPTIVE_OPTIONS: AdaptiveSyscallOptions = {
  minEventsPerSecond: 5000,
  stableMs: 2000,
  retryAfterMs: [30_000, 120_000, 600_000],
  maxFailures: 3,
  evaluateIntervalMs: 500,
};

/** One (session, workload container) pair a running session records on this node. */
export interface SyscallTarget {
  id: string;
  /** Kernel syscall name → calls seen so far (cumulative). */
  seen: ReadonlyMap<string, number>;
}

export interface SyscallSetDecision {
  /** Kernel names the driver should not be asked for. */
  exclude: ReadonlySet<string>;
  /** `raise`: something left out is not shown by every target; must be applied at once. */
  change: "raise" | "lower" | "keep";
  reason: string;
}

/** `active`: may lower; `backoff`: a swap failed, waits; `off`: stopped after maxFailures. */
export type AdaptiveState = "active" | "backoff" | "off";

export class SyscallSetPolicy {
  readonly #options: AdaptiveSyscallOptions;
  #targetsKey = "";
  #stableSince = 0;
  #lastAt: number | undefined;
  #lastTotals = new Map<string, number>();
  #failures = 0;
  #retryAt = 0;

  constructor(options: AdaptiveSyscallOptions) {
    this.#options = options;
  }

  get failures(): number {
    return this.#failures;
  }

  state(now: number): AdaptiveState {
    if (this.#failures >= this.#options.maxFailures) return "off";
    return now < this.#retryAt ? "backoff" : "active";
  }

  /**
   * What the driver set should leave out now, given what it leaves out (`current`), the targets
   * and the syscalls that must stay in whatever the targets showed.
   */
  decide(
    now: number,
    targets: readonly SyscallTarget[],
    current: ReadonlySet<string>,
    protectedSyscalls: ReadonlySet<string>,
  ): SyscallSetDecision {
    const allowed = shownByAll(targets, protectedSyscalls);
    const totals = totalCounts(targets);
    const previousAt = this.#lastAt;
    const previousTotals = this.#lastTotals;
    this.#lastAt = now;
    this.#lastTotals = totals;
    const key = targets
      .map((t) => t.id)
      .sort()
      .join("\n");
    if (key !== this.#targetsKey) {
      this.#targetsKey = key;
      this.#stableSince = now;
    }

    const missing = [...current].filter((name) => !allowed.has(name));
    if (missing.length > 0) {
      return {
        exclude: new Set([...current].filter((name) => allowed.has(name))),
        change: "raise",
        reason: `a target has not shown ${missing.sort().join(", ")}`,
      };
    }
    const keep = (reason: string): SyscallSetDecision => ({ exclude: current, change: "keep", reason });
    if (this.state(now) !== "active") return keep(`lowering is ${this.state(now)}`);
    if (previousAt === undefined || now <= previousAt) return keep("no rate measured yet");
    if (now - this.#stableSince < this.#options.stableMs) return keep("the targets changed recently");
    const seconds = (now - previousAt) / 1000;
    const heavy = [...allowed].filter((name) => {
      if (current.has(name)) return false;
      const rate = (totals.get(name)! - (previousTotals.get(name) ?? 0)) / seconds;
      return rate >= this.#options.minEventsPerSecond;
    });
    if (heavy.length === 0) return keep("nothing heavy that every target has shown");
    return {
      exclude: new Set([...current, ...heavy]),
      change: "lower",
      reason: `every target has shown ${heavy.sort().join(", ")}, each at ≥ ${this.#options.minEventsPerSecond} calls/s`,
    };
  }

  /** A lowering swap failed: wait before the next, and stop after maxFailures in a row. */
  swapFailed(now: number): void {
    const delays = this.#options.retryAfterMs;
    this.#retryAt = now + (delays[Math.min(this.#failures, delays.length - 1)] ?? 0);
    this.#failures += 1;
  }

  swapSucceeded(): void {
    this.#failures = 0;
    this.#retryAt = 0;
  }
}

/** The syscalls every target has made (count > 0), minus the protected ones; none without targets. */
export function shownByAll(
  targets: readonly SyscallTarget[],
  protectedSyscalls: ReadonlySet<string>,
): Set<string> {
  if (targets.length === 0) return new Set();
  let shown: Set<string> | undefined;
  for (const target of targets) {
    const own = new Set<string>();
    for (const [name, count] of target.seen) {
      if (count > 0 && !protectedSyscalls.has(name) && (shown === undefined || shown.has(name))) {
        own.add(name);
      }
    }
    shown = own;
    if (shown.size === 0) break;
  }
  return shown ?? new Set();
}

/** Calls per syscall over all targets: every name, so a rate never starts from a missing total. */
function totalCounts(targets: readonly SyscallTarget[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const target of targets) {
    for (const [name, count] of target.seen) totals.set(name, (totals.get(name) ?? 0) + count);
  }
  return totals;
}
