/**
 * The hot-syscall split (`falco.hotSyscalls`): two Falcos side by side, one asked only for the
 * cheap syscalls a workload can make millions of times a second (read, write, futex, ...), the
 * other for every other syscall. Falco's single event loop is what drops events under load
 * (bench/real-falco.bench.ts: 86% of a `dd bs=1` stream), and it drops them whatever their kind,
 * so a flood of reads also costs the rare syscalls and execs a profile is made of. Split, the
 * flood reaches only the hot Falco's driver: the other one never receives it and keeps up.
 *
 * The two rules match disjoint event types (config-writer.ts), so every alert comes from one
 * Falco and the intake needs no deduplication. To the agent the pair is one Falco: it captures
 * only while both do (a window in which either does not is a gap), a barrier passes only when
 * both passed it, a swap of either counts.
 */
import { syscallNumber } from "../../../lib/syscalls/tables.ts";
import type { CaptureChange, FalcoControl, FalcoState, FalcoStatus, FalcoTargets } from "../ports.ts";

/**
 * Syscalls (kernel names) made in tight loops by I/O-, network- and lock-heavy code, which every
 * workload makes early anyway. Leaving a syscall out of this list keeps it from the hot Falco's
 * drops; putting one in keeps its floods from the other Falco.
 */
const DEFAULT_HOT_SYSCALLS: readonly string[] = [
  "epoll_pwait",
  "epoll_wait",
  "futex",
  "lseek",
  "poll",
  "ppoll",
  "pread64",
  "pwrite64",
  "read",
  "readv",
  "recvfrom",
  "recvmsg",
  "select",
  "sendmsg",
  "sendto",
  "write",
  "writev",
];

/**
 * The default hot syscalls that exist on a node architecture (`SCMP_ARCH_*`): arm64 has no
 * `select`, `poll` or `epoll_wait` (its C library calls `pselect6`, `ppoll`, `epoll_pwait`), and a
 * name Falco does not know on the node only earns a warning, so the list is cut to the node's.
 */
export function defaultHotSyscalls(scmpArch: string): string[] {
  return DEFAULT_HOT_SYSCALLS.filter((name) => syscallNumber(scmpArch, name) !== undefined);
}

export interface SplitFalcoParts {
  /** The Falco of every syscall but the hot ones. */
  rest: FalcoControl;
  /** The Falco of the hot syscalls only. */
  hot: FalcoControl;
  /** The hot syscalls, kernel names. */
  hotSyscalls: readonly string[];
}

type Part = "rest" | "hot";

const STATE_RANK: Record<FalcoState, number> = { running: 0, stopped: 1, starting: 2, backoff: 3, failed: 4 };

export class SplitFalco implements FalcoControl {
  readonly #rest: FalcoControl;
  readonly #hot: FalcoControl;
  readonly #hotSyscalls: ReadonlySet<string>;
  readonly #capturing: Record<Part, boolean> = { rest: false, hot: false };
  readonly #listeners: Array<(change: CaptureChange) => void> = [];

  constructor(parts: SplitFalcoParts) {
    this.#rest = parts.rest;
    this.#hot = parts.hot;
    this.#hotSyscalls = new Set(parts.hotSyscalls);
    this.#rest.onCaptureChange((change) => this.#changed("rest", change));
    this.#hot.onCaptureChange((change) => this.#changed("hot", change));
  }

  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#listeners.push(listener);
  }

  async apply(targets: FalcoTargets): Promise<void> {
    await settleBoth(this.#rest.apply(targets), this.#hot.apply(targets));
  }

  async stop(): Promise<void> {
    await settleBoth(this.#rest.stop(), this.#hot.stop());
  }

  async barrier(timeoutMs: number): Promise<boolean> {
    const passed = await Promise.all([this.#rest.barrier(timeoutMs), this.#hot.barrier(timeoutMs)]);
    return passed.every(Boolean);
  }

  status(): FalcoStatus {
    const rest = this.#rest.status();
    const hot = this.#hot.status();
    const state = worse(rest.state, hot.state);
    const status: FalcoStatus = {
      state,
      restarts: rest.restarts + hot.restarts,
      driverSet: {
        // A syscall is left out when the Falco whose share it is leaves it out.
        excluded: [
          ...rest.driverSet.excluded.filter((name) => !this.#hotSyscalls.has(name)),
          ...hot.driverSet.excluded.filter((name) => this.#hotSyscalls.has(name)),
        ].sort(),
        swaps: rest.driverSet.swaps + hot.driverSet.swaps,
        swapFailures: rest.driverSet.swapFailures + hot.driverSet.swapFailures,
        swapping: rest.driverSet.swapping || hot.driverSet.swapping,
      },
      hot: {
        state: hot.state,
        restarts: hot.restarts,
        syscalls: [...this.#hotSyscalls].sort(),
      },
    };
    if (rest.version !== undefined) status.version = rest.version;
    if (rest.pid !== undefined) status.pid = rest.pid;
    if (hot.pid !== undefined) status.hot!.pid = hot.pid;
    if (rest.driverSet.syscalls !== undefined) status.driverSet.syscalls = rest.driverSet.syscalls;
    if (hot.driverSet.syscalls !== undefined) status.hot!.driverSyscalls = hot.driverSet.syscalls;
    // The failure to show is the one that makes the pair not capture, the hot Falco's if only it fails.
    const hotFailing = STATE_RANK[hot.state] > STATE_RANK[rest.state] || rest.lastExit === undefined;
    const exit = hotFailing && hot.lastExit !== undefined ? hot : rest;
    if (exit.lastExit !== undefined) {
      status.lastExit = exit === hot ? `the hot-syscall Falco: ${exit.lastExit}` : exit.lastExit;
      if (exit.lastExitLog !== undefined) status.lastExitLog = exit.lastExitLog;
    }
    if (state === "running" && rest.capturingSince !== undefined && hot.capturingSince !== undefined) {
      status.capturingSince = Math.max(rest.capturingSince, hot.capturingSince);
    }
    const failure = hot.driverSet.lastSwapFailure ?? rest.driverSet.lastSwapFailure;
    if (failure !== undefined) status.driverSet.lastSwapFailure = failure;
    const swapAt = Math.max(rest.driverSet.lastSwapAt ?? -1, hot.driverSet.lastSwapAt ?? -1);
    if (swapAt >= 0) status.driverSet.lastSwapAt = swapAt;
    return status;
  }

  /** The pair captures from the moment the second one does until the first one stops. */
  #changed(part: Part, change: CaptureChange): void {
    const before = this.#capturing.rest && this.#capturing.hot;
    this.#capturing[part] = change.capturing;
    const both = this.#capturing.rest && this.#capturing.hot;
    if (both === before) return;
    const combined: CaptureChange = { capturing: both, at: change.at };
    if (!both) {
      const reason = change.reason ?? "capture ended";
      combined.reason = part === "hot" ? `the hot-syscall Falco: ${reason}` : reason;
    }
    for (const listener of this.#listeners) listener(combined);
  }
}

/** The worse of two states: the pair is only as healthy as its less healthy Falco. */
function worse(a: FalcoState, b: FalcoState): FalcoState {
  if (a === b) return a;
  const state = STATE_RANK[a] >= STATE_RANK[b] ? a : b;
  // One running and one stopped: the pair is on its way up or down, not capturing.
  return state === "stopped" ? "starting" : state;
}

/** Waits for both, so neither is left half done, then fails with the first failure. */
async function settleBoth(first: Promise<void>, second: Promise<void>): Promise<void> {
  const results = await Promise.allSettled([first, second]);
  for (const result of results) if (result.status === "rejected") throw result.reason;
}
