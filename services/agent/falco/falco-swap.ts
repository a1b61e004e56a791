/**
 * A configuration change while Falco captures is a **swap**, not a SIGHUP (which stops capture
 * for 2 to 3 s): a second Falco starts from the other slot's files (falco.yaml / falco-b.yaml)
 * while the first goes on; once a probe came back through the second, the cutover point is the
 * first later probe that both report (probes are repeated: a busy Falco drops some). The old
 * Falco's alerts are passed on up to that probe in its output, the new one's from that probe in
 * its output on, except for a process the new one learnt of only after the probe (at its next
 * execve or clone): its calls count from the old Falco up to the new one's first alert of it
 * (handover.ts). So no syscall is lost or counted twice (to within the kernel's ordering of
 * events on different CPUs in the same microsecond). Then the old one is stopped once it
 * reported its last drops. A successor that does not capture in time or dies is killed and the
 * old Falco goes on;
 * if the change was needed to capture more (a raise), the old one is reloaded with SIGHUP
 * instead, and that gap is booked like any other.
 */
import type { Logger } from "pino";
import { syscallToFalcoEvent } from "../../../lib/falco/event-names.ts";
import type { FalcoStatus, FalcoTargets } from "../ports.ts";
import type { AwaitedConditions } from "./awaited-conditions.ts";
import type { CaptureProbes } from "./capture-probes.ts";
import { CUTOVER_TIMEOUT_MS, commonProbe } from "./common-probe.ts";
import type { FalcoSlot } from "./config-writer.ts";
import { describeExit } from "./falco-log.ts";
import { DROP_ALERT, type FalcoRun } from "./falco-run.ts";
import { handover, unseenProcesses } from "./handover.ts";
import type { RestartBackoff } from "./restart-backoff.ts";

/** How long the old Falco of a swap runs on to report its drops (Falco checks once a second). */
const DEFAULT_DROP_REPORT_MS = 1_500;
const DEFAULT_SWAP_TIMEOUT_MS = 30_000;
const DEFAULT_SWAP_RETRY_MS = [30_000, 120_000, 600_000];
/** Both Falcos' alerts from the cutover probe to one made this much later are compared. */
const VERIFY_MS = 500;

/** What a swap needs of the supervisor. */
export interface SwapHost {
  /** The Falco whose alerts count. */
  running(): FalcoRun | null;
  /** Writes the slot's files for the current targets and starts a Falco on them that discards its lines; null when it cannot start. */
  startSuccessor(slot: FalcoSlot): Promise<FalcoRun | null>;
  /** From now on `run`'s alerts count. */
  cutOver(run: FalcoRun): void;
  /** The successor took over and captures. */
  swapped(): void;
  /** Rewrites the old Falco's files for the current targets and reloads it in place (SIGHUP). */
  reloadInPlace(run: FalcoRun): void;
}

export interface FalcoSwapsOptions {
  host: SwapHost;
  probes: Pick<CaptureProbes, "last" | "next" | "touch" | "stop">;
  conditions: AwaitedConditions;
  /** Told when the old Falco is retired: how long it ran no longer counts. */
  backoff: Pick<RestartBackoff, "ended">;
  /** The Falco executable, named when a successor cannot start. */
  binary: string;
  logger: Pick<Logger, "info" | "warn" | "error">;
  /** A swap failed, with its reason. */
  onFailure?: (reason: string) => void;
  clock: () => number;
  /** How long a successor may take to capture before the swap is given up. */
  swapTimeoutMs?: number;
  /** Waits before the next optional swap after the 1st, 2nd, ... failed one; the last repeats. */
  swapRetryMs?: readonly number[];
  /** How long the old Falco runs on to report its drops. */
  dropReportMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping the old Falco. */
  stopGraceMs: number;
}

export class FalcoSwaps {
  readonly #o: FalcoSwapsOptions;
  /** A swap's successor until the cutover. */
  #incoming: FalcoRun | null = null;
  /** Old Falcos of swaps, reporting their last drops, each with what stops it at once. */
  readonly #retiring = new Map<FalcoRun, () => void>();
  #swaps = 0;
  #swapFailures = 0;
  #consecutiveSwapFailures = 0;
  #lastSwapFailure: string | undefined;
  #lastSwapAt: number | undefined;
  /** Optional swaps (nothing more to capture) wait until then after a failure. */
  #swapRetryAt = 0;

  constructor(options: FalcoSwapsOptions) {
    this.#o = options;
  }

  /** The successor of the swap under way. */
  get incoming(): FalcoRun | null {
    return this.#incoming;
  }

  /** An optional swap waits after a failed one; one that captures more (a raise) cannot. */
  waits(raise: boolean): boolean {
    return !raise && this.#o.clock() < this.#swapRetryAt;
  }

