/**
 * Runs Falco as a child process of the agent and keeps it converged to the running sessions:
 * started when the first session starts, reloaded when its configuration changes, stopped when
 * the last session ends, restarted with backoff when it dies.
 *
 * Facts about Falco 0.44 this relies on (falco sources, `userspace/falco/app/`):
 * - SIGHUP makes Falco check the new configuration in a dry run and then restart in-process
 *   (same pid). While the restart runs, and before Falco installs its handlers at start-up,
 *   SIGHUP has its default action and kills Falco. The supervisor therefore signals only after
 *   Falco logged "Opening '<source>' source ...", which comes after the handlers exist, and
 *   defers a reload requested before that.
 * - A failed dry run leaves the old configuration running and emits the alert
 *   "Falco internal: hot restart failure".
 * - At every exit and every hot restart Falco prints rule statistics to stdout
 *   ("Events detected: N", "Rule counts by severity:", indented counts). They are not alerts
 *   and are not passed on.
 *
 * A configuration change while Falco captures is a swap (falco-swap.ts, common-probe.ts), not a
 * SIGHUP. The other parts: one Falco process and its output (falco-run.ts), the files it runs on
 * (slot-files.ts), its command line and what the installed Falco is (falco-launcher.ts), the
 * proof that it captures (capture-probes.ts) and the windows in which it did (capture-windows.ts),
 * when a dead one is started again (restart-backoff.ts).
 */
import { spawn } from "node:child_process";
import type { Logger } from "pino";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import type { CaptureChange, FalcoControl, FalcoState, FalcoStatus, FalcoTargets } from "../ports.ts";
import type { AlertFormat, FalcoPlugin, FalcoSlot, SyscallPartition } from "./config-writer.ts";
import { AwaitedConditions } from "./awaited-conditions.ts";
import { CaptureProbes } from "./capture-probes.ts";
import { CaptureWindows } from "./capture-windows.ts";
import { FalcoLauncher, type SpawnFunction } from "./falco-launcher.ts";
import { describeExit } from "./falco-log.ts";
import { FalcoRun, type LineMode, type RunEvents } from "./falco-run.ts";
import { FalcoSwaps, widens } from "./falco-swap.ts";
import { RestartBackoff } from "./restart-backoff.ts";
import { SlotFiles } from "./slot-files.ts";

export type { SpawnFunction } from "./falco-launcher.ts";

export type SupervisorLogger = Pick<Logger, "debug" | "info" | "warn" | "error">;

export interface FalcoSupervisorDeps {
  /** The Falco executable (or an interpreter, see `extraArgs`). */
  binary: string;
  /** Arguments placed before `-c <config>` on every command line, probes included. */
  extraArgs?: readonly string[];
  configDir: string;
  alertFormat: AlertFormat;
  /** Delays before the 1st, 2nd, ... restart after Falco died; the last one repeats. */
  backoffMs: readonly number[];
  /** Every line of Falco's stdout (alerts, Falco's internal alerts), in order. */
  onLine: (line: string) => void;
  onStateChange?: (status: FalcoStatus) => void;
  /** Falco died (exit code or signal and its last stderr lines), could not start, or rejected a reload. */
  onFailure?: (reason: string) => void;
  logger: SupervisorLogger;
  spawnImpl?: SpawnFunction;
  /** Falco's environment, e.g. with FALCO_HOSTNAME; the agent's own by default. */
  env?: NodeJS.ProcessEnv;
  plugins?: readonly FalcoPlugin[];
  webserverPort?: number;
  outputsQueueCapacity?: number;
  narrowToNamespaces?: boolean;
  /** After running this long, the next crash starts the backoff from its first delay again. */
  stableAfterMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. */
  stopGraceMs?: number;
  /** How long the old Falco of a swap runs on to report its drops; 1.5 s by default. */
  dropReportMs?: number;
  /** Limit for `--version` and `--list`. */
  probeTimeoutMs?: number;
  /** Time between capture probes while Falco has opened its source but no probe came back. */
  captureProbeIntervalMs?: number;
  /** How long a swap's successor may take to capture before the swap is given up. */
  swapTimeoutMs?: number;
  /** Waits before the next optional swap after the 1st, 2nd, ... failed one; the last repeats. */
  swapRetryMs?: readonly number[];
  clock?: () => number;
  /** The host's /proc, where pod threads are listed and unknown ones attributed; `$HOST_ROOT/proc` by default. */
  procRoot?: string;
  /** The agent's own pod, never in the rule: its reading of Falco's output would feed itself. */
  ownPodUid?: string;
  /** This Falco's share of the syscalls when two split them (split-falco.ts); all of them without. */
  partition?: SyscallPartition;
}

