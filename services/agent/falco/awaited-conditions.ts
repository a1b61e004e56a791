/**
 * Conditions the supervisor waits for (a successor captures, a probe came back through both
 * Falcos, a swap ended), re-checked whenever something they wait on happened (`wake`) rather
 * than polled.
 */
export class AwaitedConditions {
  readonly #checks = new Set<() => void>();

  /** Resolves true once `condition` holds, false after `timeoutMs`; re-checked at every wake. */
  waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolveWait) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#checks.delete(check);
        resolveWait(ok);
      };
      const check = () => {
        if (condition()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#checks.add(check);
      check();
    });
  }

  /** Something a condition may wait on happened. */
  wake(): void {
    for (const check of [...this.#checks]) check();
  }
}