  /** The swap figures of the driver set's status. */
  report(driverSet: FalcoStatus["driverSet"]): void {
    driverSet.swaps = this.#swaps;
    driverSet.swapFailures = this.#swapFailures;
    driverSet.swapping = this.#incoming !== null;
    if (this.#lastSwapFailure !== undefined) driverSet.lastSwapFailure = this.#lastSwapFailure;
    if (this.#lastSwapAt !== undefined) driverSet.lastSwapAt = this.#lastSwapAt;
  }

  /**
   * Replaces the capturing `old` Falco by one started on the other slot, without a gap (see the
   * top of this file). `raise`: the new configuration captures something the old one does not,
   * so a failed swap falls back to reloading the old one.
   */
  async swap(old: FalcoRun, raise: boolean): Promise<void> {
    const { host, logger, clock } = this.#o;
    const slot: FalcoSlot = old.slot === "a" ? "b" : "a";
    const startedAt = clock();
    const incoming = await host.startSuccessor(slot);
    if (incoming === null) {
      this.#failed(old, raise, `cannot start a second Falco (${this.#o.binary})`);
      return;
    }
    this.#incoming = incoming;
    logger.info({ pid: incoming.pid, old: old.pid, raise }, "swapping Falco: successor started");
    const timeoutMs = this.#o.swapTimeoutMs ?? DEFAULT_SWAP_TIMEOUT_MS;
    const gone = () => this.#incoming !== incoming || host.running() !== old;
    const captured = await this.#o.conditions.waitFor(() => incoming.capturing || gone(), timeoutMs);
    if (!captured || gone()) {
      await this.#dropIncoming(incoming);
      if (host.running() === old) {
        this.#failed(
          old,
          raise,
          !captured
            ? `the second Falco did not capture within ${timeoutMs} ms`
            : `the second Falco exited before it captured (${incoming.errors.at(-1) ?? "no error line"})`,
        );
      }
      return;
    }

    // An overloaded Falco drops events, probes too: probes go on until both saw the same one.
    const touched = new Map<number, number>();
    const search = {
      probes: this.#o.probes,
      conditions: this.#o.conditions,
      runs: [old, incoming],
      gone,
      touched,
    };
    const cutover = await commonProbe(search, { cutover: true });
    if (cutover === undefined || gone()) {
      const reason =
        cutover === undefined
          ? `no cutover probe came back through both Falcos within ${CUTOVER_TIMEOUT_MS} ms`
          : "a Falco exited or held too many alerts during the cutover";
      await this.#dropIncoming(incoming);
      if (host.running() === old) this.#failed(old, raise, reason);
      return;
    }
    // The old Falco's lines before that probe are its own; the successor's are not counted.
    const oldBefore = old.marks.get(cutover)!;
    for (const line of old.held.slice(0, oldBefore)) old.forward(line);
    old.rebaseHeld(cutover);
    incoming.rebaseHeld(cutover);

    // Both hold what they saw after the cutover probe: the successor must see the same
    // containers. A Falco knows the processes that were running before it started only from
    // its start-up scan, and the Falco 0.44.1 built for these machines does not get them (its
    // task iterator fails the verifier and the fallback leaves them unknown): their events then
    // match no pod, and a cutover would lose them without a trace.
    // The span ends at a common probe made VERIFY_MS after the cutover probe or later; one made
    // while the cutover probe was awaited may have come back through both already.
    const spanEnd = touched.get(cutover)! + VERIFY_MS;
    const verify = await commonProbe(search, {
      after: cutover,
      eligible: (seq) => (touched.get(seq) ?? -Infinity) >= spanEnd,
    });
    if (verify === undefined || gone()) {
      await this.#dropIncoming(incoming);
      if (host.running() === old)
        this.#failed(old, raise, "a Falco exited or fell behind during the cutover");
      return;
    }
    const oldSpanEnd = old.marks.get(verify)!;
    const newSpanEnd = incoming.marks.get(verify)!;
    // The same span in both: from the cutover probe to the second one.
    const notAskedFor = new Set(incoming.leftOut().map(syscallToFalcoEvent));
    const blind = unseenProcesses(
      old.held.slice(0, oldSpanEnd),
      incoming.held.slice(0, newSpanEnd),
      notAskedFor,
    );
    if (blind.length > 0) {
      await this.#dropIncoming(incoming);
      this.#failed(
        old,
        raise,
        `the second Falco does not attribute processes that ran before it started (${blind.length} seen by the running Falco only, e.g. ${blind[0]})`,
      );
      return;
    }

    // The cutover: from the probe on, the new Falco's alerts count, except those of a process
    // it learnt of only since (at its next execve or clone): up to there, the old one's.
    for (const line of handover(old.held, oldSpanEnd, incoming.held)) incoming.forward(line);
    for (const line of old.held) if (line.includes(DROP_ALERT)) old.forward(line);
    old.handedOver();
    this.#incoming = null;
    host.cutOver(incoming);
    incoming.resumeForwarding();
    this.#o.backoff.ended(old);
    this.#swaps += 1;
    this.#lastSwapAt = clock();
    this.#consecutiveSwapFailures = 0;
    this.#swapRetryAt = 0;
    this.#o.conditions.wake();
    logger.info(
      {
        pid: incoming.pid,
        old: old.pid,
        ms: clock() - startedAt,
        driverSyscalls: incoming.driverSyscalls,
      },
      "swapped Falco without a capture gap",
    );
    this.#retire(old);
    host.swapped();
  }

