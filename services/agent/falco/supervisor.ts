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
 * The command line is `<binary> [extraArgs] -c <configDir>/falco.yaml`. The extra arguments
 * come first so that `binary` can be an interpreter: tests run the stand-in Falco as
 * `process.execPath` with `extraArgs: [".../standin-falco.ts"]`.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { Logger } from "pino";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import type { CaptureChange, FalcoControl, FalcoState, FalcoStatus, FalcoTargets } from "../ports.ts";
import {
  NO_METADATA_FIELDS,
  detectFieldSupport,
  renderFalcoFiles,
  type AlertFormat,
  type FalcoConfigOptions,
  type FalcoFiles,
  type FalcoPlugin,
  type FieldSupport,
} from "./config-writer.ts";
import { LineSplitter } from "./line-splitter.ts";
import { writeFileAtomic } from "../../../lib/atomic-file.ts";

export type SpawnFunction = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

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
  /** Limit for `--version` and `--list`. */
  probeTimeoutMs?: number;
  /** Time between capture probes while Falco has opened its source but no probe came back. */
  captureProbeIntervalMs?: number;
  clock?: () => number;
}

const DEFAULT_STABLE_AFTER_MS = 60_000;
const DEFAULT_STOP_GRACE_MS = 10_000;
const DEFAULT_PROBE_TIMEOUT_MS = 15_000;
const DEFAULT_CAPTURE_PROBE_INTERVAL_MS = 250;
const STDERR_TAIL_LINES = 50;
const MAX_LINE_BYTES = 16 * 1024 * 1024;
const MAX_PROBE_OUTPUT = 8 * 1024 * 1024;
const CODE_OPEN_BRACE = 123;
const CODE_0 = 48;
const CODE_9 = 57;
const HOT_RESTART_FAILURE = "Falco internal: hot restart failure";
const QUEUE_FULL = "Outputs queue out of memory";

/** One Falco process. */
interface FalcoRun {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly closed: Promise<void>;
  /** Falco's last stderr lines without the kernel verifier's log, which can run to thousands. */
  readonly stderrTail: string[];
  /**
   * Error lines since Falco last proved capture. A healthy Falco 0.44.1 logs a dozen at start
   * (an iterator program the verifier rejects, TOCTOU tracepoints missing, each "ignored" or
   * "will continue to work"), so those of a start that did capture name no cause.
   */
  errors: string[];
  /** Falco opened its event source since its last (re)start, so its signal handlers exist. */
  opened: boolean;
  /** SIGHUP sent; cleared when the restarted Falco opens its source or reports a failure. */
  reloading: boolean;
  /** A reload requested while Falco could not take a SIGHUP yet. */
  reloadPending: boolean;
  /** We asked it to stop; its exit is not a failure. */
  stopping: boolean;
  /** A probe came back since Falco last opened its source. */
  capturing: boolean;
  probeTimer: NodeJS.Timeout | undefined;
  stableTimer: NodeJS.Timeout | undefined;
}

