/**
 * The primary Falco: the one whose alerts count (during a swap, until the cutover). Starting it,
 * proving that it captures, reloading it in place (SIGHUP, only once it opened its source: see
 * supervisor.ts for why), booking its exit and starting it again with backoff, stopping it; and the
 * state the supervisor reports. What the supervisor decides (which configuration, when to swap)
 * stays there; a successor that a swap starts is spawned here but driven by falco-swap.ts.
 */
import type { Logger } from "pino";
import type { FalcoState, FalcoTargets } from "../ports.ts";
import type { AwaitedConditions } from "./awaited-conditions.ts";
import type { CaptureProbes } from "./capture-probes.ts";
import type { CaptureWindows } from "./capture-windows.ts";
import type { FalcoSlot } from "./config-writer.ts";
import type { FalcoLauncher } from "./falco-launcher.ts";
import { describeExit } from "./falco-log.ts";
import { FalcoRun, type LineMode, type RunEvents } from "./falco-run.ts";
import type { FalcoSwaps } from "./falco-swap.ts";
import type { RestartBackoff } from "./restart-backoff.ts";
import type { SlotFiles } from "./slot-files.ts";

export interface PrimaryFalcoDeps {
  launcher: FalcoLauncher;
  files: SlotFiles;
  probes: CaptureProbes;
  windows: CaptureWindows;
  backoff: RestartBackoff;
  conditions: AwaitedConditions;
  /** The swap under way, if any: its successor's events are the swap's to handle. */
  swaps: Pick<
    FalcoSwaps,
    "incoming" | "successorCaptures" | "successorExited" | "heldTooMany" | "stopRetiring"
  >;
  /** The targets Falco is to record now. */
  targets: () => FalcoTargets;
  /** Runs a restart after the ones queued before it (the supervisor's applies and stops). */
  enqueue: (task: () => Promise<void>) => void;
  onLine: (line: string) => void;
  onFailure?: (reason: string) => void;
  /** The state changed: the supervisor reports its status. */
  stateChanged: () => void;
  clock: () => number;
  stopGraceMs: number;
  logger: Pick<Logger, "debug" | "info" | "warn" | "error">;
}

export class PrimaryFalco {
  readonly #d: PrimaryFalcoDeps;
  readonly #events: RunEvents;
  #run: FalcoRun | null = null;
  #state: FalcoState = "stopped";
  #restarts = 0;
  #lastExit: string | undefined;
  #lastExitLog: string[] | undefined;