  /** The successor proved capture. */
  successorCaptures(run: FalcoRun): void {
    run.provedCapture();
    this.#o.probes.stop(run);
    this.#o.logger.info({ pid: run.pid }, "the second Falco captures (probe seen)");
    this.#o.conditions.wake();
  }

  /** The successor exited: the running Falco goes on; the swap sees it gone and gives up. */
  successorExited(run: FalcoRun, code: number | null, signal: NodeJS.Signals | null): void {
    this.#incoming = null;
    this.#o.logger.warn(
      { pid: run.pid, exit: describeExit(code, signal), reason: run.errors.at(-1) },
      "the second Falco of a swap exited",
    );
  }

  /** A Falco held too many lines waiting for the other to see the cutover probe: give the swap up. */
  heldTooMany(run: FalcoRun): void {
    const incoming = this.#incoming;
    const old = this.#o.host.running();
    if (incoming === null || old === null) return;
    this.#o.logger.warn({ pid: run.pid }, "too many alerts held during a Falco cutover");
    // The old Falco's lines are handed on at once, so nothing is lost; the successor goes.
    this.#incoming = null;
    incoming.abandon();
    old.resumeForwarding();
    this.#o.conditions.wake();
  }

  /** Stops the old Falcos still reporting their drops, and waits until they are gone. */
  async stopRetiring(): Promise<void> {
    for (const stop of this.#retiring.values()) stop();
    await Promise.all([...this.#retiring.keys()].map((old) => old.closed));
  }

  /** Gives a swap up: the old Falco goes on, or is reloaded when the change was a raise. */
  #failed(old: FalcoRun, raise: boolean, reason: string): void {
    this.#swapFailures += 1;
    this.#lastSwapFailure = reason;
    const delays = this.#o.swapRetryMs ?? DEFAULT_SWAP_RETRY_MS;
    this.#swapRetryAt = this.#o.clock() + delays[Math.min(this.#consecutiveSwapFailures, delays.length - 1)]!;
    this.#consecutiveSwapFailures += 1;
    // Whatever the old Falco held after its cutover probe is still its own to hand on.
    old.resumeForwarding();
    this.#o.logger.error({ pid: old.pid, raise, reason }, "Falco swap failed; the running Falco goes on");
    this.#o.onFailure?.(`Falco swap failed: ${reason}`);
    // Capturing more cannot wait: reload in place, a gap booked like any reload.
    if (raise) this.#o.host.reloadInPlace(old);
  }

  async #dropIncoming(incoming: FalcoRun): Promise<void> {
    if (this.#incoming === incoming) this.#incoming = null;
    incoming.abandon();
    await incoming.closed;
    this.#o.conditions.wake();
  }

  /**
   * Stops the old Falco of a swap once it reported its drops up to the cutover: Falco checks
   * for drops once a second, so those of the second before the cutover come after it.
   */
  #retire(old: FalcoRun): void {
    const reportMs = this.#o.dropReportMs ?? DEFAULT_DROP_REPORT_MS;
    const stop = () => {
      clearTimeout(drained);
      old.child.kill("SIGTERM");
    };
    const drained = setTimeout(stop, reportMs);
    const killer = setTimeout(() => old.child.kill("SIGKILL"), reportMs + this.#o.stopGraceMs);
    this.#retiring.set(old, stop);
    void old.closed.then(() => {
      clearTimeout(drained);
      clearTimeout(killer);
      this.#retiring.delete(old);
    });
  }
}

/**
 * Whether `next` captures something `current` does not: a syscall or a pod it no longer leaves
 * out, or other sessions' namespaces (when the rule is narrowed to them). Such a change cannot
 * wait for a retry after a failed swap.
 */
export function widens(current: FalcoTargets, next: FalcoTargets, previous: FalcoTargets): boolean {
  const nextSyscalls = new Set(next.excludeSyscalls ?? []);
  if ((current.excludeSyscalls ?? []).some((name) => !nextSyscalls.has(name))) return true;
  const nextPods = new Set(next.excludePodUids ?? []);
  if ((current.excludePodUids ?? []).some((uid) => !nextPods.has(uid))) return true;
  const namespaces = (targets: FalcoTargets) =>
    JSON.stringify(targets.sessions.map((s) => s.targets.namespaces ?? null).sort());
  return namespaces(next) !== namespaces(previous);
}