export class FalcoSupervisor implements FalcoControl {
  readonly #deps: FalcoSupervisorDeps;
  readonly #spawn: SpawnFunction;
  #state: FalcoState = "stopped";
  #version: string | undefined;
  #restarts = 0;
  #lastExit: string | undefined;
  #lastExitLog: string[] | undefined;
  #capturingSince: number | undefined;
  readonly #captureListeners: Array<(change: CaptureChange) => void> = [];
  readonly #clock: () => number;
  /** `<configDir>/probe-<nonce>-`: only this agent knows the nonce, so no container can fake a probe. */
  readonly #probePrefix: string;
  readonly #probeTag: string;
  readonly #probeTagBytes: Buffer;
  #probeSeq = 0;
  #probeSeen = 0;
  #waiters: Array<{ seq: number; done: (ok: boolean) => void }> = [];
  #sessions: readonly SessionRecord[] = [];
  #fieldSupport: FieldSupport = NO_METADATA_FIELDS;
  #probed = false;
  /** What the files on disk hold. */
  #written: FalcoFiles | null = null;
  #run: FalcoRun | null = null;
  #backoffIndex = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: FalcoSupervisorDeps) {
    if (deps.backoffMs.length === 0) {
      throw new SeccomposeError(
        ErrorCodes.SC_CONFIG_INVALID,
        "Falco restart backoff needs at least one delay",
      );
    }
    this.#deps = deps;
    this.#spawn = deps.spawnImpl ?? spawn;
    this.#clock = deps.clock ?? Date.now;
    this.#probeTag = `probe-${randomBytes(16).toString("hex")}-`;
    this.#probeTagBytes = Buffer.from(this.#probeTag);
    // Falco reports the absolute path the agent opened.
    this.#probePrefix = `${resolve(deps.configDir)}/${this.#probeTag}`;
  }

  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#captureListeners.push(listener);
  }

  async barrier(timeoutMs: number): Promise<boolean> {
    const run = this.#run;
    if (run === null || !run.capturing) return false;
    const seq = ++this.#probeSeq;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolveDone) => {
      this.#waiters.push({ seq, done: resolveDone });
      timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.seq !== seq);
        resolveDone(false);
      }, timeoutMs);
    });
    await this.#touchProbe(seq);
    const ok = await done;
    clearTimeout(timer);
    return ok;
  }

  apply(targets: FalcoTargets): Promise<void> {
    return this.#serialize(() => this.#apply(targets.sessions));
  }

  status(): FalcoStatus {
    const status: FalcoStatus = { state: this.#state, restarts: this.#restarts };
    if (this.#version !== undefined) status.version = this.#version;
    if (this.#run !== null) status.pid = this.#run.pid;
    if (this.#lastExit !== undefined) status.lastExit = this.#lastExit;
    if (this.#lastExitLog !== undefined) status.lastExitLog = [...this.#lastExitLog];
    if (this.#capturingSince !== undefined) status.capturingSince = this.#capturingSince;
    return status;
  }

  stop(): Promise<void> {
    return this.#serialize(async () => {
      this.#sessions = [];
      await this.#shutDown();
    });
  }

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #apply(sessions: readonly SessionRecord[]): Promise<void> {
    this.#sessions = sessions;
    if (sessions.length === 0) {
      await this.#shutDown();
      return;
    }
    let changed: boolean;
    try {
      changed = await this.#writeFiles();
    } catch (err) {
      if (this.#run === null && this.#restartTimer === undefined) this.#setState("failed");
      throw err;
    }
    if (this.#run === null) {
      // A pending restart picks up the new files.
      if (this.#restartTimer === undefined) this.#start();
    } else if (changed) {
      this.#reload(this.#run);
    }
  }

  async #shutDown(): Promise<void> {
    this.#cancelRestart();
    await this.#terminate();
    this.#setState("stopped");
  }

  /** Renders the files for the current sessions and writes those that changed; true if any did. */
  async #writeFiles(): Promise<boolean> {
    if (!this.#probed) {
      // The probes need a falco.yaml (plugins are loaded from it); write one first.
      await this.#writeChanged(this.#render());
      await this.#probe();
      this.#probed = true;
    }
    return this.#writeChanged(this.#render());
  }

  #render(): FalcoFiles {
    const options: FalcoConfigOptions = {
      configDir: this.#deps.configDir,
      alertFormat: this.#deps.alertFormat,
      fieldSupport: this.#fieldSupport,
      probePrefix: this.#probePrefix,
    };
    if (this.#deps.plugins !== undefined) options.plugins = this.#deps.plugins;
    if (this.#deps.webserverPort !== undefined) options.webserverPort = this.#deps.webserverPort;
    if (this.#deps.outputsQueueCapacity !== undefined) {
      options.outputsQueueCapacity = this.#deps.outputsQueueCapacity;
    }
    if (this.#deps.narrowToNamespaces !== undefined)
      options.narrowToNamespaces = this.#deps.narrowToNamespaces;
    return renderFalcoFiles(this.#sessions, options);
  }

  async #writeChanged(files: FalcoFiles): Promise<boolean> {
    const previous = this.#written;
    const rulesChanged = previous?.rules !== files.rules;
    const configChanged = previous?.config !== files.config;
    if (!rulesChanged && !configChanged) return false;
    try {
      await mkdir(this.#deps.configDir, { recursive: true });
      // Rules first: falco.yaml names the rules file.
      if (rulesChanged) await writeFileAtomic(files.rulesPath, files.rules);
      if (configChanged) await writeFileAtomic(files.configPath, files.config);
    } catch (err) {
      // Unknown content on disk: write both next time.
      this.#written = null;
      throw new SeccomposeError(
        ErrorCodes.SC_FILE_WRITE,
        `cannot write the Falco configuration in ${this.#deps.configDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.#written = files;
    return true;
  }

  /** Falco's version and, when plugins are loaded, whether it has container/k8s fields. Failures only lose that knowledge. */
  async #probe(): Promise<void> {
    try {
      this.#version = parseFalcoVersion(await this.#runProbe(["--version"]));
      if (this.#version === undefined) this.#deps.logger.warn("Falco --version printed no version");
    } catch (err) {
      this.#deps.logger.warn({ err: (err as Error).message }, "cannot determine the Falco version");
    }
    if ((this.#deps.plugins ?? []).length === 0) return;
    try {
      this.#fieldSupport = detectFieldSupport(await this.#runProbe(["--list=syscall"]));
      this.#deps.logger.info({ fieldSupport: this.#fieldSupport }, "Falco metadata fields");
    } catch (err) {
      this.#deps.logger.warn(
        { err: (err as Error).message },
        "cannot list Falco's fields; rules will not use container or k8s fields",
      );
    }
  }

  /** Runs `binary [extraArgs] -c <config> <args>` to completion and returns its stdout. */
  #runProbe(args: readonly string[]): Promise<string> {
    const configPath = this.#render().configPath;
    const argv = [...(this.#deps.extraArgs ?? []), "-c", configPath, ...args];
    const timeoutMs = this.#deps.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const child = this.#spawn(this.#deps.binary, argv, {
        stdio: ["ignore", "pipe", "pipe"],
        env: this.#deps.env ?? process.env,
      });
      const stdout: Buffer[] = [];
      let stdoutBytes = 0;
      let stderr = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.stdout?.on("data", (chunk: Buffer) => {
        if (stdoutBytes < MAX_PROBE_OUTPUT) stdout.push(chunk);
        stdoutBytes += chunk.length;
      });
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        if (stderr.length < 4096) stderr += chunk;
      });
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(Buffer.concat(stdout).toString("utf8"));
        else reject(new Error(`${args.join(" ")}: ${describeExit(code, signal)} ${stderr.trim()}`.trim()));
      });
    });
  }

  #start(): void {
    const configPath = this.#render().configPath;
    const argv = [...(this.#deps.extraArgs ?? []), "-c", configPath];
    const child = this.#spawn(this.#deps.binary, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      env: this.#deps.env ?? process.env,
    });
    if (child.pid === undefined) {
      // Nothing to wait for: the binary is missing or not executable, which no retry fixes.
      child.once("error", (err) => {
        this.#lastExit = `cannot start ${this.#deps.binary}: ${err.message}`;
        this.#deps.logger.error({ binary: this.#deps.binary, err: err.message }, "cannot start Falco");
        this.#setState("failed");
        this.#deps.onFailure?.(this.#lastExit);
      });
      return;
    }
    const run = this.#track(child, child.pid);
    this.#run = run;
    this.#deps.logger.info({ pid: run.pid, argv: [this.#deps.binary, ...argv] }, "Falco started");
    this.#setState("starting");
    const stableAfterMs = this.#deps.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    run.stableTimer = setTimeout(() => {
      this.#backoffIndex = 0;
    }, stableAfterMs);
    run.stableTimer.unref();
  }

  #track(child: ChildProcess, pid: number): FalcoRun {
    let markClosed: () => void = () => undefined;
    const run: FalcoRun = {
      child,
      pid,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      stderrTail: [],
      errors: [],
      opened: false,
      reloading: false,
      reloadPending: false,
      stopping: false,
      capturing: false,
      probeTimer: undefined,
      stableTimer: undefined,
    };
    const logger = this.#deps.logger;
    const stdout = new LineSplitter(
      (line) => this.#stdoutLine(run, line),
      MAX_LINE_BYTES,
      (bytes) => logger.error({ pid, bytes }, "Falco wrote an overlong line to stdout; dropped"),
    );
    const stderr = new LineSplitter(
      (line) => this.#stderrLine(run, line),
      MAX_LINE_BYTES,
      (bytes) => logger.warn({ pid, bytes }, "Falco wrote an overlong line to stderr; dropped"),
    );
    let carry: Buffer = Buffer.alloc(0);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      carry = this.#scanForProbe(run, carry, chunk);
    });
    child.stdout?.on("end", () => stdout.end());
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stderr?.on("end", () => stderr.end());
    child.on("error", (err) => logger.error({ pid, err: err.message }, "Falco process error"));
    child.on("close", (code, signal) => {
      this.#closed(run, code, signal);
      markClosed();
    });
    return run;
  }

  /**
   * Finds probe alerts in the raw output, before their line is complete: with buffered output
   * Falco writes the probe's padding in whole buffer blocks and keeps the end of the line
   * (and its newline) until more output comes. Every alert before the probe is complete by
   * then, and the line splitter has handed it on. Returns the bytes to carry into the next
   * chunk, where a tag and its number may continue.
   */
  #scanForProbe(run: FalcoRun, carry: Buffer, chunk: Buffer): Buffer {
    const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    const tag = this.#probeTagBytes;
    let from = 0;
    for (;;) {
      const at = data.indexOf(tag, from);
      if (at === -1) break;
      const digits = at + tag.length;
      let end = digits;
      while (end < data.length && data[end]! >= CODE_0 && data[end]! <= CODE_9) end++;
      // The number may go on in the next chunk.
      if (end === data.length) return data.subarray(at);
      if (end > digits) this.#probeReturned(run, Number(data.toString("latin1", digits, end)));
      from = end;
    }
    return data.subarray(Math.max(from, data.length - tag.length));
  }

  #stdoutLine(run: FalcoRun, line: string): void {
    // Probe alerts were handled as they arrived (scanForProbe); they are not alerts.
    if (line.includes(this.#probeTag)) return;
    const first = line.charCodeAt(0);
    // Alerts start with `{` (JSON) or a digit (the time of text alerts); the rest is Falco's
    // rule statistics, printed at exit and at every hot restart.
    if (first !== CODE_OPEN_BRACE && (first < CODE_0 || first > CODE_9) && isRuleStatistics(line)) {
      this.#deps.logger.debug({ pid: run.pid, line }, "Falco rule statistics");
      return;
    }
    if (run.reloading && line.includes(HOT_RESTART_FAILURE)) this.#reloadFailed(run, line);
    try {
      this.#deps.onLine(line);
    } catch (err) {
      this.#deps.logger.error({ err: (err as Error).message }, "alert consumer failed on a Falco line");
    }
  }

  #stderrLine(run: FalcoRun, line: string): void {
    const cleaned = cleanLogLine(line);
    if (cleaned !== undefined) {
      run.stderrTail.push(line);
      if (run.stderrTail.length > STDERR_TAIL_LINES) run.stderrTail.shift();
      if (ERROR_WORDS.test(cleaned) && !isGenericOrIgnored(cleaned)) {
        run.errors.push(cleaned);
        if (run.errors.length > STDERR_TAIL_LINES) run.errors.shift();
      }
    }
    this.#deps.logger.debug({ pid: run.pid, falco: line }, "Falco log");
    if (line.includes(QUEUE_FULL)) {
      this.#deps.logger.error(
        { pid: run.pid },
        "Falco's output queue is full: it drops alerts the agent reads too slowly",
      );
    } else if (!run.opened && line.includes("Opening '") && line.includes("' source")) {
      this.#opened(run);
    }
  }

  /** Falco opened its event source: it takes signals, and will capture soon (probed). */
  #opened(run: FalcoRun): void {
    run.opened = true;
    run.reloading = false;
    if (this.#run !== run || run.stopping) return;
    if (run.reloadPending) {
      run.reloadPending = false;
      this.#reload(run);
      return;
    }
    this.#startProbing(run);
  }

  /** Probes until one comes back: capture is proven only by a syscall seen through Falco. */
  #startProbing(run: FalcoRun): void {
    clearInterval(run.probeTimer);
    const probe = () => {
      if (run.capturing || run.stopping || !run.opened || this.#run !== run) {
        clearInterval(run.probeTimer);
        return;
      }
      void this.#touchProbe(++this.#probeSeq);
    };
    run.probeTimer = setInterval(
      probe,
      this.#deps.captureProbeIntervalMs ?? DEFAULT_CAPTURE_PROBE_INTERVAL_MS,
    );
    run.probeTimer.unref();
    probe();
  }

  /** Creates and removes one probe file: an `openat` that only the probe rule matches. */
  async #touchProbe(seq: number): Promise<void> {
    const path = `${this.#probePrefix}${seq}`;
    try {
      await (await open(path, "w")).close();
      await unlink(path);
    } catch (err) {
      this.#deps.logger.warn({ path, err: (err as Error).message }, "cannot write a Falco capture probe");
    }
  }

  #probeReturned(run: FalcoRun, seq: number): void {
    if (!Number.isSafeInteger(seq)) return;
    if (seq > this.#probeSeen) this.#probeSeen = seq;
    const ready = this.#waiters.filter((w) => w.seq <= this.#probeSeen);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#probeSeen);
    for (const waiter of ready) waiter.done(true);
    if (run.capturing || !run.opened || run.stopping || this.#run !== run) return;
    run.capturing = true;
    run.errors = [];
    clearInterval(run.probeTimer);
    this.#capturingSince = this.#clock();
    this.#deps.logger.info({ pid: run.pid }, "Falco captures (probe seen)");
    this.#setState("running");
    this.#emitCapture({ capturing: true, at: this.#capturingSince });
  }

  /** Capture of `run` ended (exit, reload, stop). */
  #captureEnded(run: FalcoRun, reason: string): void {
    clearInterval(run.probeTimer);
    if (!run.capturing) return;
    run.capturing = false;
    this.#capturingSince = undefined;
    this.#emitCapture({ capturing: false, at: this.#clock(), reason });
  }

  #emitCapture(change: CaptureChange): void {
    for (const listener of this.#captureListeners) {
      try {
        listener(change);
      } catch (err) {
        this.#deps.logger.error({ err: (err as Error).message }, "capture listener failed");
      }
    }
  }

  #reload(run: FalcoRun): void {
    if (!run.opened) {
      run.reloadPending = true;
      return;
    }
    this.#deps.logger.info({ pid: run.pid }, "reloading Falco (SIGHUP)");
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
      this.#startProbing(run);
    }
  }

  #closed(run: FalcoRun, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(run.stableTimer);
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
    if (this.#sessions.length === 0) {
      this.#setState("stopped");
      return;
    }
    const delays = this.#deps.backoffMs;
    const delay = delays[Math.min(this.#backoffIndex, delays.length - 1)]!;
    this.#backoffIndex += 1;
    this.#setState("backoff");
    this.#restartTimer = setTimeout(() => {
      void this.#serialize(async () => {
        this.#restartTimer = undefined;
        if (this.#sessions.length === 0 || this.#run !== null) return;
        this.#restarts += 1;
        this.#start();
      });
    }, delay);
  }

  #cancelRestart(): void {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  /** SIGTERM, SIGKILL after the grace period, and wait until its output is drained. */
  async #terminate(): Promise<void> {
    const run = this.#run;
    if (run === null) return;
    run.stopping = true;
    run.child.kill("SIGTERM");
    const killer = setTimeout(() => {
      this.#deps.logger.warn({ pid: run.pid }, "Falco ignored SIGTERM; killing it");
      run.child.kill("SIGKILL");
    }, this.#deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    await run.closed;
    clearTimeout(killer);
  }

  #setState(state: FalcoState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#deps.onStateChange?.(this.status());
  }
}

