/**
 * A Falco child process that a test drives by hand, for the agent's Falco supervision tests that
 * need exact control over Falco's output, signals and exit (the stand-in Falco, a real process,
 * covers the rest). Every signal is recorded; SIGKILL, and SIGTERM unless it is ignored, end it.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";

/** Falco's log line once it opened its event source (it takes signals from then on). */
export const FALCO_OPENED_LINE = "Thu Nov 27 16:30:20 2026: Opening 'syscall' source with modern BPF probe.";

export class FakeFalcoProcess extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: NodeJS.Signals[] = [];
  readonly pid: number | undefined;
  ignoreSigterm = false;
  #exited = false;

  constructor(pid?: number) {
    super();
    this.pid = pid;
  }

  /** This process as the ChildProcess the code under test expects. */
  get child(): ChildProcess {
    return this as unknown as ChildProcess;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    this.signals.push(signal);
    if (signal === "SIGKILL" || (signal === "SIGTERM" && !this.ignoreSigterm)) {
      setImmediate(() => this.exit(null, signal));
    }
    return true;
  }

  /** Falco logs that it opened its event source. */
  opened(): void {
    this.stderr.write(`${FALCO_OPENED_LINE}\n`);
  }

  /** Ends its output (with `lastError` as Falco's last error line) and exits. */
  exit(code: number | null, signal: NodeJS.Signals | null = null, lastError?: string): void {
    if (this.#exited) return;
    this.#exited = true;
    this.stderr.end(lastError === undefined ? undefined : `Thu Nov 27 16:30:21 2026: Error: ${lastError}\n`);
    this.stdout.end();
    // As Node emits "close": once both streams ended.
    setImmediate(() => this.emit("close", code, signal));
  }
}