  constructor(deps: PrimaryFalcoDeps) {
    this.#d = deps;
    this.#events = {
      opened: (run) => this.#opened(run),
      probeReturned: (run, seq) => this.#probeReturned(run, seq),
      reloadFailed: (run, line) => this.#reloadFailed(run, line),
      heldTooMany: (run) => this.#d.swaps.heldTooMany(run),
      closed: (run, code, signal) => this.#closed(run, code, signal),
      afterClosed: () => this.#d.conditions.wake(),
    };
  }

  get run(): FalcoRun | null {
    return this.#run;
  }

  get state(): FalcoState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Why the last Falco ended, and the last lines of its stderr. */
  get lastExit(): string | undefined {
    return this.#lastExit;
  }

  get lastExitLog(): readonly string[] | undefined {
    return this.#lastExitLog;
  }

  /** A swap's successor became the primary Falco at the cutover. */
  cutOver(run: FalcoRun): void {
    this.#run = run;
  }

  setState(state: FalcoState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#d.stateChanged();
  }

  /** Starts the primary Falco on the slot's files (written already). */
  start(slot: FalcoSlot): void {
    const run = this.spawn(slot, "forward");
    if (run === null) return;
    this.#run = run;
    this.setState("starting");
    this.#d.backoff.started(run);
  }

  /** Spawns a Falco on the slot's files; null when the binary cannot be started at all. */
  spawn(slot: FalcoSlot, mode: LineMode): FalcoRun | null {
    const { files } = this.#d;
    const targets = this.#d.targets();
    const started = this.#d.launcher.start(files.render(slot, targets).configPath, (reason) => {
      if (mode !== "forward") return;
      this.#lastExit = reason;
      this.setState("failed");
      this.#d.onFailure?.(reason);
    });
    if (started === null) return null;
    return new FalcoRun({
      ...started,
      slot,
      targets,
      signature: files.signature(targets),
      mode,
      probeTag: this.#d.probes.tag,
      threadOrigins: files.threadOrigins,
      onLine: this.#d.onLine,
      logger: this.#d.logger,
      events: this.#events,
    });
  }

  /** Reloads `run` in place with SIGHUP, or once it opened its source. */
  reload(run: FalcoRun): void {
    if (!run.opened) {
      run.reloadPending = true;
      return;
    }
    this.#d.logger.info({ event: "falco.reloading", pid: run.pid }, "reloading Falco (SIGHUP)");
    // Falco restarts in-process: it captures nothing until it opened its source again.
    this.#captureEnded(run, "Falco reloaded its configuration (in-process restart)");
    run.opened = false;
    run.reloading = true;
    run.child.kill("SIGHUP");
    this.setState("starting");
  }

  /** SIGTERM, SIGKILL after the grace period, and wait until its output is drained. */
  async terminate(): Promise<void> {
    await this.#d.swaps.stopRetiring();
    const run = this.#run;
    if (run === null) return;
    run.stopping = true;
    run.child.kill("SIGTERM");
    const killer = setTimeout(() => {
      this.#d.logger.warn({ pid: run.pid }, "Falco ignored SIGTERM; killing it");
      run.child.kill("SIGKILL");
    }, this.#d.stopGraceMs);
    await run.closed;
    clearTimeout(killer);
  }

  /** Falco opened its event source: it takes signals, and will capture soon (probed). */
  #opened(run: FalcoRun): void {
    if (run.stopping) return;
    if (run === this.#d.swaps.incoming) {
      this.#d.probes.start(run);
      return;
    }
    if (this.#run !== run) return;
    if (run.reloadPending) {
      run.reloadPending = false;
      this.reload(run);
      return;
    }
    this.#d.probes.start(run);
  }

  #probeReturned(run: FalcoRun, seq: number): void {
    const { probes, swaps } = this.#d;
    if (run.mode === "hold") this.#d.conditions.wake();
    // Only the Falco whose alerts are handed on can prove that those before a probe were.
    if (run === this.#run && run.mode === "forward") {
      probes.handedOn(seq);
    }
    if (run.capturing || !run.opened || run.stopping) return;
    if (run === swaps.incoming) {
      swaps.successorCaptures(run);
      return;
    }
    if (this.#run !== run) return;
    run.provedCapture();
    probes.stop(run);
    const at = this.#d.clock();
    this.#d.windows.open(at);
    this.#d.logger.info({ pid: run.pid }, "Falco captures (probe seen)");
    this.setState("running");
    this.#d.windows.tell({ capturing: true, at });
  }

  /** Capture of `run` ended (exit, reload, stop). */
  #captureEnded(run: FalcoRun, reason: string): void {
    this.#d.probes.stop(run);
    if (!run.capturing) return;
    run.capturing = false;
    this.#d.windows.close(this.#d.clock(), reason);
  }

  #reloadFailed(run: FalcoRun, line: string): void {
    // Falco keeps running with the configuration it had.
    run.reloading = false;
    run.opened = true;
    const reason = `Falco rejected the new configuration: ${line}`;
    this.#d.logger.error({ pid: run.pid, alert: line }, "Falco rejected the new configuration");
    this.#d.onFailure?.(reason);
    if (run.reloadPending) {
      run.reloadPending = false;
      this.reload(run);
    } else if (this.#run === run && !run.stopping) {
      this.#d.probes.start(run);
    }
  }

  #closed(run: FalcoRun, code: number | null, signal: NodeJS.Signals | null): void {
    const { backoff, swaps, logger } = this.#d;
    backoff.ended(run);
    if (swaps.incoming === run) {
      swaps.successorExited(run, code, signal);
      return;
    }
    if (this.#run === run) this.#run = null;
    if (run.stopping) {
      this.#captureEnded(run, "Falco was stopped");
      logger.info({ pid: run.pid, exit: describeExit(code, signal) }, "Falco stopped");
      return;
    }
    const cause = run.errors.at(-1);
    this.#lastExit =
      cause === undefined ? describeExit(code, signal) : `${describeExit(code, signal)}: ${cause}`;
    this.#lastExitLog = [...run.stderrTail];
    this.#captureEnded(run, `Falco exited (${this.#lastExit})`);
    logger.error(
      { pid: run.pid, exit: describeExit(code, signal), reason: cause, stderr: run.stderrTail.join("\n") },
      "Falco exited",
    );
    this.#d.onFailure?.(this.#lastExit);
    if (this.#d.targets().sessions.length === 0) {
      this.setState("stopped");
      return;
    }
    this.setState("backoff");
    backoff.schedule(() => this.#d.enqueue(() => this.#restart()));
  }

  async #restart(): Promise<void> {
    this.#d.backoff.restarting();
    if (this.#d.targets().sessions.length === 0 || this.#run !== null) return;
    this.#restarts += 1;
    // Rewritten for the pod threads running now, which the restarted Falco may not know.
    try {
      await this.#d.files.write("a", this.#d.targets());
    } catch (err) {
      this.#d.logger.warn({ err }, "Falco restarts on its previous configuration");
    }
    this.start("a");
  }
}