const DEFAULT_STOP_GRACE_MS = 10_000;
const DEFAULT_CAPTURE_PROBE_INTERVAL_MS = 250;

export class FalcoSupervisor implements FalcoControl {
  readonly #deps: FalcoSupervisorDeps;
  readonly #launcher: FalcoLauncher;
  #state: FalcoState = "stopped";
  #version: string | undefined;
  #restarts = 0;
  #lastExit: string | undefined;
  #lastExitLog: string[] | undefined;
  readonly #windows: CaptureWindows;
  readonly #clock: () => number;
  readonly #probes: CaptureProbes;
  #targets: FalcoTargets = { sessions: [] };
  #probed = false;
  /** The Falco whose alerts count (during a swap, until the cutover). */
  #run: FalcoRun | null = null;
  readonly #swaps: FalcoSwaps;
  readonly #conditions = new AwaitedConditions();
  readonly #runEvents: RunEvents;
  readonly #backoff: RestartBackoff;
  /** Applies, stops and restarts, one at a time. */
  readonly #queue = new SerialQueue();
  readonly #stopGraceMs: number;
  readonly #files: SlotFiles;

  constructor(deps: FalcoSupervisorDeps) {
    if (deps.backoffMs.length === 0) {
      throw new SeccomposeError(
        ErrorCodes.SC_CONFIG_INVALID,
        "Falco restart backoff needs at least one delay",
      );
    }
    this.#deps = deps;
    this.#stopGraceMs = deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    this.#launcher = new FalcoLauncher({
      binary: deps.binary,
      extraArgs: deps.extraArgs,
      env: deps.env,
      spawn: deps.spawnImpl ?? spawn,
      probeTimeoutMs: deps.probeTimeoutMs,
      logger: deps.logger,
    });
    this.#windows = new CaptureWindows(deps.logger);
    this.#backoff = new RestartBackoff(deps.backoffMs, deps.stableAfterMs);
    this.#clock = deps.clock ?? Date.now;
    this.#probes = new CaptureProbes({
      configDir: deps.configDir,
      intervalMs: deps.captureProbeIntervalMs ?? DEFAULT_CAPTURE_PROBE_INTERVAL_MS,
      isWatched: (run) => this.#run === run || this.#swaps.incoming === run,
      logger: deps.logger,
    });
    this.#files = new SlotFiles({
      configDir: deps.configDir,
      alertFormat: deps.alertFormat,
      probePrefix: this.#probes.prefix,
      procRoot: deps.procRoot ?? `${(deps.env ?? process.env).HOST_ROOT ?? ""}/proc`,
      plugins: deps.plugins,
      webserverPort: deps.webserverPort,
      outputsQueueCapacity: deps.outputsQueueCapacity,
      narrowToNamespaces: deps.narrowToNamespaces,
      ownPodUid: deps.ownPodUid,
      partition: deps.partition,
    });
    this.#swaps = new FalcoSwaps({
      host: {
        running: () => this.#run,
        startSuccessor: async (slot) => {
          await this.#files.write(slot, this.#targets);
          return this.#spawnRun(slot, "discard");
        },
        cutOver: (run) => (this.#run = run),
        swapped: () => this.#setState("running"),
        reloadInPlace: (run) =>
          void this.#writeSlotFor(run).then(
            () => this.#reload(run),
            (err: unknown) => this.#deps.logger.error({ err }, "cannot write Falco's files"),
          ),
      },
      probes: this.#probes,
      conditions: this.#conditions,
      backoff: this.#backoff,
      binary: deps.binary,
      logger: deps.logger,
      onFailure: (reason) => deps.onFailure?.(reason),
      clock: this.#clock,
      swapTimeoutMs: deps.swapTimeoutMs,
      swapRetryMs: deps.swapRetryMs,
      dropReportMs: deps.dropReportMs,
      stopGraceMs: this.#stopGraceMs,
    });
    this.#runEvents = {
      opened: (run) => this.#opened(run),
      probeReturned: (run, seq) => this.#probeReturned(run, seq),
      reloadFailed: (run, line) => this.#reloadFailed(run, line),
      heldTooMany: (run) => this.#swaps.heldTooMany(run),
      closed: (run, code, signal) => this.#closed(run, code, signal),
      afterClosed: () => this.#conditions.wake(),
    };
  }

  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#windows.listen(listener);
  }

  async barrier(timeoutMs: number): Promise<boolean> {
    // Alerts held for a cutover are not handed on yet: wait for the swap to end.
    if (this.#swaps.incoming !== null)
      await this.#conditions.waitFor(() => this.#swaps.incoming === null, timeoutMs);
    const run = this.#run;
    if (run === null || !run.capturing || run.mode !== "forward") return false;
    return this.#probes.barrier(timeoutMs);
  }

  apply(targets: FalcoTargets): Promise<void> {
    return this.#queue.run(() => this.#apply(targets));
  }

  status(): FalcoStatus {
    const status: FalcoStatus = {
      state: this.#state,
      restarts: this.#restarts,
      // The swap figures are filled in below, in this order of keys.
      driverSet: { excluded: [], swaps: 0, swapFailures: 0, swapping: false },
    };
    if (this.#version !== undefined) status.version = this.#version;
    const run = this.#run;
    if (run !== null) {
      status.pid = run.pid;
      status.driverSet.excluded = run.leftOut().sort();
      if (run.driverSyscalls !== undefined) status.driverSet.syscalls = run.driverSyscalls;
    }
    this.#swaps.report(status.driverSet);
    if (this.#lastExit !== undefined) status.lastExit = this.#lastExit;
    if (this.#lastExitLog !== undefined) status.lastExitLog = [...this.#lastExitLog];
    if (this.#windows.since !== undefined) status.capturingSince = this.#windows.since;
    return status;
  }

  stop(): Promise<void> {
    return this.#queue.run(async () => {
      this.#targets = { sessions: [] };
      await this.#shutDown();
    });
  }

  async #apply(targets: FalcoTargets): Promise<void> {
    const previous = this.#targets;
    this.#targets = targets;
    if (targets.sessions.length === 0) {
      await this.#shutDown();
      return;
    }
    let signature: string;
    try {
      if (!this.#probed) {
        // The probes need a falco.yaml (plugins are loaded from it); write one first.
        await this.#files.write("a", this.#targets);
        await this.#probe();
        this.#probed = true;
      }
      signature = this.#files.signature(this.#targets);
    } catch (err) {
      if (this.#run === null && !this.#backoff.pending) this.#setState("failed");
      throw err;
    }
    const run = this.#run;
    if (run === null) {
      // A pending restart picks up the new files.
      await this.#files.write("a", this.#targets);
      if (!this.#backoff.pending) this.#start("a");
      return;
    }
    if (signature === run.signature) return;
    if (!run.capturing) {
      // Nothing captured yet, so nothing to lose: start again on the new files.
      await this.#terminate();
      await this.#files.write(run.slot, this.#targets);
      this.#start(run.slot);
      return;
    }
    const raise = widens(run.targets, targets, previous);
    if (this.#swaps.waits(raise)) {
      this.#deps.logger.debug("an optional Falco swap waits after a failed one");
      return;
    }
    await this.#swaps.swap(run, raise);
  }

  async #shutDown(): Promise<void> {
    this.#backoff.cancel();
    await this.#terminate();
    this.#setState("stopped");
  }

  async #writeSlotFor(run: FalcoRun): Promise<void> {
    await this.#files.write(run.slot, this.#targets);
    run.targets = this.#targets;
    run.signature = this.#files.signature(this.#targets);
  }

  /** What the installed Falco is: its version and, when plugins are loaded, its fields. */
  async #probe(): Promise<void> {
    const configPath = this.#files.render("a", this.#targets).configPath;
    this.#version = await this.#launcher.version(configPath);
    if ((this.#deps.plugins ?? []).length === 0) return;
    const fieldSupport = await this.#launcher.fieldSupport(configPath);
    if (fieldSupport !== undefined) this.#files.fieldSupport = fieldSupport;
  }

  /** Starts the Falco whose alerts count, on the slot's files (written already). */
  #start(slot: FalcoSlot): void {
    const run = this.#spawnRun(slot, "forward");
    if (run === null) return;
    this.#run = run;
    this.#setState("starting");
    this.#backoff.started(run);
  }

  /** Spawns a Falco on the slot's files; null when the binary cannot be started at all. */
  #spawnRun(slot: FalcoSlot, mode: LineMode): FalcoRun | null {
    const configPath = this.#files.render(slot, this.#targets).configPath;
    const started = this.#launcher.start(configPath, (reason) => {
      if (mode !== "forward") return;
      this.#lastExit = reason;
      this.#setState("failed");
      this.#deps.onFailure?.(reason);
    });
    if (started === null) return null;
    return new FalcoRun({
      ...started,
      slot,
      targets: this.#targets,
      signature: this.#files.signature(this.#targets),
      mode,
      probeTag: this.#probes.tag,
      threadOrigins: this.#files.threadOrigins,
      onLine: this.#deps.onLine,
      logger: this.#deps.logger,
      events: this.#runEvents,
    });
  }

  /** Falco opened its event source: it takes signals, and will capture soon (probed). */
  #opened(run: FalcoRun): void {
    if (run.stopping) return;
    if (run === this.#swaps.incoming) {
      this.#probes.start(run);
      return;
    }
    if (this.#run !== run) return;
    if (run.reloadPending) {
      run.reloadPending = false;
      this.#reload(run);
      return;
    }
    this.#probes.start(run);
  }

  #probeReturned(run: FalcoRun, seq: number): void {
    if (run.mode === "hold") this.#conditions.wake();
    // Only the Falco whose alerts are handed on can prove that those before a probe were.
    if (run === this.#run && run.mode === "forward") {
      this.#probes.handedOn(seq);
    }
    if (run.capturing || !run.opened || run.stopping) return;
    if (run === this.#swaps.incoming) {
      this.#swaps.successorCaptures(run);
      return;
    }
    if (this.#run !== run) return;
    run.provedCapture();
    this.#probes.stop(run);
    const at = this.#clock();
    this.#windows.open(at);
    this.#deps.logger.info({ pid: run.pid }, "Falco captures (probe seen)");
    this.#setState("running");
    this.#windows.tell({ capturing: true, at });
  }

  /** Capture of `run` ended (exit, reload, stop). */
  #captureEnded(run: FalcoRun, reason: string): void {
    this.#probes.stop(run);
    if (!run.capturing) return;
    run.capturing = false;
    this.#windows.close(this.#clock(), reason);
  }

  #reload(run: FalcoRun): void {
    if (!run.opened) {
      run.reloadPending = true;
      return;
    }
    this.#deps.logger.info({ event: "falco.reloading", pid: run.pid }, "reloading Falco (SIGHUP)");
    // Falco restarts in-process: it captures nothing until it opened its source again.
    this.#captureEnded(run, "Falco reloaded its configuration (in-process restart)");
    run.opened = false;
    run.reloading = true;
    run.child.kill("SIGHUP");
    this.#setState("starting");
  }

  #reloadFailed(run: FalcoRun, line: string): void {
    // Falco keeps running with the configuration it had.
    run.reloading = false;
    run.opened = true;
    const reason = `Falco rejected the new configuration: ${line}`;
    this.#deps.logger.error({ pid: run.pid, alert: line }, "Falco rejected the new configuration");
    this.#deps.onFailure?.(reason);
    if (run.reloadPending) {
      run.reloadPending = false;
      this.#reload(run);
    } else if (this.#run === run && !run.stopping) {
      this.#probes.start(run);
    }
  }

  #closed(run: FalcoRun, code: number | null, signal: NodeJS.Signals | null): void {
    this.#backoff.ended(run);
    if (this.#swaps.incoming === run) {
      this.#swaps.successorExited(run, code, signal);
      return;
    }
    if (this.#run === run) this.#run = null;
    if (run.stopping) {
      this.#captureEnded(run, "Falco was stopped");
      this.#deps.logger.info({ pid: run.pid, exit: describeExit(code, signal) }, "Falco stopped");
      return;
    }
    const cause = run.errors.at(-1);
    this.#lastExit =
      cause === undefined ? describeExit(code, signal) : `${describeExit(code, signal)}: ${cause}`;
    this.#lastExitLog = [...run.stderrTail];
    this.#captureEnded(run, `Falco exited (${this.#lastExit})`);
    this.#deps.logger.error(
      { pid: run.pid, exit: describeExit(code, signal), reason: cause, stderr: run.stderrTail.join("\n") },
      "Falco exited",
    );
    this.#deps.onFailure?.(this.#lastExit);
    if (this.#targets.sessions.length === 0) {
      this.#setState("stopped");
      return;
    }
    this.#setState("backoff");
    this.#backoff.schedule(() => {
      void this.#queue.run(async () => {
        this.#backoff.restarting();
        if (this.#targets.sessions.length === 0 || this.#run !== null) return;
        this.#restarts += 1;
        // Rewritten for the pod threads running now, which the restarted Falco may not know.
        try {
          await this.#files.write("a", this.#targets);
        } catch (err) {
          this.#deps.logger.warn({ err }, "Falco restarts on its previous configuration");
        }
        this.#start("a");
      });
    });
  }

  /** SIGTERM, SIGKILL after the grace period, and wait until its output is drained. */
  async #terminate(): Promise<void> {
    await this.#swaps.stopRetiring();
    const run = this.#run;
    if (run === null) return;
    run.stopping = true;
    run.child.kill("SIGTERM");
    const killer = setTimeout(() => {
      this.#deps.logger.warn({ pid: run.pid }, "Falco ignored SIGTERM; killing it");
      run.child.kill("SIGKILL");
    }, this.#stopGraceMs);
    await run.closed;
    clearTimeout(killer);
  }

  #setState(state: FalcoState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#deps.onStateChange?.(this.status());
  }
}
