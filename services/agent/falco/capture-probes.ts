/**
 * The agent's capture probes: capture is proven only by a syscall seen through Falco. A probe is
 * a file created and removed in the configuration directory, named with a nonce only this agent
 * knows (so no container can fake one) and a sequence number; the probe rule (config-writer.ts)
 * matches its `openat`, and Falco reports the absolute path the agent opened.
 */
import { randomBytes } from "node:crypto";
import { open, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { Logger } from "pino";
import type { FalcoRun } from "./falco-run.ts";

/** A probe not back by then was dropped, most likely (a busy Falco drops some): the next one follows. */
export const PROBE_REPEAT_MS = 250;

export interface CaptureProbesOptions {
  configDir: string;
  /** Time between probes while a Falco has opened its source but no probe came back. */
  intervalMs: number;
  /** Whether the run is one whose capture the supervisor waits for (the running one or a successor). */
  isWatched: (run: FalcoRun) => boolean;
  logger: Pick<Logger, "warn">;
}

export class CaptureProbes {
  /** `probe-<nonce>-`, which the probes' alerts carry. */
  readonly tag = `probe-${randomBytes(16).toString("hex")}-`;
  /** `<configDir>/probe-<nonce>-`, where the probe rule looks. */
  readonly prefix: string;
  readonly #options: CaptureProbesOptions;
  #seq = 0;
  /** The latest probe that came back through the Falco whose alerts are handed on. */
  #handedOn = 0;
  #waiters: Array<{ seq: number; done: (ok: boolean) => void }> = [];
  /** The probe timer of each run being probed. */
  readonly #timers = new Map<FalcoRun, NodeJS.Timeout>();

  constructor(options: CaptureProbesOptions) {
    this.#options = options;
    this.prefix = `${resolve(options.configDir)}/${this.tag}`;
  }

  /** The number of the last probe made. */
  get last(): number {
    return this.#seq;
  }

  /** The number of the next probe. */
  next(): number {
    return ++this.#seq;
  }

  /** Probes `run` until one comes back, it stops or it is no longer watched. */
  start(run: FalcoRun): void {
    clearInterval(this.#timers.get(run));
    const probe = () => {
      if (run.capturing || run.stopping || !run.opened || !this.#options.isWatched(run)) {
        this.stop(run);
        return;
      }
      void this.touch(this.next());
    };
    const timer = setInterval(probe, this.#options.intervalMs);
    timer.unref();
    this.#timers.set(run, timer);
    probe();
  }

  stop(run: FalcoRun): void {
    clearInterval(this.#timers.get(run));
    this.#timers.delete(run);
  }

  /**
   * Resolves true once a probe made now or later came back through the Falco whose alerts are
   * handed on (so the alerts before it were handed on), false after `timeoutMs`.
   */
  async barrier(timeoutMs: number): Promise<boolean> {
    const seq = this.next();
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolveDone) => {
      this.#waiters.push({ seq, done: resolveDone });
      timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.seq !== seq);
        resolveDone(false);
      }, timeoutMs);
    });
    await this.touch(seq);
    // A later probe proves as much; Falco may drop any one of them.
    const repeat = setInterval(() => void this.touch(this.next()), PROBE_REPEAT_MS);
    const ok = await done;
    clearTimeout(timer);
    clearInterval(repeat);
    return ok;
  }

  /** Probe `seq` came back through the Falco whose alerts are handed on. */
  handedOn(seq: number): void {
    if (seq > this.#handedOn) this.#handedOn = seq;
    const ready = this.#waiters.filter((w) => w.seq <= this.#handedOn);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#handedOn);
    for (const waiter of ready) waiter.done(true);
  }

  /** Creates and removes one probe file: an `openat` that only the probe rule matches. */
  async touch(seq: number): Promise<void> {
    const path = `${this.prefix}${seq}`;
    try {
      await (await open(path, "w")).close();
      await unlink(path);
    } catch (err) {
      this.#options.logger.warn({ path, err }, "cannot write a Falco capture probe");
    }
  }
}
