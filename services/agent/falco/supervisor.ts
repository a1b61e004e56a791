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
 * SIGHUP. The supervisor decides what Falco runs and when to swap; the other parts: the Falco whose
 * alerts count, started, reloaded, restarted and stopped (primary-falco.ts), one Falco process and
 * its output (falco-run.ts), the files it runs on
 * (slot-files.ts), its command line and what the installed Falco is (falco-launcher.ts), the
 * proof that it captures (capture-probes.ts) and the windows in which it did (capture-windows.ts),
 * when a dead one is started again (restart-backoff.ts).
 */
import { spawn } from "node:child_process";
import type { Logger } from "pino";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import type { CaptureChange, FalcoControl, FalcoStatus, FalcoTargets } from "../ports.ts";
import type { AlertFormat, FalcoPlugin, SyscallPartition } from "./config-writer.ts";
import { AwaitedConditions } from "./awaited-conditions.ts";
import { CaptureProbes } from "./capture-probes.ts";
import { CaptureWindows } from "./capture-windows.ts";
import { FalcoLauncher, type SpawnFunction } from "./falco-launcher.ts";
import type { FalcoRun } from "./falco-run.ts";
import { FalcoSwaps, widens } from "./falco-swap.ts";
import { PrimaryFalco } from "./primary-falco.ts";
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
  #version: string | undefined;
  readonly #windows: CaptureWindows;
  readonly #probes: CaptureProbes;
  #targets: FalcoTargets = { sessions: [] };
  #probed = false;
  readonly #primary: PrimaryFalco;
  readonly #swaps: FalcoSwaps;
  readonly #conditions = new AwaitedConditions();
  readonly #backoff: RestartBackoff;
  /** Applies, stops and restarts, one at a time. */
  readonly #queue = new SerialQueue();
  readonly #files: SlotFiles;

  constructor(deps: FalcoSupervisorDeps) {
    if (deps.backoffMs.length === 0) {
      throw new SeccomposeError(
        ErrorCodes.SC_CONFIG_INVALID,
        "Falco restart backoff needs at least one delay",
      );
    }
    this.#deps = deps;
    const stopGraceMs = deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    const clock = deps.clock ?? Date.now;
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
    this.#probes = new CaptureProbes({
      configDir: deps.configDir,
      intervalMs: deps.captureProbeIntervalMs ?? DEFAULT_CAPTURE_PROBE_INTERVAL_MS,
      isWatched: (run) => this.#primary.run === run || this.#swaps.incoming === run,
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
        running: () => this.#primary.run,
        startSuccessor: async (slot) => {
          await this.#files.write(slot, this.#targets);
          return this.#primary.spawn(slot, "discard");
        },
        cutOver: (run) => this.#primary.cutOver(run),
        swapped: () => this.#primary.setState("running"),
        reloadInPlace: (run) =>
          void this.#writeSlotFor(run).then(
            () => this.#primary.reload(run),
            (err: unknown) => this.#deps.logger.error({ err }, "cannot write Falco's files"),
          ),
      },
      probes: this.#probes,
      conditions: this.#conditions,
      backoff: this.#backoff,
      binary: deps.binary,
      logger: deps.logger,
      onFailure: (reason) => deps.onFailure?.(reason),
      clock,
      swapTimeoutMs: deps.swapTimeoutMs,
      swapRetryMs: deps.swapRetryMs,
      dropReportMs: deps.dropReportMs,
      stopGraceMs,
    });
    this.#primary = new PrimaryFalco({
      launcher: this.#launcher,
      files: this.#files,
      probes: this.#probes,
      windows: this.#windows,
      backoff: this.#backoff,
      conditions: this.#conditions,
      swaps: this.#swaps,
      targets: () => this.#targets,
      enqueue: (task) => void this.#queue.run(task),
      onLine: deps.onLine,
      onFailure: (reason) => deps.onFailure?.(reason),
      stateChanged: () => deps.onStateChange?.(this.status()),
      clock,
      stopGraceMs,
      logger: deps.logger,
    });
  }

  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#windows.listen(listener);
  }

  async barrier(timeoutMs: number): Promise<boolean> {
    // Alerts held for a cutover are not handed on yet: wait for the swap to end.
    if (this.#swaps.incoming !== null)
      await this.#conditions.waitFor(() => this.#swaps.incoming === null, timeoutMs);
    const run = this.#primary.run;
    if (run === null || !run.capturing || run.mode !== "forward") return false;
    return this.#probes.barrier(timeoutMs);
  }

  apply(targets: FalcoTargets): Promise<void> {
    return this.#queue.run(() => this.#apply(targets));
  }

  status(): FalcoStatus {
    const primary = this.#primary;
    const status: FalcoStatus = {
      state: primary.state,
      restarts: primary.restarts,
      // The swap figures are filled in below, in this order of keys.
      driverSet: { excluded: [], swaps: 0, swapFailures: 0, swapping: false },
    };
    if (this.#version !== undefined) status.version = this.#version;
    const run = primary.run;
    if (run !== null) {
      status.pid = run.pid;
      status.driverSet.excluded = run.leftOut().sort();
      if (run.driverSyscalls !== undefined) status.driverSet.syscalls = run.driverSyscalls;
    }
    this.#swaps.report(status.driverSet);
    if (primary.lastExit !== undefined) status.lastExit = primary.lastExit;
    if (primary.lastExitLog !== undefined) status.lastExitLog = [...primary.lastExitLog];
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
      if (this.#primary.run === null && !this.#backoff.pending) this.#primary.setState("failed");
      throw err;
    }
    const run = this.#primary.run;
    if (run === null) {
      // A pending restart picks up the new files.
      await this.#files.write("a", this.#targets);
      if (!this.#backoff.pending) this.#primary.start("a");
      return;
    }
    if (signature === run.signature) return;
    if (!run.capturing) {
      // Nothing captured yet, so nothing to lose: start again on the new files.
      await this.#primary.terminate();
      await this.#files.write(run.slot, this.#targets);
      this.#primary.start(run.slot);
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
    await this.#primary.terminate();
    this.#primary.setState("stopped");
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
}
