/**
 * When a Falco that died is started again: after the next of the backoff delays (the last one
 * repeats), from the first delay again once a Falco ran long enough to count as stable.
 */
import type { FalcoRun } from "./falco-run.ts";

const DEFAULT_STABLE_AFTER_MS = 60_000;

export class RestartBackoff {
  readonly #delays: readonly number[];
  readonly #stableAfterMs: number;
  #index = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Each started Falco's stable timer, until it ends. */
  readonly #stable = new Map<FalcoRun, NodeJS.Timeout>();

  /** `delays` has at least one. */
  constructor(delays: readonly number[], stableAfterMs = DEFAULT_STABLE_AFTER_MS) {
    this.#delays = delays;
    this.#stableAfterMs = stableAfterMs;
  }

  /** A restart waits for its delay (or for its turn after it). */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** A Falco started: once it ran for the stable time, the next crash starts from the first delay. */
  started(run: FalcoRun): void {
    const timer = setTimeout(() => {
      this.#index = 0;
    }, this.#stableAfterMs);
    timer.unref();
    this.#stable.set(run, timer);
  }

  /** `run` exited or a swap retired it: how long it ran no longer counts. */
  ended(run: FalcoRun): void {
    clearTimeout(this.#stable.get(run));
    this.#stable.delete(run);
  }

  /** Calls `restart` after the next delay. */
  schedule(restart: () => void): void {
    const delay = this.#delays[Math.min(this.#index, this.#delays.length - 1)]!;
    this.#index += 1;
    this.#timer = setTimeout(restart, delay);
  }

  /** The pending restart is called off. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The restart's delay is over and it is being done: none is pending any more. */
  restarting(): void {
    this.#timer = undefined;
  }
}
