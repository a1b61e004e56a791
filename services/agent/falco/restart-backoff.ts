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
    run.stableTimer = setTimeout(() => {
      this.#index = 0;
    }, this.#stableAfterMs);
    run.stableTimer.unref();
  }

  /** Calls `restart` after the next delay. */
  schedule(restart: () => void): void {
    const delay = this.#delays[Math.min(this.#index, this.#delays.length - 1)]!;
    this.#index += 1;
    this.#timer = setTimeout(restart, delay);
  }

  /** No restart pending any more: it was called off, or it is being done. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
