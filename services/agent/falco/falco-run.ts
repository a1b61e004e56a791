/**
 * One Falco process and what its output tells. Each stdout line is an alert, handed on, held or
 * dropped by the run's part in a swap (its line mode), or Falco's rule statistics; the agent's
 * capture probes are found in the stream as it arrives (probe-scanner.ts). Stderr is Falco's
 * log: the run keeps its last lines and error lines, the driver set Falco reports, and notes
 * when Falco opened its event source. What needs the supervisor's view goes to `RunEvents`.
 */
import type { ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import { falcoEventToSyscall } from "../../../lib/falco/event-names.ts";
import type { FalcoTargets } from "../ports.ts";
import type { FalcoSlot } from "./config-writer.ts";
import { cleanLogLine, isErrorLine, isRuleStatistics } from "./falco-log.ts";
import { LineSplitter } from "./line-splitter.ts";
import { attributeUnknownThread, type ThreadOriginLookup } from "./pod-threads.ts";
import { ProbeScanner } from "./probe-scanner.ts";

const STDERR_TAIL_LINES = 50;
const MAX_LINE_BYTES = 16 * 1024 * 1024;
const CODE_OPEN_BRACE = 123;
const CODE_0 = 48;
const CODE_9 = 57;
const HOT_RESTART_FAILURE = "Falco internal: hot restart failure";
const QUEUE_FULL = "Outputs queue out of memory";
export const DROP_ALERT = "syscall event drop";
/** Lines held per Falco between its cutover probe and the other's; more gives the swap up. */
export const MAX_CUTOVER_LINES = 500_000;
/** Falco's debug line with its final driver set, and its info line with what repair added. */
const SELECTED_LINE = /\((\d+)\) syscalls selected in total/;
const REPAIRED_LINE = /\+\(\d+\) repaired syscalls: (.*)$/;

/**
 * What happens to a Falco's alert lines: `forward` to onLine; `discard` (a successor before the
 * cutover probe); `hold` (either Falco after the cutover probe, until the other one saw it too);
 * `drops` (the old Falco after a cutover: only its drop alerts are passed on).
 */
export type LineMode = "forward" | "discard" | "hold" | "drops";

/** What a run's output tells the supervisor. */
export interface RunEvents {
  /** Falco logged that it opened its event source: its signal handlers exist by then. */
  opened(run: FalcoRun): void;
  /** A probe came back through this Falco; a run that holds has marked it already. */
  probeReturned(run: FalcoRun, seq: number): void;
  /** Falco's alert that a hot restart failed, seen while the run reloads. */
  reloadFailed(run: FalcoRun, line: string): void;
  /** The run holds more than MAX_CUTOVER_LINES lines. */
  heldTooMany(run: FalcoRun): void;
  /** The process ended and its output is drained; the run's `closed` resolves right after. */
  closed(run: FalcoRun, code: number | null, signal: NodeJS.Signals | null): void;
  /** After `closed` resolved: what awaits it is woken before what is woken from here. */
  afterClosed(run: FalcoRun): void;
}

export interface FalcoRunOptions {
  child: ChildProcess;
  pid: number;
  slot: FalcoSlot;
  targets: FalcoTargets;
  signature: string;
  mode: LineMode;
  /** The tag in the names of the agent's probe files. */
  probeTag: string;
  threadOrigins: ThreadOriginLookup;
  /** Where alert lines are handed on. */
  onLine: (line: string) => void;
  logger: Pick<Logger, "debug" | "warn" | "error">;
  events: RunEvents;
}

/** One Falco process. */
export class FalcoRun {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly slot: FalcoSlot;
  /** What it was started (or last reloaded) with, and the rendering that identifies it. */
  targets: FalcoTargets;
  signature: string;
  /** From this probe on its lines are held, during a swap. */
  cutoverSeq: number | undefined = undefined;
  passedCutover = false;
  /** Each probe seen while holding, and how many lines it held by then. */
  readonly marks = new Map<number, number>();
  /** From Falco's log: its final driver set size and the syscalls its repair added back. */
  driverSyscalls: number | undefined = undefined;
  repaired: string[] = [];
  readonly closed: Promise<void>;
  /** Falco's last stderr lines without the kernel verifier's log, which can run to thousands. */
  readonly stderrTail: string[] = [];
  /** Falco opened its event source since its last (re)start, so its signal handlers exist. */
  opened = false;
  /** SIGHUP sent; cleared when the restarted Falco opens its source or reports a failure. */
  reloading = false;
  /** A reload requested while Falco could not take a SIGHUP yet. */
  reloadPending = false;
  /** We asked it to stop; its exit is not a failure. */
  stopping = false;
  /** A probe came back since Falco last opened its source. */
  capturing = false;
  #mode: LineMode;
  #held: string[] = [];
  /**
   * Error lines since Falco last proved capture. A healthy Falco 0.44.1 logs a dozen at start
   * (an iterator program the verifier rejects, TOCTOU tracepoints missing, each "ignored" or
   * "will continue to work"), so those of a start that did capture name no cause.
   */
  #errors: string[] = [];
  readonly #probeTag: string;
  readonly #threadOrigins: ThreadOriginLookup;
  readonly #onLine: (line: string) => void;
  readonly #logger: FalcoRunOptions["logger"];
  readonly #events: RunEvents;

  constructor(options: FalcoRunOptions) {
    const { child, pid, logger } = options;
    this.child = child;
    this.pid = pid;
    this.slot = options.slot;
    this.targets = options.targets;
    this.signature = options.signature;
    this.#mode = options.mode;
    this.#probeTag = options.probeTag;
    this.#threadOrigins = options.threadOrigins;
    this.#onLine = options.onLine;
    this.#logger = logger;
    this.#events = options.events;
    let markClosed: () => void = () => undefined;
    this.closed = new Promise<void>((resolve) => (markClosed = resolve));
    const stdout = new LineSplitter(
      (line) => this.#stdoutLine(line),
      MAX_LINE_BYTES,
      (bytes) => logger.error({ pid, bytes }, "Falco wrote an overlong line to stdout; dropped"),
    );
    const stderr = new LineSplitter(
      (line) => this.#stderrLine(line),
      MAX_LINE_BYTES,
      (bytes) => logger.warn({ pid, bytes }, "Falco wrote an overlong line to stderr; dropped"),
    );
    const probes = new ProbeScanner(Buffer.from(this.#probeTag), stdout, (seq) => this.#probeReturned(seq));
    child.stdout?.on("data", (chunk: Buffer) => probes.push(chunk));
    child.stdout?.on("end", () => stdout.end());
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stderr?.on("end", () => stderr.end());
    child.on("error", (err) => logger.error({ pid, err }, "Falco process error"));
    child.on("close", (code, signal) => {
      this.#events.closed(this, code, signal);
      markClosed();
      this.#events.afterClosed(this);
    });
  }

  get mode(): LineMode {
    return this.#mode;
  }

  /** Its lines held during a swap (mode `hold`). */
  get held(): readonly string[] {
    return this.#held;
  }

  get errors(): readonly string[] {
    return this.#errors;
  }

  /** A probe came back: it captures, and the error lines of its start name no cause. */
  provedCapture(): void {
    this.capturing = true;
    this.#errors = [];
  }

  /**
   * The old Falco of a swap after the cutover: what it held was settled, it passes on only its
   * drop alerts, its capture no longer counts (its exit ends no capture window), and it is
   * being stopped.
   */
  handedOver(): void {
    this.#held = [];
    this.#mode = "drops";
    this.capturing = false;
    this.stopping = true;
  }

  /** Hands a line to the alert consumer, whose failure is its own. */
  forward(line: string): void {
    try {
      this.#onLine(line);
    } catch (err) {
      this.#logger.error({ err }, "alert consumer failed on a Falco line");
    }
  }

  /**
   * Ends the run's part in a swap: what it held is handed on and it forwards again. All of its
   * cutover state goes, `passedCutover` too: a successor that kept it would, as the old Falco of
   * the next swap, never start holding at that swap's cutover probe, and its alerts from there
   * on would be handed on as well as the new one's.
   */
  resumeForwarding(): void {
    this.cutoverSeq = undefined;
    this.passedCutover = false;
    this.marks.clear();
    this.#mode = "forward";
    const held = this.#held;
    this.#held = [];
    for (const line of held) this.forward(line);
  }

  /** Drops the held lines before probe `seq` and counts the later probes' marks from there. */
  rebaseHeld(seq: number): void {
    const offset = this.marks.get(seq)!;
    this.#held = this.#held.slice(offset);
    for (const [mark, at] of this.marks) {
      if (mark < seq) this.marks.delete(mark);
      else this.marks.set(mark, at - offset);
    }
  }

  /** Kills a swap's successor that is given up: nothing it captured or held ever counts. */
  abandon(): void {
    // Its capture never counted: its exit ends no capture window.
    this.capturing = false;
    this.stopping = true;
    this.#mode = "discard";
    this.#held = [];
    this.marks.clear();
    this.child.kill("SIGKILL");
  }

  /** The syscalls it was asked to leave out that Falco's repair did not add back. */
  leftOut(): string[] {
    const repaired = new Set(this.repaired);
    return (this.targets.excludeSyscalls ?? []).filter((name) => !repaired.has(name));
  }

  #stdoutLine(raw: string): void {
    // Probe alerts were handled as they arrived (ProbeScanner); they are not alerts.
    if (raw.includes(this.#probeTag)) return;
    const line = attributeUnknownThread(raw, this.#threadOrigins);
    const first = line.charCodeAt(0);
    // Alerts start with `{` (JSON) or a digit (the time of text alerts); the rest is Falco's
    // rule statistics, printed at exit and at every hot restart.
    if (first !== CODE_OPEN_BRACE && (first < CODE_0 || first > CODE_9) && isRuleStatistics(line)) {
      this.#logger.debug({ pid: this.pid, line }, "Falco rule statistics");
      return;
    }
    if (this.reloading && line.includes(HOT_RESTART_FAILURE)) this.#events.reloadFailed(this, line);
    switch (this.#mode) {
      case "forward":
        this.forward(line);
        return;
      case "discard":
        return;
      case "drops":
        if (line.includes(DROP_ALERT)) this.forward(line);
        return;
      case "hold":
        this.#held.push(line);
        if (this.#held.length > MAX_CUTOVER_LINES) this.#events.heldTooMany(this);
    }
  }

  #stderrLine(line: string): void {
    const cleaned = cleanLogLine(line);
    if (cleaned !== undefined) {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      if (isErrorLine(cleaned)) {
        this.#errors.push(cleaned);
        if (this.#errors.length > STDERR_TAIL_LINES) this.#errors.shift();
      }
    }
    this.#logger.debug({ pid: this.pid, falco: line }, "Falco log");
    const selected = SELECTED_LINE.exec(line);
    if (selected) this.driverSyscalls = Number(selected[1]);
    const repaired = REPAIRED_LINE.exec(line);
    if (repaired) this.repaired = repaired[1]!.split(",").flatMap((name) => kernelName(name.trim()));
    if (line.includes(QUEUE_FULL)) {
      this.#logger.error(
        { pid: this.pid },
        "Falco's output queue is full: it drops alerts the agent reads too slowly",
      );
    } else if (!this.opened && line.includes("Opening '") && line.includes("' source")) {
      this.opened = true;
      this.reloading = false;
      this.#events.opened(this);
    }
  }

  #probeReturned(seq: number): void {
    if (!Number.isSafeInteger(seq)) return;
    if (this.cutoverSeq !== undefined && !this.passedCutover && seq >= this.cutoverSeq) {
      this.passedCutover = true;
      this.#mode = "hold";
    }
    if (this.#mode === "hold") this.marks.set(seq, this.#held.length);
    this.#events.probeReturned(this, seq);
  }
}

function kernelName(event: string): string[] {
  const known = falcoEventToSyscall(event);
  return known.kind === "syscall" && event !== "" ? [known.name] : [];
}