/** The version from `falco --version`: text (`Falco version: 0.44.1`) or JSON (`falco_version`). */
export function parseFalcoVersion(output: string): string | undefined {
  const text = /^Falco version:\s*(\S+)/m.exec(output);
  if (text) return text[1];
  try {
    const json: unknown = JSON.parse(output);
    if (typeof json === "object" && json !== null && "falco_version" in json) {
      const version = json.falco_version;
      if (typeof version === "string" && version !== "") return version;
    }
  } catch {
    // Neither form.
  }
  return undefined;
}

/** Falco's log prefix, `Sun Dec  6 02:40:00 2026: `. */
const LOG_PREFIX = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: /;
const ERROR_WORDS =
  /\b(error|errors|failed|failure|fail|cannot|can't|unable|invalid|denied|not found|no such)\b/i;
/** The kernel verifier's program log that libbpf passes on: instructions, registers, summaries. */
const VERIFIER_NOISE =
  /^(\d+: |\d+: \(|;|R\d|from \d+ to \d+|processed \d+ insns|verification time|stack depth|-- (BEGIN|END) PROG LOAD LOG --|last_idx|regs=|parent didn't have|mark_precise|frame\d|\.\.\.)/;

/**
 * The cause of a Falco failure from its stderr lines: the last line that names an error,
 * skipping the kernel verifier's log (hundreds of instruction lines that end the output when
 * the probe does not load), Falco's generic "forcing termination" wrapper, and problems Falco
 * says it ignores. Undefined when no line names an error (e.g. after SIGKILL).
 */
export function failureCause(stderrLines: readonly string[]): string | undefined {
  return stderrLines
    .map(cleanLogLine)
    .filter(
      (line): line is string => line !== undefined && ERROR_WORDS.test(line) && !isGenericOrIgnored(line),
    )
    .at(-1);
}

/** Falco's own wrapper around every event-source failure: it names no cause. */
const GENERIC_FAILURE = "An error occurred in an event source, forcing termination";
/** Problems Falco reports and carries on from (RLIMIT_MEMLOCK, TOCTOU mitigation tracepoints). */
const IGNORED = /\bignored\b|\bignoring\b|will continue to work/i;

function isGenericOrIgnored(line: string): boolean {
  return line.startsWith(GENERIC_FAILURE) || IGNORED.test(line);
}

/** The line without Falco's time prefix, or undefined for an empty line or the verifier's log. */
function cleanLogLine(line: string): string | undefined {
  const cleaned = line.replace(LOG_PREFIX, "").trim();
  return cleaned === "" || VERIFIER_NOISE.test(cleaned) ? undefined : cleaned;
}

function isRuleStatistics(line: string): boolean {
  return (
    line.startsWith(" ") ||
    line.startsWith("Events detected: ") ||
    line === "Rule counts by severity:" ||
    line === "Triggered rules by rule name:"
  );
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `exit code ${code ?? "unknown"}`;
}
