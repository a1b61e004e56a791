/**
 * The windows in which the Falco whose alerts count captures: from the probe that proved it to
 * its exit, reload or stop. Listeners (the sessions, which book the gaps) hear of each change.
 */
import type { Logger } from "pino";
import type { CaptureChange } from "../ports.ts";

export class CaptureWindows {
  readonly #listeners: Array<(change: CaptureChange) => void> = [];
  readonly #logger: Pick<Logger, "error">;
  #since: number | undefined;

  constructor(logger: Pick<Logger, "error">) {
    this.#logger = logger;
  }

  /** When the current window opened; undefined while nothing captures. */
  get since(): number | undefined {
    return this.#since;
  }

  listen(listener: (change: CaptureChange) => void): void {
    this.#listeners.push(listener);
  }

  /** A window opened at `at`; the listeners are told with `tell`, once the state says so too. */
  open(at: number): void {
    this.#since = at;
  }

  close(at: number, reason: string): void {
    this.#since = undefined;
    this.tell({ capturing: false, at, reason });
  }

  tell(change: CaptureChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.error({ err }, "capture listener failed");
      }
    }
  }
}
